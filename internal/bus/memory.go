package bus

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"switchboard/internal/apperr"
)

// QueueLimit is how many undelivered events one subscription of a Memory bus
// holds. When a subscriber falls that far behind, further events for it are
// dropped (and counted by Memory.Dropped) until it catches up: Publish never
// blocks on a slow subscriber, and a stuck one costs bounded memory.
const QueueLimit = 1 << 16

// ErrClosed is returned by Publish and Subscribe after Close. errors.Is
// matches it on its code, "bus_closed".
var ErrClosed = apperr.New(apperr.KindUnavailable, "bus_closed", "the event bus is closed")

// Memory is the in-process Bus. It delivers to the subscribers of this
// process only.
//
// Guarantees, beyond those of Bus:
//   - Publish never blocks: it appends the event to each subscription's
//     queue and returns. It costs one short critical section per subscriber.
//   - Each subscription has its own goroutine, which calls fn for the queued
//     events in the order they were enqueued. Events published by one
//     goroutine, one after the other, therefore arrive in that order; events
//     published concurrently arrive in some order, the same one for the whole
//     queue of each subscriber but not necessarily the same across subscribers.
//   - A subscription with QueueLimit undelivered events drops new events
//     (at-most-once); Dropped counts them.
//   - cancel and Close wait for a call of fn in progress on another goroutine
//     to return, so once they return fn is neither running nor called again.
//     Calling cancel (or Close) from inside fn is allowed: it returns at once
//     and the current call is the last one.
//   - Event values, Frame included, are shared between all subscribers, not
//     copied: a publisher must not modify Frame after Publish, and
//     subscribers must treat it as read-only.
//
// The zero value is not usable; call NewMemory.
type Memory struct {
	mu      sync.Mutex                // serialises Subscribe, cancel and Close
	all     map[*memSub]struct{}      // live subscriptions, under mu
	subs    atomic.Pointer[[]*memSub] // copy-on-write snapshot of all, read by Publish
	closed  atomic.Bool
	dropped atomic.Uint64 // events dropped on full queues
}

// NewMemory returns an empty, open in-process bus.
func NewMemory() *Memory {
	m := &Memory{all: make(map[*memSub]struct{})}
	empty := []*memSub{}
	m.subs.Store(&empty)
	return m
}

// memSub is one subscription: a bounded queue drained by one goroutine.
type memSub struct {
	fn func(Event)

	mu       sync.Mutex
	queue    []Event
	spare    []Event // the previously drained batch, reused
	sleeping bool    // the goroutine waits on wake; Publish must signal
	// stopped: cancelled or closed; enqueue nothing, call fn no more.
	// Written under mu; read atomically by the delivery loop.
	stopped atomic.Bool

	wake   chan struct{} // capacity 1
	done   chan struct{} // closed when the goroutine has exited
	gid    atomic.Uint64 // the delivery goroutine's id, for re-entrant cancel
	once   sync.Once
	parent *Memory
}

// Publish enqueues e for every current subscriber and returns without
// waiting for delivery. It returns ErrClosed after Close and ctx.Err() if
// ctx is already done; in both cases nothing was enqueued.
func (m *Memory) Publish(ctx context.Context, e Event) error {
	if m.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, s := range *m.subs.Load() {
		s.enqueue(e)
	}
	return nil
}

func (s *memSub) enqueue(e Event) {
	s.mu.Lock()
	if s.stopped.Load() {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= QueueLimit {
		s.mu.Unlock()
		s.parent.dropped.Add(1)
		return
	}
	s.queue = append(s.queue, e)
	signal := s.sleeping
	s.sleeping = false
	s.mu.Unlock()
	if signal {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Subscribe starts a subscription that receives every event published after
// Subscribe returns. fn is called from the subscription's own goroutine, one
// event at a time, in order. It returns ErrClosed after Close.
func (m *Memory) Subscribe(fn func(Event)) (cancel func(), err error) {
	if fn == nil {
		return nil, apperr.Invalid("nil_handler", "subscribe needs a handler")
	}
	s := &memSub{
		fn:     fn,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		parent: m,
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	m.all[s] = struct{}{}
	m.storeSnapshot()
	go s.run()
	return s.cancel, nil
}

// storeSnapshot publishes the current subscription set to Publish. Call with m.mu held.
func (m *Memory) storeSnapshot() {
	next := make([]*memSub, 0, len(m.all))
	for s := range m.all {
		next = append(next, s)
	}
	m.subs.Store(&next)
}

func (s *memSub) run() {
	defer close(s.done)
	s.gid.Store(goroutineID())
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.stopped.Load() {
			s.sleeping = true
			s.mu.Unlock()
			<-s.wake
			s.mu.Lock()
		}
		if s.stopped.Load() {
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue = s.spare[:0]
		s.spare = nil
		s.mu.Unlock()

		for i := range batch {
			// Re-check before every call so that a cancel issued while a batch
			// is being delivered (including from inside fn) takes effect at once.
			if s.stopped.Load() {
				return
			}
			s.fn(batch[i])
			batch[i] = Event{} // let the Frame be collected
		}

		s.mu.Lock()
		if s.spare == nil && cap(batch) <= 4096 {
			s.spare = batch[:0] // keep small buffers; let big bursts be freed
		}
		s.mu.Unlock()
	}
}

// cancel stops the subscription. It is idempotent and safe to call from fn.
func (s *memSub) cancel() {
	s.once.Do(func() {
		m := s.parent
		m.mu.Lock()
		if _, ok := m.all[s]; ok {
			delete(m.all, s)
			m.storeSnapshot()
		}
		m.mu.Unlock()
		s.stop()
	})
	s.wait()
}

// stop marks the subscription stopped and wakes its goroutine.
func (s *memSub) stop() {
	s.mu.Lock()
	s.stopped.Store(true)
	s.queue = nil
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// wait blocks until the delivery goroutine has exited, unless it is the
// caller (cancel called from inside fn), which must not wait for itself.
func (s *memSub) wait() {
	select {
	case <-s.done:
		return
	default:
	}
	// A zero id means the goroutine has not started delivering yet, so the
	// caller is not inside fn; it will see stopped and exit.
	if g := s.gid.Load(); g != 0 && g == goroutineID() {
		return
	}
	<-s.done
}

// Close stops every subscription and makes Publish and Subscribe fail with
// ErrClosed. It waits for calls of fn in progress on other goroutines to
// return. It is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed.Store(true)
	subs := make([]*memSub, 0, len(m.all))
	for s := range m.all {
		subs = append(subs, s)
	}
	clear(m.all)
	empty := []*memSub{}
	m.subs.Store(&empty)
	m.mu.Unlock()
	for _, s := range subs {
		s.once.Do(s.stop)
	}
	for _, s := range subs {
		s.wait()
	}
	return nil
}

// Dropped returns how many events were dropped because a subscriber's queue
// was full, since the bus was created. A growing number means a subscriber
// does not keep up.
func (m *Memory) Dropped() uint64 { return m.dropped.Load() }

// goroutineID returns the id of the calling goroutine, parsed from the
// header of its stack trace ("goroutine 123 [running]:"). It is used only to
// let cancel recognise a call from inside fn, never on the Publish path.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0
	}
	return id
}

var _ Bus = (*Memory)(nil)
