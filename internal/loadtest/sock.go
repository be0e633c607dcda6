package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// inFrame is any frame the server writes, as the tool reads it: the byte
// slices point into the read buffer and are valid only while the frame is
// handled.
type inFrame struct {
	Type           []byte
	ID             []byte
	ConversationID int64
	Seq            int64
	Data           []byte // raw JSON
	Error          []byte // raw JSON of "error"; nil when absent
}

// err decodes the frame's error (nil when it has none).
func (f *inFrame) err() error {
	if len(f.Error) == 0 || string(f.Error) == "null" {
		return nil
	}
	fe := &frameError{}
	if json.Unmarshal(f.Error, fe) != nil {
		fe.Code = "bad_error_frame"
	}
	return fe
}

type frameError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *frameError) Error() string { return e.Code + ": " + e.Message }

type outFrame struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data any    `json:"data,omitempty"`
}

type reply struct {
	data json.RawMessage
	err  error
}

// sock is one WebSocket with a reader goroutine. Replies to call() are
// routed back by id; every other frame goes to handle, on the reader
// goroutine (so handle must not block for long, and must not keep the
// frame's slices).
type sock struct {
	c      *wsConn
	handle func(*inFrame)
	onExit func(error)
	f      inFrame // the frame being handled (reused: no allocation per frame)

	mu      sync.Mutex
	pending map[string]chan reply
	closed  bool
	nextID  atomic.Uint64
	done    chan struct{}

	// dropping: the tool closed this socket on purpose (reconnect storm),
	// so its end is no failure and unanswered sends are resent.
	dropping atomic.Bool
	// counted: the socket is counted in visitorsUp/agentsUp.
	counted atomic.Bool
}

func newSock(c *wsConn, handle func(*inFrame), onExit func(*sock, error)) *sock {
	s := &sock{c: c, handle: handle, done: make(chan struct{})}
	if onExit != nil {
		s.onExit = func(err error) { onExit(s, err) }
	}
	go s.readLoop()
	return s
}

// link is a client's current socket, replaced when it reconnects.
type link struct {
	mu    sync.Mutex
	live  *sock         // usable socket; nil while reconnecting
	last  *sock         // most recent socket, live or not
	ready chan struct{} // closed while live != nil
}

// setLive makes s the usable socket (the link must not be live).
func (l *link) setLive(s *sock) {
	l.mu.Lock()
	l.live, l.last = s, s
	if l.ready == nil {
		l.ready = make(chan struct{})
	}
	close(l.ready)
	l.mu.Unlock()
}

// drop marks the link as reconnecting and returns the socket it had.
func (l *link) drop() *sock {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.live
	if s == nil {
		return l.last
	}
	l.live = nil
	l.ready = make(chan struct{})
	s.dropping.Store(true)
	return s
}

func (l *link) current() *sock {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live
}

func (l *link) latest() *sock {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// wait returns the usable socket, waiting while the link reconnects; nil
// when ctx ends or the socket closed by itself (not by a storm).
func (l *link) wait(ctx context.Context) *sock {
	for {
		l.mu.Lock()
		s, r := l.live, l.ready
		l.mu.Unlock()
		if s != nil {
			select {
			case <-s.done:
				if !s.dropping.Load() {
					return nil
				}
				continue
			default:
				return s
			}
		}
		if r == nil {
			return nil
		}
		select {
		case <-r:
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *sock) readLoop() {
	var err error
	defer func() {
		_ = s.c.close()
		s.mu.Lock()
		s.closed = true
		for id, ch := range s.pending {
			ch <- reply{err: fmt.Errorf("socket closed: %v", err)}
			delete(s.pending, id)
		}
		s.mu.Unlock()
		close(s.done)
		if s.onExit != nil {
			s.onExit(err)
		}
	}()
	f := &s.f
	for {
		var raw []byte
		raw, err = s.c.readMessage()
		if err != nil {
			return
		}
		if !scanFrame(raw, f) && !decodeFrameSlow(raw, f) {
			continue
		}
		if len(f.ID) > 0 && f.ID[0] == 'c' && (string(f.Type) == "ack" || string(f.Type) == "error") {
			s.mu.Lock()
			ch, ok := s.pending[string(f.ID)]
			if ok {
				delete(s.pending, string(f.ID))
			}
			s.mu.Unlock()
			if ok {
				if fe := f.err(); string(f.Type) == "error" && fe != nil {
					ch <- reply{err: fe}
				} else {
					ch <- reply{data: append(json.RawMessage(nil), f.Data...)}
				}
				continue
			}
		}
		if s.handle != nil {
			s.handle(f)
		}
	}
}

// write sends one command frame (encoded with encoding/json: for the
// commands of setup, not the hot path) without waiting for its reply.
func (s *sock) write(id, typ string, data any, timeout time.Duration) error {
	raw, err := json.Marshal(outFrame{ID: id, Type: typ, Data: data})
	if err != nil {
		return err
	}
	return s.c.writeText(raw, timeout)
}

// writeSend sends message n of a visitor's chat (dir 'v' from the
// visitor, 'a' from its agent), building the frame in the socket's
// write buffer.
func (s *sock) writeSend(e *engine, dir byte, vis, n int, ts, conv int64) error {
	b := s.c.begin()
	b = e.appendSend(b, dir, vis, n, ts, conv)
	return s.c.finish(b, opText, 10*time.Second)
}

// ping sends an application ping ("p"; its ack is ignored).
func (s *sock) ping(timeout time.Duration) error {
	return s.c.writeText([]byte(`{"id":"p","type":"ping"}`), timeout)
}

// call sends a command and waits for its ack (or error frame).
func (s *sock) call(ctx context.Context, typ string, data any) (json.RawMessage, error) {
	id := "c" + strconv.FormatUint(s.nextID.Add(1), 10)
	ch := make(chan reply, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("socket closed")
	}
	if s.pending == nil {
		s.pending = map[string]chan reply{}
	}
	s.pending[id] = ch
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
	}
	timeout := 15 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		forget()
		return nil, fmt.Errorf("%s: %w", typ, context.DeadlineExceeded)
	}
	if err := s.write(id, typ, data, timeout); err != nil {
		forget()
		return nil, err
	}
	select {
	case r := <-ch:
		return r.data, r.err
	case <-ctx.Done():
		forget()
		return nil, fmt.Errorf("%s: no reply: %w", typ, ctx.Err())
	}
}

func (s *sock) closeNow() { _ = s.c.close() }

// bitset marks message numbers (from 1) of one visitor and direction.
type bitset []uint64

// set marks n and reports whether it was already marked.
func (b *bitset) set(n int) bool {
	w := n >> 6
	for w >= len(*b) {
		*b = append(*b, 0)
	}
	bit := uint64(1) << (n & 63)
	was := (*b)[w]&bit != 0
	(*b)[w] |= bit
	return was
}

func (b bitset) has(n int) bool {
	w := n >> 6
	return w < len(b) && b[w]&(uint64(1)<<(n&63)) != 0
}

// andNotCount counts the bits set in b but not in o.
func (b bitset) andNotCount(o bitset) int {
	n := 0
	for i, w := range b {
		if i < len(o) {
			w &^= o[i]
		}
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}
