package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// wsConn is the tool's WebSocket client connection on a net.Conn, kept
// cheap per message: one write system call per frame (header and masked
// payload built in one buffer), frames read in place from one buffered
// reader, no timer or goroutine per message. github.com/gobwas/ws does the
// protocol: the opening handshake, the frame header codec (ReadHeader,
// WriteHeader), the checks on the server's frames (CheckHeader), masking
// (NewMask, Cipher) and close frames; this file only moves bytes between
// them and the connection, as the gateway does on the server side
// (internal/gateway/wsconn.go, read.go).
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
	hw        headerWriter // where ws.WriteHeader puts a frame's header (a field: no allocation per frame)
	wdl       time.Time    // the write deadline currently set
	closeSent bool
}

const (
	// opText is the opcode of the messages the tool sends (sock.writeSend).
	opText = ws.OpText

	// maxClientHeader is the room left in front of a frame's payload for
	// its header: the largest a client frame has (2 bytes, 8 of extended
	// length, 4 of mask key), so that any header fits without a copy.
	maxClientHeader = ws.MaxHeaderSize
	// wsReadLimit is the largest message accepted from the server.
	wsReadLimit = 1 << 20
)

var errWSClosed = errors.New("websocket: connection closed")

// closeError is the close frame the server sent.
type closeError struct {
	Code   ws.StatusCode // ws.StatusNoStatusRcvd (1005) when the frame had none
	Reason string
}

func (e *closeError) Error() string {
	return fmt.Sprintf("websocket closed by the server: status %d %s", e.Code, e.Reason)
}

type wsProtocolError string

func (e wsProtocolError) Error() string { return "websocket protocol error: " + string(e) }

// headerWriter is the io.Writer ws.WriteHeader writes a frame header
// through: it appends within the room reserved in front of the payload.
type headerWriter []byte

func (w *headerWriter) Write(p []byte) (int, error) {
	if len(*w)+len(p) > cap(*w) {
		return 0, io.ErrShortBuffer // never: the room is ws.HeaderSize
	}
	*w = append(*w, p...)
	return len(p), nil
}

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
	return &wsConn{nc: nc, br: br}, nil
}

// readMessage returns the next text or binary message. Its bytes are valid
// until the next call. Control frames are handled here.
func (c *wsConn) readMessage() ([]byte, error) {
	for {
		h, p, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		switch h.OpCode {
		case ws.OpPing:
			if err := c.writeFrame(ws.NewPongFrame(p), 2*time.Second); err != nil && err != errWSClosed {
				return nil, err
			}
		case ws.OpPong:
		case ws.OpClose:
			return nil, c.closed(p)
		default: // text, binary or continuation, in an order CheckHeader accepted
			if !c.inMsg {
				if h.Fin {
					return p, nil
				}
				c.inMsg = true
				c.msg = append(c.msg[:0], p...)
				continue
			}
			if len(c.msg)+len(p) > wsReadLimit {
				return nil, c.fail(ws.StatusMessageTooBig, "message too big")
			}
			c.msg = append(c.msg, p...)
			if h.Fin {
				c.inMsg = false
				return c.msg, nil
			}
		}
	}
}

// closed echoes the server's close frame (its status code), drops the
// connection and returns what the server said.
func (c *wsConn) closed(p []byte) error {
	code, reason := ws.ParseCloseFrameData(p)
	if len(p) == 1 {
		return c.fail(ws.StatusProtocolError, "close frame with a 1-byte body")
	}
	var echo []byte
	if code.Empty() {
		code = ws.StatusNoStatusRcvd // nothing to echo
	} else {
		if err := ws.CheckCloseFrameData(code, reason); err != nil {
			return c.fail(ws.StatusProtocolError, "close frame: "+err.Error())
		}
		echo = ws.NewCloseFrameBody(code, "")
	}
	_ = c.writeFrame(ws.NewCloseFrame(echo), 2*time.Second)
	_ = c.nc.Close()
	return &closeError{Code: code, Reason: reason}
}

// readFrame reads one frame; its payload is valid until the next call.
func (c *wsConn) readFrame() (ws.Header, []byte, error) {
	if c.discard > 0 {
		if _, err := c.br.Discard(c.discard); err != nil {
			return ws.Header{}, nil, err
		}
		c.discard = 0
	}
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		if err == ws.ErrHeaderLengthMSB || err == ws.ErrHeaderLengthUnexpected {
			return h, nil, c.fail(ws.StatusProtocolError, err.Error())
		}
		return h, nil, err
	}
	state := ws.StateClientSide
	if c.inMsg {
		state = state.Set(ws.StateFragmented)
	}
	// Reserved bits or opcodes, a masked frame, a long or fragmented
	// control frame, a continuation out of place.
	if err := ws.CheckHeader(h, state); err != nil {
		return h, nil, c.fail(ws.StatusProtocolError, err.Error())
	}
	if h.Length > wsReadLimit {
		return h, nil, c.fail(ws.StatusMessageTooBig, "message too big")
	}
	n := int(h.Length)
	if n <= c.br.Size() {
		p, err := c.br.Peek(n)
		if err != nil {
			return h, nil, err
		}
		c.discard = n
		return h, p, nil
	}
	if cap(c.big) < n {
		c.big = make([]byte, n)
	}
	p := c.big[:n]
	if _, err := io.ReadFull(c.br, p); err != nil {
		return h, nil, err
	}
	return h, p, nil
}

// fail sends a close frame for a protocol violation by the server and
// drops the connection.
func (c *wsConn) fail(code ws.StatusCode, why string) error {
	_ = c.writeFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(code, why)), 2*time.Second)
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
func (c *wsConn) finish(b []byte, op ws.OpCode, timeout time.Duration) error {
	defer c.wmu.Unlock()
	if cap(b) <= 64<<10 {
		c.wbuf = b[:0] // keep the grown buffer, not a huge one
	}
	if c.closeSent {
		return errWSClosed
	}
	p := b[maxClientHeader:]
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(p)), Masked: true, Mask: ws.NewMask()}
	start := maxClientHeader - ws.HeaderSize(h)
	c.hw = headerWriter(b[start:start:maxClientHeader])
	if err := ws.WriteHeader(&c.hw, h); err != nil {
		return err
	}
	ws.Cipher(p, h.Mask, 0)
	if op == ws.OpClose {
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

// writeFrame sends f (a whole, unmasked frame: pong, close) masked. Its
// payload is copied, not changed.
func (c *wsConn) writeFrame(f ws.Frame, timeout time.Duration) error {
	b := c.begin()
	b = append(b, f.Payload...)
	return c.finish(b, f.Header.OpCode, timeout)
}

// writeText sends one text message.
func (c *wsConn) writeText(p []byte, timeout time.Duration) error {
	b := c.begin()
	b = append(b, p...)
	return c.finish(b, ws.OpText, timeout)
}

// close drops the connection without a closing handshake.
func (c *wsConn) close() error { return c.nc.Close() }
