// Package gateway is the real-time edge: the WebSocket protocol for visitors
// and staff (docs/protocol.md), authentication of sockets, subscriptions
// with resume from a cursor, and fan-out of bus events to sockets.
//
// Guarantees (DESIGN.md §2):
//   - Every client command with an id gets exactly one reply: an ack or an
//     error frame with a stable code.
//   - For a conversation a socket follows, message events are written in seq
//     order without duplicates; a gap (an event lost or reordered on the
//     bus) is filled from the store before the next event is written. Staff
//     see every seq; visitors see public entries only and never an internal
//     one, in replay or live.
//   - A slow client never slows others: each socket has a bounded queue;
//     when it overflows the socket is closed with 4008 and the client resumes
//     from its cursor.
//   - Shutdown stops reading new commands, lets in-flight ones finish and
//     their replies be written, then closes every socket with 1012.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/bus"
	"switchboard/internal/chat"
	"switchboard/internal/clock"
	"switchboard/internal/store"
)

// Options tune the gateway. Zero values take the defaults.
type Options struct {
	SendQueue int // frames queued per visitor socket before it is closed as slow; default 1024
	// StaffSendQueue is the same for staff sockets; default 8 × SendQueue.
	// They are few, and each hears its sites' events (every chat's start,
	// joins, queue moves), so a burst of new chats must not close an agent's
	// console while it is reading as fast as it can.
	StaffSendQueue int
	AuthTimeout    time.Duration // visitor must authenticate within; default 10s
	IdleTimeout    time.Duration // close a socket that sent nothing for this long; default 75s
	WriteTimeout   time.Duration // one frame write; default 10s
	TypingInterval time.Duration // min interval between typing:true relays per conversation; default 1s
	// StaffOrigins are extra host patterns allowed to open staff sockets
	// (the server's own host is always allowed).
	StaffOrigins []string
	// RevalidateEvery is how often a staff socket re-checks its session, so
	// a revocation whose bus event was lost still closes it; default 1m.
	RevalidateEvery time.Duration
}

func (o Options) withDefaults() Options {
	if o.SendQueue <= 0 {
		o.SendQueue = 1024
	}
	if o.StaffSendQueue <= 0 {
		o.StaffSendQueue = 8 * o.SendQueue
	}
	if o.AuthTimeout <= 0 {
		o.AuthTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 75 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.RevalidateEvery <= 0 {
		o.RevalidateEvery = time.Minute
	}
	if o.TypingInterval <= 0 {
		o.TypingInterval = time.Second
	}
	return o
}

// Gateway serves WebSocket connections. Create it with New, mount
// ServeVisitor and ServeStaff, and call Shutdown before closing the store.
type Gateway struct {
	chat *chat.Service
	st   store.Store
	clk  clock.Clock
	log  *slog.Logger
	opts Options

	hub   hub
	poll  *poller // nil: each socket is read by a goroutine of its own
	unsub func()
	// drainMu is held for reading while a command is handled; Shutdown takes
	// it for writing, so once it holds it no command is in flight and none
	// will start (draining is set).
	drainMu  sync.RWMutex
	draining atomic.Bool
	conns    sync.WaitGroup // open sockets
	instance string         // random id of this gateway, prefix of socket ids
	nextID   atomic.Uint64
}

// New returns a gateway subscribed to b.
func New(cs *chat.Service, st store.Store, b bus.Bus, clk clock.Clock, log *slog.Logger, opts Options) (*Gateway, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.Default()
	}
	g := &Gateway{chat: cs, st: st, clk: clk, log: log, opts: opts.withDefaults(), instance: newInstanceID()}
	g.hub.init()
	if p, err := sharedPoller(); err == nil {
		g.poll = p
	} else {
		log.Warn("gateway: no readiness poller, one goroutine per socket", "err", err)
	}
	unsub, err := b.Subscribe(g.dispatch)
	if err != nil {
		return nil, err
	}
	g.unsub = unsub
	return g, nil
}

// Connections returns the number of open sockets.
func (g *Gateway) Connections() int { return g.hub.count() }

// Draining reports whether Shutdown has begun; new upgrades should get 503.
func (g *Gateway) Draining() bool { return g.draining.Load() }

// ServeVisitor upgrades a visitor socket. The socket authenticates with its
// first frame (the token never appears in a URL); the origin is checked
// against the site's allowed origins once the token names the site.
func (g *Gateway) ServeVisitor(w http.ResponseWriter, r *http.Request) {
	c, ok := upgrade(w, r, false, nil, g.opts.WriteTimeout)
	if !ok {
		return // upgrade already answered the error
	}
	s := g.newSocket(c, r.Header.Get("Origin"))
	g.start(s)
}

// ServeStaff upgrades the socket of an authenticated staff actor (the HTTP
// layer checked the session cookie). Cross-origin upgrades are refused (the
// same-host check, plus Options.StaffOrigins), so another site cannot ride
// an agent's cookie. revalidate re-checks the session; it is called every
// Options.RevalidateEvery, and an error closes the socket with 4009.
//
// session names the sign-in (an opaque id, not the token) so that signing
// out closes exactly its sockets (RevokeSession).
func (g *Gateway) ServeStaff(w http.ResponseWriter, r *http.Request, actor chat.Actor, session string, revalidate func(context.Context) error) {
	c, ok := upgrade(w, r, true, g.opts.StaffOrigins, g.opts.WriteTimeout)
	if !ok {
		return
	}
	s := g.newSocket(c, r.Header.Get("Origin"))
	s.st = &staffState{actor: actor, session: session, revalidate: revalidate}
	s.staff = true
	s.authed.Store(true)
	g.start(s)
}

// Shutdown drains the gateway: no new sockets or commands, in-flight
// commands finish and their replies are written, then every socket is closed
// with 1012 (service restart) so clients reconnect, elsewhere if there is an
// elsewhere, and resume. It returns when all sockets are gone or ctx is done.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.drainMu.Lock()
	g.draining.Store(true)
	g.drainMu.Unlock()
	for _, s := range g.hub.all() {
		s.closeAfterFlush(closeRestart, "server restarting")
	}
	closed := make(chan struct{})
	go func() { g.conns.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-ctx.Done():
		for _, s := range g.hub.all() {
			s.abort()
		}
		return ctx.Err()
	}
	if g.unsub != nil {
		g.unsub()
	}
	return nil
}

var errSlow = errors.New("send queue overflow")
