package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// wsServer accepts one WebSocket and hands it to serve (server side, with
// gobwas/ws writing frames byte for byte).
func wsServer(t *testing.T, serve func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		u := ws.Upgrader{OnHeader: func(k, v []byte) error {
			if string(k) == "Cookie" && string(v) != "sb_session=abc" {
				return ws.RejectConnectionError(ws.RejectionStatus(http.StatusUnauthorized))
			}
			return nil
		}}
		if _, err := u.Upgrade(c); err != nil {
			return
		}
		serve(c)
	}()
	return "ws://" + l.Addr().String() + "/ws/staff"
}

// readClientFrame reads one client frame and checks it is masked.
func readClientFrame(t *testing.T, c net.Conn) ws.Frame {
	f, err := ws.ReadFrame(c)
	if err != nil {
		t.Error(err)
		return f
	}
	if !f.Header.Masked {
		t.Error("client frame not masked")
	}
	return ws.UnmaskFrameInPlace(f)
}

func TestWSClientFrames(t *testing.T) {
	big := bytes.Repeat([]byte("y"), 70000) // larger than the read buffer, 8-byte length
	got := make(chan string, 10)
	url := wsServer(t, func(c net.Conn) {
		// A message in three fragments with a ping between them.
		_ = ws.WriteFrame(c, ws.NewFrame(ws.OpText, false, []byte(`{"type":"a`)))
		_ = ws.WriteFrame(c, ws.NewPingFrame([]byte("hi")))
		_ = ws.WriteFrame(c, ws.NewFrame(ws.OpContinuation, false, []byte(`ck","id":"c1",`)))
		_ = ws.WriteFrame(c, ws.NewFrame(ws.OpContinuation, true, []byte(`"data":{"x":1}}`)))
		pong := readClientFrame(t, c)
		if pong.Header.OpCode != ws.OpPong || string(pong.Payload) != "hi" {
			t.Errorf("pong: %+v %q", pong.Header, pong.Payload)
		}
		// Two client messages: a short one and one with a 16-bit length.
		for _, want := range []string{"hello", strings.Repeat("z", 300)} {
			f := readClientFrame(t, c)
			if f.Header.OpCode != ws.OpText || !f.Header.Fin || string(f.Payload) != want {
				t.Errorf("client frame %+v len %d", f.Header, len(f.Payload))
			}
			got <- string(f.Payload)
		}
		_ = ws.WriteFrame(c, ws.NewTextFrame(big))
		// Close: the client echoes the code.
		_ = ws.WriteFrame(c, ws.NewCloseFrame(ws.NewCloseFrameBody(4008, "slow")))
		f := readClientFrame(t, c)
		if f.Header.OpCode != ws.OpClose || len(f.Payload) < 2 || int(f.Payload[0])<<8|int(f.Payload[1]) != 4008 {
			t.Errorf("close echo: %+v %v", f.Header, f.Payload)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialWS(ctx, url, nil, "sb_session=abc", 4096)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.readMessage()
	if err != nil || string(msg) != `{"type":"ack","id":"c1","data":{"x":1}}` {
		t.Fatalf("message %q, %v", msg, err)
	}
	if err := c.writeText([]byte("hello"), time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.writeText([]byte(strings.Repeat("z", 300)), time.Second); err != nil {
		t.Fatal(err)
	}
	<-got
	<-got
	msg, err = c.readMessage()
	if err != nil || !bytes.Equal(msg, big) {
		t.Fatalf("big message: %d bytes, %v", len(msg), err)
	}
	_, err = c.readMessage()
	var ce *closeError
	if !errors.As(err, &ce) || ce.Code != 4008 || ce.Reason != "slow" {
		t.Fatalf("after close: %v", err)
	}
	if err := c.writeText([]byte("late"), time.Second); err == nil {
		t.Fatal("write after close succeeded")
	}
}

func TestWSClientRefused(t *testing.T) {
	url := wsServer(t, func(c net.Conn) {})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dialWS(ctx, url, nil, "sb_session=wrong", 4096); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v", err)
	}
}

func TestWSClientRejectsMaskedServerFrames(t *testing.T) {
	url := wsServer(t, func(c net.Conn) {
		f := ws.NewTextFrame([]byte("x"))
		f.Header.Masked = true
		f.Header.Mask = ws.NewMask()
		_ = ws.WriteFrame(c, ws.MaskFrameInPlace(f))
		time.Sleep(100 * time.Millisecond)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialWS(ctx, url, nil, "", 4096)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.readMessage(); err == nil || !strings.Contains(err.Error(), "masked") {
		t.Fatalf("err = %v", err)
	}
}

// TestWSClientMasksEachFrame: every client frame is masked, with a key of
// its own, and the payload on the wire unmasks to what was sent.
func TestWSClientMasksEachFrame(t *testing.T) {
	const frames = 20
	keys := make(chan [4]byte, frames)
	url := wsServer(t, func(c net.Conn) {
		for range frames {
			f, err := ws.ReadFrame(c)
			if err != nil {
				t.Error(err)
				return
			}
			if !f.Header.Masked || bytes.Equal(f.Payload, []byte("same payload")) {
				t.Errorf("frame not masked: %+v %q", f.Header, f.Payload)
			}
			keys <- f.Header.Mask
			if f = ws.UnmaskFrameInPlace(f); string(f.Payload) != "same payload" {
				t.Errorf("payload %q", f.Payload)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialWS(ctx, url, nil, "", 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	seen := map[[4]byte]bool{}
	for range frames {
		if err := c.writeText([]byte("same payload"), time.Second); err != nil {
			t.Fatal(err)
		}
		k := <-keys
		if seen[k] {
			t.Fatalf("mask key %x used twice", k)
		}
		seen[k] = true
	}
}

// TestWSClientRefusesMalformedFrames: a frame the server may not send ends
// the connection with a protocol error, and the client says why in a close
// frame with status 1002 (1009 for a message too big).
func TestWSClientRefusesMalformedFrames(t *testing.T) {
	hdr := func(h ws.Header) []byte {
		var b bytes.Buffer
		if err := ws.WriteHeader(&b, h); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	frame := func(f ws.Frame) []byte {
		b, err := ws.CompileFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	rsv := ws.NewTextFrame([]byte("x"))
	rsv.Header.Rsv = ws.Rsv(true, false, false)
	longPing := ws.NewPingFrame(bytes.Repeat([]byte("p"), 126))
	msb := hdr(ws.Header{Fin: true, OpCode: ws.OpText, Length: 1 << 16}) // 8-byte length
	msb[2] |= 0x80                                                       // WriteHeader cannot encode that
	for _, tc := range []struct {
		name, raw, err string
		code           ws.StatusCode
	}{
		{"reserved bits", string(frame(rsv)), "rsv", ws.StatusProtocolError},
		{"reserved opcode", string(frame(ws.NewFrame(ws.OpCode(3), true, []byte("x")))), "reserved op code", ws.StatusProtocolError},
		{"continuation first", string(frame(ws.NewFrame(ws.OpContinuation, true, []byte("x")))), "continuation", ws.StatusProtocolError},
		{"new message inside a fragmented one", string(cat(
			frame(ws.NewFrame(ws.OpText, false, []byte("a"))),
			frame(ws.NewTextFrame([]byte("b"))))), "continuation", ws.StatusProtocolError},
		{"fragmented ping", string(frame(ws.NewFrame(ws.OpPing, false, nil))), "control frame is not final", ws.StatusProtocolError},
		{"long ping", string(frame(longPing)), "control frame payload", ws.StatusProtocolError},
		{"length with its top bit set", string(msb), "most significant bit", ws.StatusProtocolError},
		{"frame too big", string(hdr(ws.Header{Fin: true, OpCode: ws.OpText, Length: wsReadLimit + 1})), "too big", ws.StatusMessageTooBig},
		{"message too big", string(cat(
			frame(ws.NewFrame(ws.OpText, false, make([]byte, wsReadLimit/2+1))),
			frame(ws.NewFrame(ws.OpContinuation, true, make([]byte, wsReadLimit/2+1))))), "too big", ws.StatusMessageTooBig},
		{"close with a 1-byte body", string(frame(ws.NewCloseFrame([]byte{3}))), "close frame", ws.StatusProtocolError},
		{"close with a reserved status", string(frame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNoStatusRcvd, "")))), "close frame", ws.StatusProtocolError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			closed := make(chan ws.Frame, 1)
			url := wsServer(t, func(c net.Conn) {
				if _, err := c.Write(raw); err != nil {
					t.Error(err)
					return
				}
				closed <- readClientFrame(t, c)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := dialWS(ctx, url, nil, "", 4096)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.readMessage()
			var pe wsProtocolError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want a protocol error about %q", err, tc.err)
			}
			f := <-closed
			if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != tc.code {
				t.Fatalf("client answered %+v %q, want a close %d", f.Header, f.Payload, tc.code)
			}
			if err := c.writeText([]byte("late"), time.Second); err == nil {
				t.Fatal("write after a protocol error succeeded")
			}
		})
	}
}

// TestWSClientCloseWithoutStatus: an empty close frame is answered with
// an empty one and reported as 1005.
func TestWSClientCloseWithoutStatus(t *testing.T) {
	echo := make(chan ws.Frame, 1)
	url := wsServer(t, func(c net.Conn) {
		_ = ws.WriteFrame(c, ws.NewCloseFrame(nil))
		echo <- readClientFrame(t, c)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dialWS(ctx, url, nil, "", 4096)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.readMessage()
	var ce *closeError
	if !errors.As(err, &ce) || ce.Code != ws.StatusNoStatusRcvd {
		t.Fatalf("err = %v", err)
	}
	if f := <-echo; f.Header.OpCode != ws.OpClose || len(f.Payload) != 0 {
		t.Fatalf("echo %+v %q", f.Header, f.Payload)
	}
}

// discardConn swallows what the client writes.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) Close() error                     { return nil }

// loopReader serves the same bytes forever.
type loopReader struct {
	b   []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.b[r.off:])
		n += k
		r.off = (r.off + k) % len(r.b)
	}
	return n, nil
}

// BenchmarkWSClientFraming: the framing cost of one message read and one
// sent (no network: the tool's CPU per message is mostly system calls).
func BenchmarkWSClientFraming(b *testing.B) {
	in, err := ws.CompileFrame(ws.NewTextFrame(bytes.Repeat([]byte("m"), 200)))
	if err != nil {
		b.Fatal(err)
	}
	c := &wsConn{nc: discardConn{}, br: bufio.NewReaderSize(&loopReader{b: in}, 4096)}
	out := bytes.Repeat([]byte("o"), 150)
	b.ReportAllocs()
	for b.Loop() {
		if p, err := c.readMessage(); err != nil || len(p) != 200 {
			b.Fatal(len(p), err)
		}
		if err := c.writeText(out, time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

func TestScanFrame(t *testing.T) {
	var f inFrame
	raw := []byte(` { "type" : "message", "conversation_id":7,"seq":12, "data":{"id":5,"tags":["a","b\"}"],"body":"sb|x|v|1|2|3|xx","n":null} } `)
	if !scanFrame(raw, &f) || string(f.Type) != "message" || f.ConversationID != 7 || f.Seq != 12 {
		t.Fatalf("%+v", f)
	}
	if b, ok := jsonString(f.Data, "body"); !ok || string(b) != "sb|x|v|1|2|3|xx" {
		t.Fatalf("body %q %v", b, ok)
	}
	// Escapes: the scanner defers to encoding/json.
	raw = []byte(`{"type":"error","id":"s\u0031","error":{"code":"rate_limited","message":"slow \"down\""}}`)
	if scanFrame(raw, &f) {
		t.Fatal("escaped id scanned")
	}
	if !decodeFrameSlow(raw, &f) || string(f.ID) != "s1" || f.err() == nil || !strings.Contains(f.err().Error(), `rate_limited: slow "down"`) {
		t.Fatalf("%+v %v", f, f.err())
	}
	if b, ok := jsonString([]byte(`{"body":"a\nb\\"}`), "body"); !ok || string(b) != "a\nb\\" {
		t.Fatalf("escaped body %q %v", b, ok)
	}
	for _, bad := range []string{``, `[]`, `{"type":"ack"`, `{"type":"ack",}`, `{"type":}`, `{"data":{"x":1}`, `{"id":"c1"}`} {
		if scanFrame([]byte(bad), &f) {
			t.Errorf("%q scanned", bad)
		}
	}
}

func TestBodyRoundTrip(t *testing.T) {
	e := &engine{cfg: Config{Size: 80}, run: "0a1b2c3d", visitors: make([]atomic.Pointer[visitor], 10)}
	e.prefix = "sb|" + e.run + "|"
	e.prefixB = []byte(e.prefix)
	e.pad = strings.Repeat("x", MaxBody)
	ts := time.Now().UnixNano()
	b := e.body('a', 9, 12345, ts)
	if len(b) != 80 {
		t.Fatalf("body %q: %d bytes", b, len(b))
	}
	dir, vis, n, got, ok := e.parseBody([]byte(b))
	if !ok || dir != 'a' || vis != 9 || n != 12345 || got != ts {
		t.Fatalf("%c %d %d %d %v", dir, vis, n, got, ok)
	}
	for _, bad := range []string{"sb|0a1b2c3d|a|10|1|5|", "sb|0a1b2c3d|a|1|0|5|", "sb|other|a|1|1|5|", "sb|0a1b2c3d|a|1|1|", "sb|0a1b2c3d|a|1|1|99999999999999999999|"} {
		if _, _, _, _, ok := e.parseBody([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	frame := e.appendSend(nil, 'a', 3, 7, ts, 42)
	var v struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			ConversationID int64  `json:"conversation_id"`
			ClientID       string `json:"client_id"`
			Body           string `json:"body"`
		} `json:"data"`
	}
	if err := json.Unmarshal(frame, &v); err != nil || v.ID != "r3-7" || v.Type != "send" || v.Data.ConversationID != 42 ||
		v.Data.ClientID != "sb0a1b2c3d-a3-7" || v.Data.Body != e.body('a', 3, 7, ts) {
		t.Fatalf("%s: %+v %v", frame, v, err)
	}
}
