package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"switchboard/internal/bus"
	"switchboard/internal/clock"
	"switchboard/internal/gateway"
	"switchboard/internal/protocol"
)

// The transport tests drive the gateway's own WebSocket read and write path
// with a raw client that writes frames byte for byte, so they can send what
// a browser library never would: fragments, frames cut across TCP segments,
// unmasked or oversized frames, a peer that never answers. They use visitor
// sockets before authentication: any command there gets one reply
// (auth_required, with the command's id) and a 4001 close, which needs no
// chat service behind the gateway.

type testGW struct {
	t   *testing.T
	gw  *gateway.Gateway
	clk *clock.Fake
	srv *httptest.Server
}

func newTestGW(t *testing.T, opts gateway.Options) *testGW {
	t.Helper()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	b := bus.NewMemory()
	gw, err := gateway.New(nil, nil, b, clk, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if withoutPoller {
		gateway.DisablePolling(gw)
	}
	srv := httptest.NewServer(http.HandlerFunc(gw.ServeVisitor))
	t.Cleanup(func() {
		srv.Close()
		_ = b.Close()
	})
	return &testGW{t: t, gw: gw, clk: clk, srv: srv}
}

// waitConns waits until the gateway holds n sockets.
func (g *testGW) waitConns(n int) {
	g.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for g.gw.Connections() != n {
		if time.Now().After(deadline) {
			g.t.Fatalf("%d sockets open, want %d", g.gw.Connections(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawClient is a WebSocket client on a bare TCP connection.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

const handshake = "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// dial opens a socket; extra is written together with the handshake.
func (g *testGW) dial(extra []byte) *rawClient {
	g.t.Helper()
	c, err := net.Dial("tcp", g.srv.Listener.Addr().String())
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { _ = c.Close() })
	req := append([]byte(fmt.Sprintf(handshake, g.srv.Listener.Addr())), extra...)
	if _, err := c.Write(req); err != nil {
		g.t.Fatal(err)
	}
	rc := &rawClient{t: g.t, c: c, br: bufio.NewReader(c)}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		g.t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || res.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		g.t.Fatalf("handshake: %d %v", res.StatusCode, res.Header)
	}
	return rc
}

// frame encodes one client frame (masked unless unmasked is set).
func frame(op ws.OpCode, fin bool, p []byte, unmasked bool) []byte {
	var b bytes.Buffer
	h := ws.Header{Fin: fin, OpCode: op, Length: int64(len(p)), Masked: !unmasked}
	if !unmasked {
		h.Mask = ws.NewMask()
	}
	_ = ws.WriteHeader(&b, h)
	q := bytes.Clone(p)
	if !unmasked {
		ws.Cipher(q, h.Mask, 0)
	}
	b.Write(q)
	return b.Bytes()
}

func text(p string) []byte { return frame(ws.OpText, true, []byte(p), false) }

func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// next reads one server frame.
func (c *rawClient) next() (ws.Header, []byte) {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := ws.ReadFrame(c.br)
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	if f.Header.Masked {
		c.t.Fatal("the server masked a frame")
	}
	return f.Header, f.Payload
}

// reply reads a text frame and decodes its id and error code.
func (c *rawClient) reply() (id, typ, code string) {
	c.t.Helper()
	h, p := c.next()
	if h.OpCode != ws.OpText {
		c.t.Fatalf("got opcode %v (%q), want a text frame", h.OpCode, p)
	}
	var f struct {
		ID    string `json:"id"`
		Type  string `json:"type"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(p, &f); err != nil {
		c.t.Fatalf("server frame %q: %v", p, err)
	}
	return f.ID, f.Type, f.Error.Code
}

// closeFrame reads a close frame and returns its code.
func (c *rawClient) closeFrame() ws.StatusCode {
	c.t.Helper()
	h, p := c.next()
	if h.OpCode != ws.OpClose || len(p) < 2 {
		c.t.Fatalf("got opcode %v (%q), want a close frame", h.OpCode, p)
	}
	return ws.StatusCode(binary.BigEndian.Uint16(p))
}

// eof waits for the server to drop the connection.
func (c *rawClient) eof() {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c.br); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatal("the server did not drop the connection")
		}
	}
}

// authRequired checks the one reply to a command sent before auth, then
// the 4001 close, and completes the close handshake.
func (c *rawClient) authRequired(id string) {
	c.t.Helper()
	gotID, typ, code := c.reply()
	if gotID != id || typ != "error" || code != "auth_required" {
		c.t.Fatalf("reply %q %q %q, want %q error auth_required", gotID, typ, code, id)
	}
	if code := c.closeFrame(); code != protocol.CloseUnauthenticated {
		c.t.Fatalf("close %d, want 4001", code)
	}
	c.write(frame(ws.OpClose, true, ws.NewCloseFrameBody(protocol.CloseUnauthenticated, ""), false))
	c.eof()
}

// TestTransportFragmentedMessage: a message in three fragments, with a ping
// between them (control frames may interleave), is read as one message; the
// ping is answered at once.
func TestTransportFragmentedMessage(t *testing.T) {
	g := newTestGW(t, gateway.Options{})
	c := g.dial(nil)
	msg := `{"id":"frag-1","type":"ping"}`
	c.write(frame(ws.OpText, false, []byte(msg[:5]), false))
	c.write(frame(ws.OpPing, true, []byte("are you there"), false))
	c.write(frame(ws.OpContinuation, false, []byte(msg[5:12]), false))
	c.write(frame(ws.OpContinuation, true, []byte(msg[12:]), false))
	if h, p := c.next(); h.OpCode != ws.OpPong || string(p) != "are you there" {
		t.Fatalf("got %v %q, want the pong", h.OpCode, p)
	}
	c.authRequired("frag-1")
	g.waitConns(0)
}

// TestTransportFrameSplitAcrossReads: a frame arriving a few bytes at a
// time (header cut in the middle, payload in pieces) is read whole, and so
// is a frame sent in the same segment as the handshake.
func TestTransportFrameSplitAcrossReads(t *testing.T) {
	g := newTestGW(t, gateway.Options{})
	c := g.dial(nil)
	b := text(`{"id":"split-1","type":"ping","data":{"pad":"` + strings.Repeat("x", 300) + `"}}`)
	for _, cut := range [][2]int{{0, 1}, {1, 3}, {3, 7}, {7, 50}, {50, len(b)}} {
		c.write(b[cut[0]:cut[1]])
		// Separate segments, so the server reads the frame in pieces; the
		// test does not depend on it.
		time.Sleep(5 * time.Millisecond)
	}
	c.authRequired("split-1")

	c2 := g.dial(text(`{"id":"early","type":"ping"}`))
	c2.authRequired("early")
	g.waitConns(0)
}

// TestTransportBadFrames: an oversize frame is closed with 1009 without its
// payload being read, an unmasked one with 1002; the node serves others.
func TestTransportBadFrames(t *testing.T) {
	g := newTestGW(t, gateway.Options{})
	c := g.dial(nil)
	var b bytes.Buffer
	h := ws.Header{Fin: true, OpCode: ws.OpText, Length: protocol.MaxFrameBytes + 1, Masked: true, Mask: ws.NewMask()}
	_ = ws.WriteHeader(&b, h)
	c.write(b.Bytes()) // the header alone announces too much
	if code := c.closeFrame(); code != protocol.CloseTooBig {
		t.Fatalf("oversize: close %d, want 1009", code)
	}
	// The server cannot parse what follows the bad header: it drops the
	// connection when the client hangs up (or after closeWait).
	c.write(frame(ws.OpClose, true, ws.NewCloseFrameBody(protocol.CloseTooBig, ""), false))
	_ = c.c.Close()
	g.waitConns(0)

	// Fragments add up: two halves over the limit are too big too.
	c = g.dial(nil)
	half := bytes.Repeat([]byte(" "), protocol.MaxFrameBytes/2+1)
	c.write(frame(ws.OpText, false, half, false))
	c.write(frame(ws.OpContinuation, true, half, false))
	if code := c.closeFrame(); code != protocol.CloseTooBig {
		t.Fatalf("oversize fragments: close %d, want 1009", code)
	}

	c = g.dial(nil)
	c.write(frame(ws.OpText, true, []byte(`{"id":"x","type":"ping"}`), true))
	if code := c.closeFrame(); code != ws.StatusProtocolError {
		t.Fatalf("unmasked: close %d, want 1002", code)
	}
	// A peer that never hangs up is dropped after closeWait (its timer was
	// armed before the close frame was written).
	g.clk.Advance(10 * time.Second)
	c.eof()

	c = g.dial(nil)
	c.write(text(`{"id":"after","type":"ping"}`))
	c.authRequired("after")
}

// TestTransportBusySocketLingers: frames arriving close together are read
// by a reader that waits on for the next one (lingerFor); once the socket is
// quiet it goes back to the poller and is still served. Real time: the
// linger is a network deadline.
func TestTransportBusySocketLingers(t *testing.T) {
	g := newTestGW(t, gateway.Options{})
	c := g.dial(nil)
	for i := range 10 {
		p := []byte(fmt.Sprintf("ping %d", i))
		c.write(frame(ws.OpPing, true, p, false))
		if h, got := c.next(); h.OpCode != ws.OpPong || !bytes.Equal(got, p) {
			t.Fatalf("ping %d: got %v %q", i, h.OpCode, got)
		}
		time.Sleep(20 * time.Millisecond) // busy, not back-to-back
	}
	time.Sleep(700 * time.Millisecond) // quiet for longer than lingerFor
	c.write(text(`{"id":"after-quiet","type":"ping"}`))
	c.authRequired("after-quiet")
	g.waitConns(0)
}

// TestTransportCloseHandshake: a client's close is echoed and the
// connection dropped; the socket is gone from the gateway.
func TestTransportCloseHandshake(t *testing.T) {
	g := newTestGW(t, gateway.Options{})
	c := g.dial(nil)
	g.waitConns(1)
	c.write(frame(ws.OpPong, true, []byte("unsolicited"), false)) // ignored
	c.write(frame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusGoingAway, "bye"), false))
	if code := c.closeFrame(); code != ws.StatusGoingAway {
		t.Fatalf("echoed close %d, want 1001", code)
	}
	c.eof()
	g.waitConns(0)
}

// TestTransportManySocketsReadableAtOnce: every socket gets a frame before
// any reply is read; each gets exactly its own reply.
func TestTransportManySocketsReadableAtOnce(t *testing.T) {
	g := newTestGW(t, gateway.Options{})
	const n = 200
	cs := make([]*rawClient, n)
	for i := range cs {
		cs[i] = g.dial(nil)
	}
	g.waitConns(n)
	for i, c := range cs {
		c.write(text(fmt.Sprintf(`{"id":"s%d","type":"ping"}`, i)))
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, typ, code := c.reply()
			if id != fmt.Sprintf("s%d", i) || typ != "error" || code != "auth_required" {
				t.Errorf("socket %d: reply %q %q %q", i, id, typ, code)
			}
		}()
	}
	wg.Wait()
	for _, c := range cs {
		_ = c.c.Close()
	}
	g.waitConns(0)
}

// TestTransportVanishedPeer: a peer that stops answering (half-open: no
// FIN, no reads) is closed 4004 after the idle timeout, and dropped when
// it does not answer the close either. Fake clock, no waiting on timers.
func TestTransportVanishedPeer(t *testing.T) {
	g := newTestGW(t, gateway.Options{IdleTimeout: time.Minute, AuthTimeout: time.Hour})
	c := g.dial(nil)
	g.waitConns(1)
	waitPending(t, g.clk, 2) // the idle and the auth timers are armed
	g.clk.Advance(time.Minute)
	if code := c.closeFrame(); code != protocol.CloseHeartbeatTimeout {
		t.Fatalf("close %d, want 4004", code)
	}
	if g.gw.Connections() != 1 {
		t.Fatal("dropped before the close handshake had its time")
	}
	g.clk.Advance(10 * time.Second) // the peer never answers
	c.eof()
	g.waitConns(0)
}

// TestTransportShutdownCloses1012: Shutdown closes idle sockets with 1012
// and returns once the peers answered.
func TestTransportShutdownCloses1012(t *testing.T) {
	g := newTestGW(t, gateway.Options{})
	cs := []*rawClient{g.dial(nil), g.dial(nil)}
	g.waitConns(2)
	done := make(chan error, 1)
	go func() { done <- g.gw.Shutdown(t.Context()) }()
	for _, c := range cs {
		if code := c.closeFrame(); code != protocol.CloseServiceRestart {
			t.Fatalf("close %d, want 1012", code)
		}
		c.write(frame(ws.OpClose, true, ws.NewCloseFrameBody(protocol.CloseServiceRestart, ""), false))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := g.gw.Connections(); n != 0 {
		t.Fatalf("%d sockets after Shutdown", n)
	}
}

// withoutPoller makes newTestGW read each socket on a goroutine of its own,
// the path for other systems and for connections the poller cannot watch.
var withoutPoller bool

// TestTransportWithoutPoller runs the transport tests on that path.
func TestTransportWithoutPoller(t *testing.T) {
	withoutPoller = true
	defer func() { withoutPoller = false }()
	for name, fn := range map[string]func(*testing.T){
		"fragmented": TestTransportFragmentedMessage, "split": TestTransportFrameSplitAcrossReads,
		"bad frames": TestTransportBadFrames, "close": TestTransportCloseHandshake,
		"many": TestTransportManySocketsReadableAtOnce, "vanished": TestTransportVanishedPeer,
		"shutdown": TestTransportShutdownCloses1012, "busy": TestTransportBusySocketLingers,
	} {
		t.Run(name, fn)
	}
}

func waitPending(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for clk.Pending() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d timers pending, want %d", clk.Pending(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
