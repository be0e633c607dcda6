package gateway

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// The transport: WebSocket framing straight on the hijacked net.Conn.
//
// The gateway used to hand each connection to a WebSocket library that kept
// the 4 KB bufio reader and writer net/http allocates per connection, and a
// goroutine blocked in Read per socket: ~12 KB of heap plus a stack per idle
// socket. Here the upgrade keeps neither: frames are written with one
// vectored write (header + payload) under a mutex, and read through a pooled
// bufio.Reader only while a socket has bytes to read (read.go). gobwas/ws
// does the handshake and the frame header codec.

const (
	// closeWait is how long a socket that sent a close frame waits for the
	// peer's answer before dropping the connection.
	closeWait   = 5 * time.Second
	readBufSize = 4 << 10
)

// errCloseSent: a close frame went out, nothing more may be written.
var errCloseSent = errors.New("websocket: close frame already sent")

// wsConn is the server side of one WebSocket connection.
type wsConn struct {
	c net.Conn
	// rc is set for plain TCP connections, whose readiness the poller can
	// watch; nil for anything else (TLS served directly, a wrapped
	// listener): a goroutine then reads the socket.
	rc  syscall.RawConn
	pre []byte // bytes the HTTP server read past the handshake; reader-owned

	wmu       sync.Mutex // one frame write at a time
	closeSent bool       // guarded by wmu
	closed    atomic.Bool
}

// Read makes the connection an io.Reader for the pooled bufio.Reader: the
// bytes read ahead during the handshake come first.
func (c *wsConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		if len(c.pre) == 0 {
			c.pre = nil
		}
		return n, nil
	}
	return c.c.Read(p)
}

// writeFrame writes one unfragmented frame with a deadline.
func (c *wsConn) writeFrame(op ws.OpCode, p []byte, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	return c.writeLocked(op, p, timeout)
}

// frameHeader encodes the header of an unfragmented, unmasked frame of
// length l into hdr and returns its size.
func frameHeader(hdr *[10]byte, op ws.OpCode, l int) int {
	hdr[0] = 0x80 | byte(op) // FIN; server frames are never masked
	switch {
	case l < 126:
		hdr[1] = byte(l)
		return 2
	case l <= 0xffff:
		hdr[1] = 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(l))
		return 4
	default:
		hdr[1] = 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(l))
		return 10
	}
}

// appendFrame appends a whole frame (header and payload) to dst.
func appendFrame(dst []byte, op ws.OpCode, p []byte) []byte {
	var hdr [10]byte
	n := frameHeader(&hdr, op, len(p))
	return append(append(dst, hdr[:n]...), p...)
}

func (c *wsConn) writeLocked(op ws.OpCode, p []byte, timeout time.Duration) error {
	if err := c.c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if len(p)+10 <= smallFrame {
		// Most frames are small: copy them into one pooled buffer. A
		// writev would do without the copy but leaves a cached iovec
		// array on every connection it was used on.
		bp := frameBufs.Get().(*[]byte)
		b := appendFrame((*bp)[:0], op, p)
		_, err := c.c.Write(b)
		*bp = b[:0]
		frameBufs.Put(bp)
		return err
	}
	var hdr [10]byte
	n := frameHeader(&hdr, op, len(p))
	bufs := net.Buffers{hdr[:n], p} // one writev: header and payload in one segment
	_, err := bufs.WriteTo(c.c)
	return err
}

// writeFrames writes b, whole frames appended by appendFrame, in one write
// with one deadline: the writer's batch (socket.flush).
func (c *wsConn) writeFrames(b []byte, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	if err := c.c.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err := c.c.Write(b)
	return err
}

const (
	smallFrame = 4 << 10
	// batchMax bounds the frames a socket's writer gathers into one write.
	batchMax = 32 << 10
)

var (
	frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, smallFrame); return &b }}
	batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, batchMax); return &b }}
)

// writeClose writes the close frame, once; later calls do nothing.
func (c *wsConn) writeClose(code ws.StatusCode, reason string, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return nil
	}
	c.closeSent = true
	if len(reason) > ws.MaxControlFramePayloadSize-2 {
		reason = reason[:ws.MaxControlFramePayloadSize-2]
	}
	return c.writeLocked(ws.OpClose, ws.NewCloseFrameBody(code, reason), timeout)
}

// upgrade checks the origin (when checkOrigin), hijacks the
// connection and answers the handshake. Errors are answered here.
func upgrade(w http.ResponseWriter, r *http.Request, checkOrigin bool, allowed []string, timeout time.Duration) (*wsConn, bool) {
	if checkOrigin {
		if err := authenticateOrigin(r, allowed); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return nil, false
		}
	}
	conn, rw, _, err := ws.HTTPUpgrader{Timeout: timeout}.Upgrade(r, w)
	if err != nil {
		if conn != nil {
			_ = conn.Close() // the upgrader answered the error on it
		}
		return nil, false
	}
	c := &wsConn{c: conn}
	if rw != nil && rw.Reader.Buffered() > 0 {
		// A client may send its first frame without waiting for the 101.
		b, _ := rw.Reader.Peek(rw.Reader.Buffered())
		c.pre = bytes.Clone(b)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// Only a plain TCP connection: a wrapper (TLS, a listener that
		// buffers) may hold bytes the kernel no longer reports as readable.
		if rc, err := tc.SyscallConn(); err == nil {
			c.rc = rc
		}
	}
	return c, true
}

// authenticateOrigin accepts a same-host Origin (or none: not a browser),
// or one matching a pattern (path.Match on the host, or on scheme://host
// when the pattern has a scheme). Same rules as the WebSocket library the
// gateway used before, so StaffOrigins keep their meaning.
func authenticateOrigin(r *http.Request, patterns []string) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil {
		return fmt.Errorf("failed to parse Origin header %q: %w", origin, err)
	}
	if strings.EqualFold(r.Host, u.Host) {
		return nil
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		ok, err := path.Match(strings.ToLower(p), strings.ToLower(target))
		if err != nil {
			return fmt.Errorf("failed to parse origin pattern %q: %w", p, err)
		}
		if ok {
			return nil
		}
	}
	if u.Host == "" {
		return fmt.Errorf("request Origin %q is not a valid URL with a host", origin)
	}
	return fmt.Errorf("request Origin %q is not authorized for Host %q", u.Host, r.Host)
}

// readers are lent to sockets while they have bytes to read, so an idle
// socket holds no read buffer.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

func getReader(r io.Reader) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putReader(br *bufio.Reader) {
	br.Reset(nil) // drop the socket
	readers.Put(br)
}
