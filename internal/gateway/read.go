package gateway

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"

	"github.com/gobwas/ws"

	"switchboard/internal/apperr"
	"switchboard/internal/protocol"
)

// The read path. An idle socket has no goroutine and no buffer: the poller
// (poll_linux.go) watches its file descriptor, and when bytes arrive it
// starts onReadable on a fresh goroutine, which borrows a pooled reader,
// handles every frame that arrived, one command at a time and in order as
// before, and re-arms the socket. The descriptor is armed one-shot, so at
// most one goroutine reads a socket at a time. Where there is no poller (not
// Linux, or not a plain TCP connection) readLoop does the same on one
// goroutine per socket.

// onReadable handles the frames that have arrived, then re-arms the socket.
func (s *socket) onReadable() {
	if s.discard {
		if !s.discardSome() {
			return
		}
		if s.g.poll.rearm(s) != nil {
			s.abort()
		}
		return
	}
	// Linger only for a socket woken twice within lingerFor: an auth frame
	// or a keep-alive ping every 25 s gets none, so the goroutine (and the
	// stack a command grew) is gone as soon as it is handled.
	now := time.Now().UnixNano()
	busy := now-s.lastWake < int64(lingerFor)
	s.lastWake = now
	br := getReader(s.conn)
	ok := s.readBuffered(br) && (!busy || s.linger(br))
	putReader(br)
	if ok && s.g.poll.rearm(s) != nil {
		s.abort() // closed under us
	}
}

// lingerFor is how long the reader of a busy socket waits on for its next
// frame before handing it back to the poller. A socket that speaks often
// (a chat at full speed, a console at work, a load test) keeps speaking;
// Go's own poller wakes a waiting reader more cheaply than an epoll event,
// a new goroutine and a re-arm do (without it the chatting benchmark used
// ~10 % more CPU and low-rate latency rose ~0.2 ms), so a busy socket keeps
// its reader, as before the poller, and only a quiet one costs nothing.
const lingerFor = 500 * time.Millisecond

// linger reads what arrives within lingerFor of the last frame, as long as
// frames keep coming. false: the socket is done reading.
func (s *socket) linger(br *bufio.Reader) bool {
	for !s.discard {
		_ = s.conn.c.SetReadDeadline(time.Now().Add(lingerFor))
		_, err := br.Peek(1)
		_ = s.conn.c.SetReadDeadline(time.Time{})
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return true // quiet: back to the poller
			}
			s.abort()
			return false
		}
		if !s.readBuffered(br) {
			return false
		}
	}
	return true
}

// readLoop reads the socket on its own goroutine until it closes.
func (s *socket) readLoop() {
	br := bufio.NewReaderSize(s.conn, readBufSize)
	for {
		if _, err := br.Peek(1); err != nil {
			s.abort()
			return
		}
		if !s.readBuffered(br) || s.discard {
			break
		}
	}
	for s.discard && s.discardSome() {
	}
}

// discardSome reads and drops what arrived after a protocol error, until
// the peer closes (false) or closeWait runs out. Called when readable, so
// the read does not wait (the fallback reader waits, until closeWait).
func (s *socket) discardSome() bool {
	var buf [512]byte
	if _, err := s.conn.Read(buf[:]); err != nil {
		s.abort()
		return false
	}
	return true
}

// readBuffered reads frames while bytes are buffered (a frame that arrived
// only in part is read to its end). false: the socket is done reading.
//
// There is no read deadline inside a frame: a peer that stalls in the
// middle of one holds this goroutine and its reader until the idle timer
// closes the socket (its lastRead only moves when a message is complete),
// as an idle socket held a goroutine before.
func (s *socket) readBuffered(br *bufio.Reader) bool {
	for {
		if !s.readFrame(br) {
			return false
		}
		if s.discard {
			return true // what is buffered is dropped with the reader
		}
		if br.Buffered() == 0 && len(s.conn.pre) == 0 {
			return true
		}
	}
}

// readFrame reads and handles one frame. false: stop reading.
func (s *socket) readFrame(br *bufio.Reader) bool {
	h, err := ws.ReadHeader(br)
	if err != nil {
		s.abort() // EOF, reset, a stalled frame: the peer is gone
		return false
	}
	state := ws.StateServerSide
	if s.fragOp != 0 {
		state = state.Set(ws.StateFragmented)
	}
	if err := ws.CheckHeader(h, state); err != nil {
		s.failProtocol(ws.StatusProtocolError, err.Error())
		return true // the socket stays armed, to see the peer hang up
	}
	if h.OpCode.IsControl() {
		p := make([]byte, h.Length) // at most 125 bytes (CheckHeader)
		if _, err := io.ReadFull(br, p); err != nil {
			s.abort()
			return false
		}
		ws.Cipher(p, h.Mask, 0)
		switch h.OpCode {
		case ws.OpPing:
			if err := s.conn.writeFrame(ws.OpPong, p, s.g.opts.WriteTimeout); err != nil && err != errCloseSent {
				s.abort()
				return false
			}
		case ws.OpClose:
			s.peerClosed(p)
			return false
		}
		return true // pongs are ignored
	}
	if int64(len(s.frag))+h.Length > protocol.MaxFrameBytes {
		s.failProtocol(ws.StatusMessageTooBig, "frame too big")
		return true
	}
	start := len(s.frag)
	msg := append(s.frag, make([]byte, h.Length)...)
	if _, err := io.ReadFull(br, msg[start:]); err != nil {
		s.abort()
		return false
	}
	ws.Cipher(msg[start:], h.Mask, 0)
	op := h.OpCode
	if s.fragOp != 0 {
		op = s.fragOp
	}
	if !h.Fin {
		// A fragment: keep it until the last one, across wake-ups.
		s.frag, s.fragOp = msg, op
		return true
	}
	s.frag, s.fragOp = nil, 0
	s.handleMessage(op, msg)
	return !s.conn.closed.Load()
}

// handleMessage runs one client message (the reader's turn of the old
// per-socket loop).
func (s *socket) handleMessage(op ws.OpCode, data []byte) {
	g := s.g
	s.lastRead.Store(g.clk.Now().UnixNano())
	if s.isClosing() {
		return // revoked, timed out or shutting down: run no further command
	}
	if op != ws.OpText {
		s.reply("", apperr.Invalid("binary_not_supported", "frames are JSON text"))
		return
	}
	g.drainMu.RLock()
	defer g.drainMu.RUnlock()
	if g.draining.Load() {
		f, _ := protocol.DecodeClientFrame(data)
		s.reply(f.ID, apperr.New(apperr.KindUnavailable, "server_restarting", "the server is restarting: reconnect and resend"))
		return
	}
	s.handle(data)
}

// peerClosed answers the peer's close frame (echoing its code) and drops
// the connection: the close handshake is complete.
func (s *socket) peerClosed(p []byte) {
	code := ws.StatusNoStatusRcvd
	if len(p) >= 2 {
		code = ws.StatusCode(binary.BigEndian.Uint16(p))
	}
	s.qmu.Lock()
	s.closing = true // no command runs, no frame is queued from now on
	s.qmu.Unlock()
	if code == ws.StatusNoStatusRcvd {
		code = ws.StatusNormalClosure
	}
	_ = s.conn.writeClose(code, "", s.g.opts.WriteTimeout)
	s.abort()
}

// failProtocol closes the socket after a frame it cannot read further
// (not masked, too big, …): the close frame goes out at once, queued frames
// are dropped, and the connection is dropped when the peer answers or after
// closeWait (the rest of the bad frame is not read).
func (s *socket) failProtocol(code ws.StatusCode, reason string) {
	s.qmu.Lock()
	if !s.closing {
		s.closing, s.closeCode, s.closeReason = true, code, reason
	}
	s.queue = nil
	s.qmu.Unlock()
	s.sendClose(code, reason)
	// The rest of the bad frame cannot be parsed: drop what comes until the
	// peer, having read the close, hangs up (or closeWait runs out).
	s.discard = true
}
