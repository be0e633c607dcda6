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

	"github.com/coder/websocket"
)

// inFrame is any frame the server writes.
type inFrame struct {
	Type           string          `json:"type"`
	ID             string          `json:"id"`
	ConversationID int64           `json:"conversation_id"`
	Seq            int64           `json:"seq"`
	Data           json.RawMessage `json:"data"`
	Error          *frameError     `json:"error"`
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
// goroutine (so handle must not block for long).
type sock struct {
	c      *websocket.Conn
	handle func(*inFrame)
	onExit func(error)

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

func newSock(c *websocket.Conn, handle func(*inFrame), onExit func(*sock, error)) *sock {
	c.SetReadLimit(1 << 20)
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
	for {
		var raw []byte
		_, raw, err = s.c.Read(context.Background())
		if err != nil {
			return
		}
		var f inFrame
		if json.Unmarshal(raw, &f) != nil {
			continue
		}
		if f.ID != "" && (f.Type == "ack" || f.Type == "error") && f.ID[0] == 'c' {
			s.mu.Lock()
			ch, ok := s.pending[f.ID]
			delete(s.pending, f.ID)
			s.mu.Unlock()
			if ok {
				if f.Type == "error" && f.Error != nil {
					ch <- reply{err: f.Error}
				} else {
					ch <- reply{data: f.Data}
				}
				continue
			}
		}
		if s.handle != nil {
			s.handle(&f)
		}
	}
}

// write sends one command frame without waiting for its reply.
func (s *sock) write(id, typ string, data any, timeout time.Duration) error {
	raw, err := json.Marshal(outFrame{ID: id, Type: typ, Data: data})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.c.Write(ctx, websocket.MessageText, raw)
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

func (s *sock) closeNow() { _ = s.c.CloseNow() }

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
