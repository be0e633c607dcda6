package bus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
)

// Defaults and fixed limits of the NATS bus.
const (
	DefaultNATSSubject        = "switchboard.events"
	DefaultNATSConnectTimeout = 5 * time.Second
	// DefaultNATSReconnectWait is the first pause between reconnection
	// attempts; it doubles with every failed round up to
	// DefaultNATSMaxReconnectWait, plus up to 20% random jitter.
	DefaultNATSReconnectWait    = 250 * time.Millisecond
	DefaultNATSMaxReconnectWait = 5 * time.Second
	// DefaultNATSReconnectBufSize is how many encoded bytes the connection
	// keeps while it is reconnecting; they are sent once it is back.
	DefaultNATSReconnectBufSize = 4 << 20

	// NATSPublishQueue and NATSPublishQueueBytes bound the events accepted
	// by Publish and not yet handed to the connection. Past either limit
	// Publish fails with ErrBacklog instead of waiting.
	NATSPublishQueue      = 8192
	NATSPublishQueueBytes = 16 << 20

	// natsPendingMsgs and natsPendingBytes bound what the NATS client keeps
	// for this node's subscription before it is decoded and handed to the
	// subscribers' own queues; beyond that NATS drops (counted in Dropped).
	natsPendingMsgs  = 1 << 16
	natsPendingBytes = 64 << 20

	// natsWriteTimeout bounds one write to the broker's socket. A write that
	// stalls longer drops the connection, which then reconnects.
	natsWriteTimeout = 2 * time.Second
	// natsPingInterval and natsMaxPingsOut detect a half-open connection
	// (broker gone without a TCP reset) within about 30 s.
	natsPingInterval = 15 * time.Second
	natsMaxPingsOut  = 2
)

// Errors of the NATS bus, besides ErrClosed. errors.Is matches them on code.
var (
	// ErrBacklog: too many events are waiting to be handed to the broker
	// connection (it is stalled or slower than the publishers).
	ErrBacklog = apperr.New(apperr.KindUnavailable, "bus_backlog", "the event bus is overloaded")
	// ErrUnavailable: the broker is unreachable and the reconnect buffer is
	// full. Cleared as soon as the connection is back.
	ErrUnavailable = apperr.New(apperr.KindUnavailable, "bus_unavailable", "the event bus broker is unreachable")
)

// NATSOptions configure NewNATS. The zero value is usable.
type NATSOptions struct {
	// Subject is the NATS subject every event is published on and every
	// node subscribes to. Default DefaultNATSSubject. Nodes of one cluster
	// must use the same; different deployments sharing a broker must not.
	Subject string
	// Name is the client name shown by the broker (for example the node id).
	Name string
	// Logger receives connection events (disconnected, reconnected, closed)
	// and decoding failures. Default slog.Default().
	Logger *slog.Logger
	// ConnectTimeout bounds the first connection in NewNATS, and each dial
	// and handshake when reconnecting. Default DefaultNATSConnectTimeout.
	ConnectTimeout time.Duration
	// ReconnectWait is the first pause between reconnection attempts and
	// MaxReconnectWait the longest (exponential backoff with jitter).
	// Defaults DefaultNATSReconnectWait and DefaultNATSMaxReconnectWait.
	ReconnectWait    time.Duration
	MaxReconnectWait time.Duration
	// ReconnectBufSize bounds the bytes buffered while reconnecting.
	// Default DefaultNATSReconnectBufSize; negative: buffer nothing (every
	// event published while disconnected is dropped).
	ReconnectBufSize int
}

// NATS is a Bus that carries events between nodes through a NATS broker
// (core NATS publish/subscribe, not JetStream: the bus is at-most-once by
// design and the store is the truth).
//
// Guarantees, beyond those of Bus:
//   - Publish never blocks on the network. It encodes the event (so the
//     caller's Frame is not retained) and hands it to a bounded queue
//     drained by one sender goroutine that writes to the connection in queue
//     order, so the events of one publishing goroutine reach every node in
//     the order they were published. (The NATS client holds its connection
//     lock while it dials and handshakes during a reconnection, up to
//     ConnectTimeout per attempt, and during a stalled write; only the
//     sender goroutine waits for it.) Publish fails with
//     ErrBacklog when that queue is full, with ErrUnavailable while the
//     broker is unreachable and the reconnect buffer is full, with ErrClosed
//     after Close, and with an apperr of kind too_large for an event larger
//     than the broker's max_payload; in each case the event was not sent.
//     An event Publish accepted may still be lost (the broker goes away
//     before it is written): PublishErrors in Stats counts those.
//   - Own events come back through the broker like everybody else's, so one
//     node's subscribers see its events interleaved with other nodes' in
//     the broker's order.
//   - The node holds ONE broker subscription, established before NewNATS
//     returns, and fans every received event out to its local subscribers
//     through a Memory bus: each subscription has its own bounded queue and
//     goroutine, a slow subscriber loses events (counted by Dropped) without
//     slowing others, and cancel and Close wait for a running call of fn,
//     exactly as documented on Memory. An event is decoded once per node
//     and its Frame is shared, read-only, by the local subscribers.
//   - A subscriber receives every event published after Subscribe returned;
//     it may also receive an event published moments before, still in
//     flight from another node. Never the same event twice.
//   - The connection reconnects forever with exponential backoff and logs
//     every disconnection, reconnection and closure. Events published while
//     the broker is unreachable are buffered up to ReconnectBufSize and sent
//     on reconnection; beyond that they are lost (clients catch up from the
//     store). Events other nodes publish while this node is disconnected
//     do not reach it.
//
// The zero value is not usable; call NewNATS.
type NATS struct {
	nc      *nats.Conn
	sub     *nats.Subscription
	subject string
	url     string // redacted, for logs
	log     *slog.Logger
	local   *Memory // fan-out to this node's subscribers

	out         chan *[]byte // encoded events for the sender goroutine
	queuedBytes atomic.Int64
	stop        chan struct{} // closed by Close: the sender drains and exits
	senderDone  chan struct{}
	closed      atomic.Bool

	maxPayload  atomic.Int64
	connected   atomic.Bool // as last reported by the connection's callbacks
	unavailable atomic.Bool // the reconnect buffer overflowed; cleared on reconnect

	published     atomic.Uint64
	publishErrors atomic.Uint64
	rejected      atomic.Uint64
	received      atomic.Uint64
	decodeErrors  atomic.Uint64
	reconnects    atomic.Uint64

	dec        eventDecoder // used only by the subscription's goroutine
	decodeLog  logLimiter
	publishLog logLimiter
}

// NATSStats is a snapshot of a NATS bus's counters, all since NewNATS.
type NATSStats struct {
	Connected     bool   // the connection to the broker is up (as last reported)
	Reconnects    uint64 // successful reconnections
	Published     uint64 // events written to the connection
	PublishErrors uint64 // events accepted by Publish that the connection refused (lost)
	Rejected      uint64 // Publish calls that returned an error (nothing was sent)
	Queued        int    // events accepted by Publish, not yet written
	Received      uint64 // events received and decoded
	DecodeErrors  uint64 // messages on the subject that could not be decoded (dropped)
	Dropped       uint64 // events dropped because a local subscriber or this node fell behind
}

// NewNATS connects to the NATS broker(s) at url (comma-separated list
// accepted, credentials in the URL allowed) and subscribes to the subject.
// It fails, within ConnectTimeout or when ctx ends, if no broker can be
// reached: a node does not start half-connected. ctx bounds only the
// connection; the bus lives until Close.
func NewNATS(ctx context.Context, url string, opts NATSOptions) (*NATS, error) {
	if strings.TrimSpace(url) == "" {
		return nil, errors.New("bus: NATS URL is empty")
	}
	if opts.Subject == "" {
		opts.Subject = DefaultNATSSubject
	}
	if err := validSubject(opts.Subject); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultNATSConnectTimeout
	}
	if opts.ReconnectWait <= 0 {
		opts.ReconnectWait = DefaultNATSReconnectWait
	}
	if opts.MaxReconnectWait <= 0 {
		opts.MaxReconnectWait = DefaultNATSMaxReconnectWait
	}
	if opts.MaxReconnectWait < opts.ReconnectWait {
		opts.MaxReconnectWait = opts.ReconnectWait
	}
	switch {
	case opts.ReconnectBufSize == 0:
		opts.ReconnectBufSize = DefaultNATSReconnectBufSize
	case opts.ReconnectBufSize < 0:
		opts.ReconnectBufSize = -1 // nats.go: no buffering
	}
	safeURL := redactURLs(url)
	n := &NATS{
		subject:    opts.Subject,
		url:        safeURL,
		log:        opts.Logger.With("component", "bus", "subject", opts.Subject),
		local:      NewMemory(),
		out:        make(chan *[]byte, NATSPublishQueue),
		stop:       make(chan struct{}),
		senderDone: make(chan struct{}),
		dec:        eventDecoder{origins: make(map[string]string)},
	}

	no := nats.GetDefaultOptions()
	no.Servers = splitURLs(url)
	no.Name = opts.Name
	no.Timeout = opts.ConnectTimeout
	no.AllowReconnect = true
	no.MaxReconnect = -1 // forever
	no.CustomReconnectDelayCB = backoff(opts.ReconnectWait, opts.MaxReconnectWait)
	no.ReconnectBufSize = opts.ReconnectBufSize
	no.IgnoreAuthErrorAbort = true // keep trying through a credentials rollout
	no.FlusherTimeout = natsWriteTimeout
	no.ReconnectOnFlusherError = true
	no.PingInterval = natsPingInterval
	no.MaxPingsOut = natsMaxPingsOut
	no.DisconnectedErrCB = func(nc *nats.Conn, err error) {
		n.connected.Store(false)
		if n.closed.Load() {
			return
		}
		n.log.Warn("bus: disconnected from NATS, reconnecting", "url", n.url, "err", err)
	}
	no.ReconnectedCB = func(nc *nats.Conn) {
		n.reconnects.Add(1)
		n.maxPayload.Store(nc.MaxPayload())
		n.unavailable.Store(false)
		n.connected.Store(true)
		n.log.Info("bus: reconnected to NATS", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerId(),
			"reconnects", n.reconnects.Load())
	}
	no.ReconnectErrCB = func(nc *nats.Conn, err error) {
		n.log.Debug("bus: NATS reconnection attempt failed", "err", err)
	}
	no.ClosedCB = func(nc *nats.Conn) {
		n.connected.Store(false)
		if n.closed.Load() {
			n.log.Info("bus: NATS connection closed")
			return
		}
		n.log.Error("bus: NATS connection closed unexpectedly; events no longer flow", "err", nc.LastError())
	}
	no.AsyncErrorCB = func(nc *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) {
			n.log.Warn("bus: this node receives events faster than it decodes them; NATS drops some", "err", err)
			return
		}
		n.log.Warn("bus: NATS error", "err", err)
	}
	no.DiscoveredServersCB = func(nc *nats.Conn) {
		n.log.Info("bus: discovered NATS servers", "servers", nc.DiscoveredServers())
	}
	no.LameDuckModeHandler = func(nc *nats.Conn) {
		n.log.Warn("bus: NATS server entering lame duck mode; will reconnect elsewhere", "url", nc.ConnectedUrlRedacted())
	}

	nc, err := connect(ctx, &no, opts.ConnectTimeout, n)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to NATS at %s: %w", safeURL, err)
	}
	n.nc = nc
	n.maxPayload.Store(nc.MaxPayload())
	n.connected.Store(true)

	sub, err := nc.Subscribe(n.subject, n.onMsg)
	if err == nil {
		err = sub.SetPendingLimits(natsPendingMsgs, natsPendingBytes)
	}
	if err == nil {
		// Make sure the broker has registered the subscription before
		// NewNATS returns, so that every event published afterwards reaches it.
		err = nc.FlushTimeout(opts.ConnectTimeout)
	}
	if err != nil {
		n.closed.Store(true)
		nc.Close()
		return nil, fmt.Errorf("bus: subscribe to %q on NATS at %s: %w", n.subject, safeURL, err)
	}
	n.sub = sub
	go n.send()
	n.log.Info("bus: connected to NATS", "url", nc.ConnectedUrlRedacted(), "server", nc.ConnectedServerId())
	return n, nil
}

// connect dials in a goroutine so that a hanging DNS lookup or handshake
// cannot outlive timeout or ctx; a connection that succeeds too late is closed.
func connect(ctx context.Context, no *nats.Options, timeout time.Duration, n *NATS) (*nats.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := no.Connect()
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		if errors.Is(r.err, nats.ErrNoServers) { // nats.go's word for "connection refused"
			return nil, fmt.Errorf("connection refused: %w", r.err)
		}
		return r.nc, r.err
	case <-ctx.Done():
		n.closed.Store(true) // the callbacks of the late connection stay quiet
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer within %v: %w", timeout, ctx.Err())
		}
		return nil, ctx.Err()
	}
}

// backoff returns the reconnect delay: base doubled per failed round over
// the server list, capped at max, plus up to 20% jitter so that the nodes
// of a cluster do not reconnect in lockstep.
func backoff(base, max time.Duration) nats.ReconnectDelayHandler {
	return func(attempts int) time.Duration {
		d := base
		for i := 1; i < attempts && d < max; i++ {
			d *= 2
		}
		d = min(d, max)
		return d + rand.N(d/5+1)
	}
}

// Publish encodes e and queues it for the broker; see NATS for when it fails.
// It never waits for the network.
func (n *NATS) Publish(ctx context.Context, e Event) error {
	if n.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if n.unavailable.Load() {
		n.rejected.Add(1)
		return ErrUnavailable
	}
	bp := getBuf()
	*bp = appendEvent((*bp)[:0], &e)
	size := int64(len(*bp))
	if max := n.maxPayload.Load(); max > 0 && size > max {
		putBuf(bp)
		n.rejected.Add(1)
		return apperr.TooLarge("event_too_large",
			fmt.Sprintf("the event is %d bytes, more than the broker accepts (%d)", size, max))
	}
	if n.queuedBytes.Add(size) > NATSPublishQueueBytes {
		n.queuedBytes.Add(-size)
		putBuf(bp)
		n.rejected.Add(1)
		return ErrBacklog
	}
	select {
	case n.out <- bp:
		return nil
	default:
		n.queuedBytes.Add(-size)
		putBuf(bp)
		n.rejected.Add(1)
		return ErrBacklog
	}
}

// send is the one goroutine that writes events to the connection, in the
// order Publish queued them. The NATS client may hold its lock for a dial or
// a stalled write; only this goroutine waits for it, never a publisher.
func (n *NATS) send() {
	defer close(n.senderDone)
	for {
		select {
		case bp := <-n.out:
			n.sendOne(bp)
		case <-n.stop:
			for { // best effort: hand over what was accepted before Close
				select {
				case bp := <-n.out:
					n.sendOne(bp)
				default:
					return
				}
			}
		}
	}
}

func (n *NATS) sendOne(bp *[]byte) {
	err := n.nc.Publish(n.subject, *bp) // copies the bytes
	n.queuedBytes.Add(-int64(len(*bp)))
	putBuf(bp)
	if err == nil {
		n.published.Add(1)
		return
	}
	n.publishErrors.Add(1)
	if errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrConnectionClosed) {
		n.unavailable.Store(true) // until a reconnection; a closed connection never comes back
	}
	if n.publishLog.allow() {
		n.log.Warn("bus: event lost: the NATS connection refused it", "err", err,
			"lost_total", n.publishErrors.Load())
	}
}

// onMsg runs on the subscription's one goroutine, in broker order.
func (n *NATS) onMsg(m *nats.Msg) {
	e, err := n.dec.decode(m.Data)
	if err != nil {
		total := n.decodeErrors.Add(1)
		if n.decodeLog.allow() {
			n.log.Warn("bus: dropped an undecodable message", "err", err, "bytes", len(m.Data),
				"decode_errors_total", total)
		}
		return
	}
	n.received.Add(1)
	_ = n.local.Publish(context.Background(), e) // ErrClosed only, after Close
}

// Subscribe calls fn for every event received from now on, including this
// node's own, from the subscription's own goroutine, in order. It needs no
// broker round trip and works while disconnected. It returns ErrClosed after
// Close.
func (n *NATS) Subscribe(fn func(Event)) (cancel func(), err error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	return n.local.Subscribe(fn)
}

// Close stops delivery (waiting for calls of fn in progress on other
// goroutines, as Memory does), hands the events already accepted by Publish
// to the connection and closes it. Publish and Subscribe then fail with
// ErrClosed. It is idempotent and may be called from inside fn.
func (n *NATS) Close() error {
	if n.closed.CompareAndSwap(false, true) {
		close(n.stop)
		<-n.senderDone
		n.nc.Close() // flushes what is buffered, best effort
	}
	return n.local.Close()
}

// Dropped returns how many received events were dropped because a local
// subscriber's queue was full or this node could not keep up with the broker.
func (n *NATS) Dropped() uint64 {
	d := n.local.Dropped()
	if n.sub != nil {
		if nd, err := n.sub.Dropped(); err == nil && nd > 0 {
			d += uint64(nd)
		}
	}
	return d
}

// Stats returns the bus's counters. It never blocks on the network.
func (n *NATS) Stats() NATSStats {
	return NATSStats{
		Connected:     n.connected.Load() && !n.closed.Load(),
		Reconnects:    n.reconnects.Load(),
		Published:     n.published.Load(),
		PublishErrors: n.publishErrors.Load(),
		Rejected:      n.rejected.Load(),
		Queued:        len(n.out),
		Received:      n.received.Load(),
		DecodeErrors:  n.decodeErrors.Load(),
		Dropped:       n.Dropped(),
	}
}

var _ Bus = (*NATS)(nil)

// ---- wire format ----
//
// One NATS message per event:
//
//	version  byte  (1)
//	flags    byte  (bit 0: Frame is nil rather than empty)
//	Type     uvarint length + bytes
//	SiteID, ConversationID, ContactID, UserID, Seq   zigzag varints
//	Visibility, ExceptSocket, Origin                 uvarint length + bytes
//	Frame    the rest of the message, raw
//
// A typical header is 15-40 bytes; the Frame is neither escaped nor copied
// more than once on each side (into the connection's buffer, out of it).

const (
	wireVersion  = 1
	flagNilFrame = 1 << 0
	wireFlags    = flagNilFrame // every known flag
)

var errDecode = errors.New("malformed event")

func appendEvent(b []byte, e *Event) []byte {
	var flags byte
	if e.Frame == nil {
		flags |= flagNilFrame
	}
	b = append(b, wireVersion, flags)
	b = appendString(b, e.Type)
	b = binary.AppendVarint(b, e.SiteID)
	b = binary.AppendVarint(b, e.ConversationID)
	b = binary.AppendVarint(b, e.ContactID)
	b = binary.AppendVarint(b, e.UserID)
	b = binary.AppendVarint(b, e.Seq)
	b = appendString(b, string(e.Visibility))
	b = appendString(b, e.ExceptSocket)
	b = appendString(b, e.Origin)
	return append(b, e.Frame...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// eventDecoder decodes events; it interns the strings that repeat (types,
// visibilities, node ids) so that a steady stream allocates only the Event's
// ExceptSocket. Not safe for concurrent use.
type eventDecoder struct {
	origins map[string]string
}

const maxInternedOrigins = 1024

// decode parses data. The returned Frame aliases data (its capacity cut to
// its length), which the NATS client allocated for this message alone.
func (d *eventDecoder) decode(data []byte) (Event, error) {
	var e Event
	if len(data) < 2 {
		return e, fmt.Errorf("%w: %d bytes", errDecode, len(data))
	}
	if data[0] != wireVersion {
		return e, fmt.Errorf("%w: unknown version %d", errDecode, data[0])
	}
	flags := data[1]
	if flags&^wireFlags != 0 {
		return e, fmt.Errorf("%w: unknown flags %#x", errDecode, flags)
	}
	r := wireReader{b: data[2:]}
	typ := r.bytes()
	e.SiteID = r.varint()
	e.ConversationID = r.varint()
	e.ContactID = r.varint()
	e.UserID = r.varint()
	e.Seq = r.varint()
	vis := r.bytes()
	except := r.bytes()
	origin := r.bytes()
	if r.err {
		return Event{}, fmt.Errorf("%w: truncated or invalid header", errDecode)
	}
	e.Type = internType(typ)
	e.Visibility = internVisibility(vis)
	if len(except) > 0 {
		e.ExceptSocket = string(except)
	}
	e.Origin = d.origin(origin)
	switch {
	case flags&flagNilFrame != 0:
		if len(r.b) != 0 {
			return Event{}, fmt.Errorf("%w: nil frame with %d trailing bytes", errDecode, len(r.b))
		}
	default:
		e.Frame = r.b[:len(r.b):len(r.b)]
	}
	return e, nil
}

func (d *eventDecoder) origin(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.origins[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.origins) < maxInternedOrigins {
		d.origins[s] = s
	}
	return s
}

func internType(b []byte) string {
	switch string(b) {
	case TypeMessage:
		return TypeMessage
	case TypeChat:
		return TypeChat
	case TypeConversation:
		return TypeConversation
	case TypeTyping:
		return TypeTyping
	case TypeRead:
		return TypeRead
	case TypePresence:
		return TypePresence
	case TypeAvailability:
		return TypeAvailability
	case TypeUserRevoked:
		return TypeUserRevoked
	case "":
		return ""
	}
	return string(b)
}

func internVisibility(b []byte) model.Visibility {
	switch model.Visibility(b) {
	case model.Public:
		return model.Public
	case model.Internal:
		return model.Internal
	case "":
		return ""
	}
	return model.Visibility(b)
}

// wireReader reads the header; after the first error every read returns
// zero values and err stays set.
type wireReader struct {
	b   []byte
	err bool
}

func (r *wireReader) varint() int64 {
	if r.err {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *wireReader) bytes() []byte {
	if r.err {
		return nil
	}
	l, n := binary.Uvarint(r.b)
	if n <= 0 || l > uint64(len(r.b)-n) {
		r.err = true
		return nil
	}
	s := r.b[n : n+int(l)]
	r.b = r.b[n+int(l):]
	return s
}

// ---- helpers ----

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) > 64<<10 {
		return // let the rare big frame's buffer go
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}

// logLimiter lets one log line through per second, so that a flood of bad
// messages or a long outage does not flood the log (the counters keep the totals).
type logLimiter struct {
	mu   sync.Mutex
	last time.Time
}

func (l *logLimiter) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Sub(l.last) < time.Second {
		return false
	}
	l.last = now
	return true
}

// validSubject accepts a literal NATS subject: dot-separated non-empty
// tokens without wildcards or whitespace.
func validSubject(s string) error {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n*>") {
			return fmt.Errorf("bus: invalid NATS subject %q: want dot-separated tokens without wildcards or spaces", s)
		}
	}
	return nil
}

func splitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// redactURLs hides passwords and tokens in a NATS URL list, for logs and errors.
func redactURLs(s string) string {
	parts := splitURLs(s)
	for i, p := range parts {
		u, err := url.Parse(p)
		switch {
		case err != nil:
			parts[i] = "<invalid url>"
		case u.User != nil:
			if _, hasPass := u.User.Password(); !hasPass {
				u.User = url.User("redacted") // a bare token
			}
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
