package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"switchboard/internal/apperr"
	"switchboard/internal/bus"
	"switchboard/internal/chat"
	"switchboard/internal/clock"
	"switchboard/internal/model"
	"switchboard/internal/protocol"
)

const (
	closeRestart = ws.StatusCode(protocol.CloseServiceRestart)
	// maxReplay bounds how many entries a resume replays; a client further
	// behind gets recovered:false and reloads instead.
	maxReplay = 5000
	fillPage  = 500
)

// newInstanceID names one gateway, so socket ids are unique across nodes
// (and across gateways in one process, as in tests).
func newInstanceID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// item is one unit of work for a socket's writer.
type item struct {
	frame []byte     // a reply, written as-is
	ev    *bus.Event // an event, filtered by the socket's cursors
	sub   *subReq    // a subscribe: replay then ack
	unsub *subReq    // an unsubscribe: forget the cursor then ack
}

type subReq struct {
	id       string
	convID   int64
	afterSeq int64
	epoch    string
}

// socket is one WebSocket connection. Its reader (a goroutine started when
// bytes arrive, read.go) handles commands one at a time, in order; its
// writer goroutine (started when there is something to write) owns the
// per-conversation cursors and writes the frames. An idle socket has
// neither: it is this struct, its connection and its timers.
type socket struct {
	id     string
	g      *Gateway
	conn   *wsConn
	origin string
	amu    sync.RWMutex // guards vis after authentication
	vis    visitorActor // a visitor's actor (set by auth)
	st     *staffState  // a staff socket's actor and session; nil for visitors
	authed atomic.Bool
	staff  bool // set before the socket is served

	registered bool // indexed for events, guarded by hub.mu

	qmu         sync.Mutex
	queue       []item
	closing     bool
	slow        atomic.Bool // the queue overflowed: stop writing, 4008 is on its way
	closeCode   ws.StatusCode
	closeReason string
	writing     bool // a writer goroutine is running
	finished    bool // the writer closed the socket: start no other
	doneOnce    sync.Once
	// live counts the two ends of a socket's life, the connection dropped
	// (abort) and the writer finished; the last one releases the socket.
	live atomic.Int32

	frag   []byte    // reader-owned: a fragmented message so far
	fragOp ws.OpCode // reader-owned: its opcode; 0 when none is in progress
	// discard, reader-owned: a protocol error was answered with a close;
	// what arrives next is dropped unread.
	discard bool
	pollID  atomic.Uint64 // the poller's name for this socket
	// lastWake, reader-owned: when the poller last woke this socket (real
	// time, unix nanos); two wake-ups within lingerFor make it busy.
	lastWake int64

	cursors map[int64]int64 // writer-owned: last seq written per followed conversation
	// batch, writer-owned: frames gathered for one write; borrowed from a
	// pool while the writer runs, nil when it does not (idle sockets).
	batch *[]byte

	lastRead atomic.Int64        // unix nanos of the last frame read (by the injected clock)
	typingAt map[int64]time.Time // reader-owned: last typing:true relayed per conversation
	timerMu  sync.Mutex          // guards the timers below
	stopped  bool
	idle     clock.Timer
	authT    clock.Timer
	closeT   clock.Timer // drops the connection if the peer does not answer our close frame
}

// staffState is what only staff sockets have; visitors' sockets, most of
// them, do without (chat.Actor alone is 280 bytes).
type staffState struct {
	actor      chat.Actor                  // fixed for the socket's life
	revalidate func(context.Context) error // re-checks the session
	session    string                      // which sign-in opened it
	follows    map[int64]struct{}          // subscriptions, guarded by hub.mu
	reval      clock.Timer                 // guarded by timerMu
}

func (g *Gateway) newSocket(c *wsConn, origin string) *socket {
	return &socket{
		id: g.instance + "-" + strconv.FormatUint(g.nextID.Add(1), 36), g: g, conn: c, origin: origin,
	}
}

// start sets a socket up and hands it to the poller (or to a reading
// goroutine); it returns at once, so the HTTP handler's goroutine ends.
func (g *Gateway) start(s *socket) {
	g.conns.Add(1)
	s.live.Store(2)
	s.lastRead.Store(g.clk.Now().UnixNano())
	s.armIdle(g.opts.IdleTimeout)
	g.hub.track(s)
	if s.authed.Load() {
		// hello first, so no event can precede it.
		s.enqueue(item{frame: protocol.Event("hello", 0, 0, map[string]any{
			"epoch": g.st.Epoch(), "user": s.st.actor.User, "site_ids": s.st.actor.SiteIDs, "socket_id": s.id})})
		g.hub.register(s)
		// Routing stops offering chats to an agent whose consoles are all
		// gone, after a grace period (a reload is not a departure). The
		// matching StaffDisconnected is in release.
		g.chat.StaffConnected(s.actorCopy().User.ID)
		s.armRevalidate()
	} else {
		s.timerMu.Lock()
		s.authT = g.clk.AfterFunc(g.opts.AuthTimeout, func() {
			if !s.authed.Load() {
				s.closeAfterFlush(protocol.CloseUnauthenticated, "authentication timeout")
			}
		})
		s.timerMu.Unlock()
	}
	if g.draining.Load() {
		// Upgraded while Shutdown was closing the others.
		s.closeAfterFlush(closeRestart, "server restarting")
	}
	switch {
	case g.poll == nil || s.conn.rc == nil:
		go s.readLoop()
	case len(s.conn.pre) > 0:
		// Bytes arrived with the handshake: read them now; onReadable
		// registers the socket when they are handled.
		go func() {
			br := getReader(s.conn)
			ok := s.readBuffered(br)
			putReader(br)
			if ok && g.poll.add(s) != nil {
				s.abort()
			}
		}()
	default:
		if err := g.poll.add(s); err != nil {
			g.log.Warn("gateway: cannot poll socket, reading it on a goroutine", "socket", s.id, "err", err)
			go s.readLoop()
		}
	}
}

// abort drops the connection (once) and tears the socket down: it leaves
// the hub, its timers stop, and the writer, if any, finishes (its writes
// now fail).
func (s *socket) abort() {
	if !s.conn.closed.CompareAndSwap(false, true) {
		return
	}
	s.g.poll.remove(s)
	_ = s.conn.c.Close()
	s.g.hub.unregister(s)
	s.stopTimers()
	s.closeAfterFlush(ws.StatusNormalClosure, "") // makes a writer run to its end
	s.release()
}

// release ends one side of the socket's life; after both (abort and the
// writer's finish) the socket is gone.
func (s *socket) release() {
	if s.live.Add(-1) != 0 {
		return
	}
	if s.staff {
		s.g.chat.StaffDisconnected(s.actorCopy().User.ID)
	}
	s.g.conns.Done()
}

// sendClose writes the close frame and gives the peer closeWait to answer
// it (the reader drops the connection when the answer comes; a vanished
// peer never answers).
func (s *socket) sendClose(code ws.StatusCode, reason string) {
	s.timerMu.Lock()
	if s.closeT == nil && !s.stopped {
		// Armed before the frame is written, so a test that sees the frame
		// may advance a fake clock past it.
		s.closeT = s.g.clk.AfterFunc(closeWait, s.abort)
	}
	s.timerMu.Unlock()
	if err := s.conn.writeClose(code, reason, s.g.opts.WriteTimeout); err != nil {
		s.abort()
	}
}

// enqueue hands an item to the writer. It never blocks: a full queue means
// the client is not reading fast enough, and it is closed (it resumes later).
func (s *socket) enqueue(it item) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.closing {
		return
	}
	limit := s.g.opts.SendQueue
	if s.staff {
		limit = s.g.opts.StaffSendQueue
	}
	if len(s.queue) >= limit {
		s.slow.Store(true)
		s.closing, s.queue = true, nil
		s.closeCode, s.closeReason = protocol.CloseSlowConsumer, "slow consumer: resume from your cursor"
		// The writer may be stuck writing to this very client: close from
		// here; the close frame waits for the write lock, which a stuck
		// write holds at most WriteTimeout.
		go s.sendClose(protocol.CloseSlowConsumer, "slow consumer: resume from your cursor")
		s.startWriterLocked()
		return
	}
	s.queue = append(s.queue, it)
	s.startWriterLocked()
}

// startWriterLocked starts the writer goroutine unless one is running. The
// writer lives only while there is something to write, so an idle socket
// costs one goroutine (its reader), not two. Both sides decide under qmu,
// so no item is left behind: the writer exits only after seeing the queue
// empty with the lock held.
func (s *socket) startWriterLocked() {
	if s.writing || s.finished {
		return
	}
	s.writing = true
	go s.writeLoop()
}

func (s *socket) isClosing() bool {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.closing
}

// closeAfterFlush writes what is queued, then closes with code.
func (s *socket) closeAfterFlush(code ws.StatusCode, reason string) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if !s.closing {
		s.closing, s.closeCode, s.closeReason = true, code, reason
	}
	s.startWriterLocked()
}

// writeLoop writes queued items until the queue is empty (then exits) or
// the socket is closed (then closes it and marks the writer finished).
func (s *socket) writeLoop() {
	for {
		s.qmu.Lock()
		items := s.queue
		s.queue = nil
		closing, code, reason := s.closing, s.closeCode, s.closeReason
		if len(items) == 0 && !closing {
			s.writing = false
			s.qmu.Unlock()
			return
		}
		s.qmu.Unlock()
		for _, it := range items {
			if s.slow.Load() {
				s.finish() // being closed with 4008; the rest is resumed from the cursor
				return
			}
			if err := s.write(it); err != nil {
				s.writeFailed(err)
				return
			}
		}
		// What this pass gathered goes out in one write: a burst of events
		// (a busy agent's chats, a replay) costs one syscall, not one each.
		if err := s.flush(); err != nil {
			s.writeFailed(err)
			return
		}
		if closing {
			if code != protocol.CloseSlowConsumer { // 4008 is already being sent
				s.sendClose(code, reason)
			}
			s.finish()
			return
		}
	}
}

func (s *socket) writeFailed(err error) {
	if err != errCloseSent { // else the close handshake is under way
		s.abort()
	}
	s.finish()
}

// finish marks the writer done for good: nothing is written after it.
func (s *socket) finish() {
	s.qmu.Lock()
	s.writing, s.finished, s.closing = false, true, true // and enqueue drops from now on
	s.queue = nil
	s.qmu.Unlock()
	s.doneOnce.Do(s.release)
}

func (s *socket) write(it item) error {
	switch {
	case it.sub != nil:
		return s.replay(it.sub)
	case it.unsub != nil:
		delete(s.cursors, it.unsub.convID)
		return s.writeFrame(protocol.Ack(it.unsub.id, nil))
	case it.ev != nil:
		return s.writeEvent(it.ev)
	default:
		return s.writeFrame(it.frame)
	}
}

// writeFrame adds a text frame to the writer's batch (flushed at the end of
// the writer's pass, or when full); a frame larger than a batch goes out
// on its own after what is gathered.
func (s *socket) writeFrame(b []byte) error {
	if s.batch != nil && len(*s.batch)+len(b)+10 > batchMax {
		if err := s.flush(); err != nil {
			return err
		}
	}
	if len(b)+10 > batchMax {
		return s.conn.writeFrame(ws.OpText, b, s.g.opts.WriteTimeout)
	}
	if s.batch == nil {
		s.batch = batchBufs.Get().(*[]byte)
	}
	*s.batch = appendFrame(*s.batch, ws.OpText, b)
	return nil
}

// flush writes the gathered frames and returns the buffer to its pool.
func (s *socket) flush() error {
	bp := s.batch
	if bp == nil {
		return nil
	}
	s.batch = nil
	var err error
	if len(*bp) > 0 {
		err = s.conn.writeFrames(*bp, s.g.opts.WriteTimeout)
	}
	*bp = (*bp)[:0]
	batchBufs.Put(bp)
	return err
}

// writeEvent writes an event, keeping each followed conversation's
// timeline in order, without duplicates, and without gaps.
func (s *socket) writeEvent(e *bus.Event) error {
	if e.Type == bus.TypeMessage {
		cur, ok := s.cursors[e.ConversationID]
		if !ok || e.Seq <= cur {
			return nil // not followed yet (a subscribe will replay), or already written
		}
		if e.Seq > cur+1 {
			if err := s.fill(e.ConversationID, cur, e.Seq-1); err != nil {
				return err
			}
		}
		s.setCursor(e.ConversationID, e.Seq)
		if e.Visibility != model.Public && !s.staff {
			return nil
		}
	}
	return s.writeFrame(e.Frame)
}

// fill writes the entries (from, to] the socket may see, from the store.
// Every round either advances from or ends the loop.
func (s *socket) fill(convID, from, to int64) error {
	for from < to {
		msgs, err := s.g.chat.History(context.Background(), s.actorCopy(), convID, from, fillPage)
		if err != nil {
			return err
		}
		done := len(msgs) < fillPage // the rest are entries this socket may not see
		for _, m := range msgs {
			if m.Seq > to {
				done = true
				break
			}
			if err := s.writeFrame(chat.MessageEvent(m)); err != nil {
				return err
			}
			from = m.Seq
		}
		if done {
			break
		}
	}
	s.setCursor(convID, to)
	return nil
}

// replay resumes a conversation from the client's cursor, then acks.
func (s *socket) replay(r *subReq) error {
	conv, err := s.g.st.GetConversation(context.Background(), r.convID)
	if err != nil {
		return s.writeFrame(protocol.Error(r.id, err))
	}
	epoch := s.g.st.Epoch()
	recovered := (r.epoch == "" || r.epoch == epoch) && r.afterSeq <= conv.LastSeq && conv.LastSeq-r.afterSeq <= maxReplay
	if r.epoch == "" && r.afterSeq > 0 {
		recovered = false // a cursor without its epoch cannot be trusted
	}
	if recovered {
		if err := s.fill(r.convID, r.afterSeq, conv.LastSeq); err != nil {
			return err
		}
	}
	s.setCursor(r.convID, conv.LastSeq)
	return s.writeFrame(protocol.Ack(r.id, map[string]any{"recovered": recovered, "epoch": epoch, "last_seq": conv.LastSeq}))
}

// setCursor records the last seq written for a conversation (writer only).
// The map is made on first use: most idle sockets never need one.
func (s *socket) setCursor(convID, seq int64) {
	if s.cursors == nil {
		s.cursors = make(map[int64]int64)
	}
	s.cursors[convID] = seq
}

func (s *socket) reply(id string, err error) {
	s.enqueue(item{frame: protocol.Error(id, err)})
}

func (s *socket) ack(id string, data any) {
	s.enqueue(item{frame: protocol.Ack(id, data)})
}

// armIdle closes the socket when nothing was read for d. Instead of
// resetting a timer per frame, the timer re-arms itself for the remainder.
func (s *socket) armIdle(d time.Duration) {
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	if s.stopped {
		return
	}
	s.idle = s.g.clk.AfterFunc(d, func() {
		elapsed := time.Duration(s.g.clk.Now().UnixNano() - s.lastRead.Load())
		if elapsed >= s.g.opts.IdleTimeout {
			s.closeAfterFlush(protocol.CloseHeartbeatTimeout, "no frame received in time")
			return
		}
		s.armIdle(s.g.opts.IdleTimeout - elapsed)
	})
}

// armRevalidate re-checks a staff session periodically. Revocations are
// also pushed over the bus (user_revoked), but the bus may lose an event.
func (s *socket) armRevalidate() {
	if s.st == nil || s.st.revalidate == nil {
		return
	}
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	if s.stopped {
		return
	}
	s.st.reval = s.g.clk.AfterFunc(s.g.opts.RevalidateEvery, func() {
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		if err := s.st.revalidate(ctx); err != nil && apperr.KindOf(err) == apperr.KindUnauthenticated {
			s.closeAfterFlush(protocol.CloseRevoked, "session revoked")
			return
		}
		s.armRevalidate()
	})
}

func (s *socket) stopTimers() {
	s.timerMu.Lock()
	defer s.timerMu.Unlock()
	s.stopped = true
	if s.st != nil && s.st.reval != nil {
		s.st.reval.Stop()
	}
	if s.idle != nil {
		s.idle.Stop()
	}
	if s.authT != nil {
		s.authT.Stop()
	}
	if s.closeT != nil {
		s.closeT.Stop()
	}
}
