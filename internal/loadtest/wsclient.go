package loadtest

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// wsConn is the tool's WebSocket client connection: a minimal RFC 6455
// client on a net.Conn, built for the load tool's cost per message (one
// write system call per frame, frames read in place from one buffered
// reader, no timer or goroutine per message). github.com/gobwas/ws does the
// opening handshake; frames are read and written here.
//
// One goroutine reads (readMessage); any goroutine may write. Messages are
// reassembled from fragments (control frames may come in between), pings
// are answered with pongs, a close frame is echoed and ends the connection.
// Frames the tool sends are masked with a fresh key each, as a client must.
type wsConn struct {
	nc net.Conn
	br *bufio.Reader

	// reader goroutine only
	discard int    // bytes of the previous frame still in br (payloads are read in place)
	msg     []byte // a fragmented message being reassembled
	inMsg   bool   // a data frame without FIN was read
	big     []byte // payloads larger than br's buffer

	wmu       sync.Mutex
	wbuf      []byte
	wdl       time.Time // the write deadline currently set
	rng       uint64    // mask keys (splitmix64)
	closeSent bool
}

const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA

	// maxClientHeader is the largest header of a client frame: 2 bytes,
	// 8 of extended length, 4 of mask key. Frames are built after this
	// much room so that the header can be put in front without a copy.
	maxClientHeader = 14
	// wsReadLimit is the largest message accepted from the server.
	wsReadLimit = 1 << 20
)

var errWSClosed = errors.New("websocket: connection closed")

// closeError is the close frame the server sent.
type closeError struct {
	Code   int
	Reason string
}

func (e *closeError) Error() string {
	return fmt.Sprintf("websocket closed by the server: status %d %s", e.Code, e.Reason)
}

type wsProtocolError string

func (e wsProtocolError) Error() string { return "websocket protocol error: " + string(e) }

// dialWS opens a WebSocket to url (ws:// or wss://), binding to local when
// it is not nil and sending cookie (if any) with the upgrade request.
// readBuf is the size of the read buffer: frames up to that size are read
// without a copy.
func dialWS(ctx context.Context, url string, local net.Addr, cookie string, readBuf int) (*wsConn, error) {
	nd := &net.Dialer{LocalAddr: local, KeepAlive: 30 * time.Second}
	d := ws.Dialer{
		ReadBufferSize: readBuf,
		NetDial:        nd.DialContext,
	}
	if cookie != "" {
		d.Header = ws.HandshakeHeaderHTTP(http.Header{"Cookie": {cookie}})
	}
	var status string
	d.OnStatusError = func(code int, reason []byte, resp io.Reader) {
		status = fmt.Sprintf("upgrade answered %d %s", code, reason)
		if res, err := http.ReadResponse(bufio.NewReader(resp), nil); err == nil {
			body, _ := io.ReadAll(io.LimitReader(res.Body, 200))
			if len(body) > 0 {
				status += ": " + string(body)
			}
		}
	}
	nc, br, _, err := d.Dial(ctx, url)
	if err != nil {
		if status != "" {
			return nil, errors.New(status)
		}
		return nil, err
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, readBuf)
	}
	// else: the server wrote right after its answer; br (of our size) holds
	// those bytes and keeps serving as the reader.
	c := &wsConn{nc: nc, br: br}
	var seed [8]byte
	_, _ = crand.Read(seed[:])
	c.rng = binary.LittleEndian.Uint64(seed[:])
	return c, nil
}

// readMessage returns the next text or binary message. Its bytes are valid
// until the next call. Control frames are handled here.
func (c *wsConn) readMessage() ([]byte, error) {
	for {
		fin, op, p, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		switch op {
		case opPing:
			if err := c.writeControl(opPong, p); err != nil && err != errWSClosed {
				return nil, err
			}
		case opPong:
		case opClose:
			ce := &closeError{Code: 1005}
			if len(p) >= 2 {
				ce.Code = int(binary.BigEndian.Uint16(p))
				ce.Reason = string(p[2:])
			}
			var echo []byte
			if len(p) >= 2 {
				echo = p[:2]
			}
			_ = c.writeControl(opClose, echo)
			_ = c.nc.Close()
			return nil, ce
		case opText, opBinary:
			if c.inMsg {
				return nil, c.fail(1002, "a new message inside a fragmented one")
			}
			if fin {
				return p, nil
			}
			c.inMsg = true
			c.msg = append(c.msg[:0], p...)
		case opCont:
			if !c.inMsg {
				return nil, c.fail(1002, "continuation without a message")
			}
			if len(c.msg)+len(p) > wsReadLimit {
				return nil, c.fail(1009, "message too big")
			}
			c.msg = append(c.msg, p...)
			if fin {
				c.inMsg = false
				return c.msg, nil
			}
		default:
			return nil, c.fail(1002, fmt.Sprintf("unknown opcode %d", op))
		}
	}
}

// readFrame reads one frame; its payload is valid until the next call.
func (c *wsConn) readFrame() (fin bool, op byte, payload []byte, err error) {
	if c.discard > 0 {
		if _, err := c.br.Discard(c.discard); err != nil {
			return false, 0, nil, err
		}
		c.discard = 0
	}
	h, err := c.br.Peek(2)
	if err != nil {
		return false, 0, nil, err
	}
	fin, op = h[0]&0x80 != 0, h[0]&0x0f
	if h[0]&0x70 != 0 {
		return false, 0, nil, c.fail(1002, "reserved bits set")
	}
	if h[1]&0x80 != 0 {
		return false, 0, nil, c.fail(1002, "masked frame from the server")
	}
	n, hl := uint64(h[1]&0x7f), 2
	switch n {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	if hl > 2 {
		if h, err = c.br.Peek(hl); err != nil {
			return false, 0, nil, err
		}
		if hl == 4 {
			n = uint64(binary.BigEndian.Uint16(h[2:]))
		} else {
			n = binary.BigEndian.Uint64(h[2:])
		}
	}
	if op >= 8 && (!fin || n > 125) {
		return false, 0, nil, c.fail(1002, "bad control frame")
	}
	if n > wsReadLimit {
		return false, 0, nil, c.fail(1009, "message too big")
	}
	if _, err := c.br.Discard(hl); err != nil {
		return false, 0, nil, err
	}
	if int(n) <= c.br.Size() {
		if payload, err = c.br.Peek(int(n)); err != nil {
			return false, 0, nil, err
		}
		c.discard = int(n)
		return fin, op, payload, nil
	}
	if cap(c.big) < int(n) {
		c.big = make([]byte, n)
	}
	payload = c.big[:n]
	if _, err := io.ReadFull(c.br, payload); err != nil {
		return false, 0, nil, err
	}
	return fin, op, payload, nil
}

// fail sends a close frame for a protocol violation by the server and
// drops the connection.
func (c *wsConn) fail(code int, why string) error {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(code))
	_ = c.writeControl(opClose, b[:])
	_ = c.nc.Close()
	return wsProtocolError(why)
}

// begin locks the writer and returns a buffer to append one frame's payload
// to, after maxClientHeader bytes of room; finish sends it.
func (c *wsConn) begin() []byte {
	c.wmu.Lock()
	if cap(c.wbuf) < 256 {
		c.wbuf = make([]byte, 0, 512)
	}
	return c.wbuf[:maxClientHeader]
}

// finish frames, masks and writes what begin returned (with the payload
// appended) as one message of type op, and unlocks the writer. A failed
// write closes the connection: a frame may have been cut.
func (c *wsConn) finish(b []byte, op byte, timeout time.Duration) error {
	defer c.wmu.Unlock()
	if cap(b) <= 64<<10 {
		c.wbuf = b[:0] // keep the grown buffer, not a huge one
	}
	if c.closeSent {
		return errWSClosed
	}
	p := b[maxClientHeader:]
	n := len(p)
	var hl int
	switch {
	case n < 126:
		hl = 2
	case n < 1<<16:
		hl = 4
	default:
		hl = 10
	}
	start := maxClientHeader - 4 - hl
	h := b[start:maxClientHeader]
	h[0] = 0x80 | op
	switch hl {
	case 2:
		h[1] = 0x80 | byte(n)
	case 4:
		h[1] = 0x80 | 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
	default:
		h[1] = 0x80 | 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
	}
	key := c.nextKey()
	binary.LittleEndian.PutUint32(b[maxClientHeader-4:], key)
	maskBytes(p, key)
	if op == opClose {
		c.closeSent = true
	}
	c.setWriteDeadline(timeout)
	if _, err := c.nc.Write(b[start:]); err != nil {
		c.closeSent = true
		_ = c.nc.Close()
		return err
	}
	return nil
}

// setWriteDeadline keeps the write deadline between timeout/2 and timeout
// from now, resetting it only when it falls out of that range: resetting a
// deadline costs a timer update, and most writes need none.
func (c *wsConn) setWriteDeadline(timeout time.Duration) {
	now := time.Now()
	if c.wdl.Before(now.Add(timeout/2)) || c.wdl.After(now.Add(timeout)) {
		c.wdl = now.Add(timeout)
		_ = c.nc.SetWriteDeadline(c.wdl)
	}
}

func (c *wsConn) writeControl(op byte, p []byte) error {
	b := c.begin()
	b = append(b, p...)
	return c.finish(b, op, 2*time.Second)
}

// writeText sends one text message.
func (c *wsConn) writeText(p []byte, timeout time.Duration) error {
	b := c.begin()
	b = append(b, p...)
	return c.finish(b, opText, timeout)
}

// close drops the connection without a closing handshake.
func (c *wsConn) close() error { return c.nc.Close() }

// nextKey returns a mask key (splitmix64; the writer lock is held).
func (c *wsConn) nextKey() uint32 {
	c.rng += 0x9e3779b97f4a7c15
	z := c.rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return uint32(z ^ (z >> 31))
}

// maskBytes XORs b with the mask key (its bytes in little-endian order, as
// binary.LittleEndian.PutUint32 lays it out in the frame), 8 bytes at a time.
func maskBytes(b []byte, key uint32) {
	k := uint64(key)<<32 | uint64(key)
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= byte(key >> (8 * (i & 3)))
	}
}
