package gateway

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestWriteFrameLengths: frames around each header length boundary (7-bit,
// 16-bit, 64-bit) and around the pooled-buffer cut-off are written whole
// and decode as sent.
func TestWriteFrameLengths(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	c := &wsConn{c: server}
	br := bufio.NewReader(client)
	for _, n := range []int{0, 1, 125, 126, 127, smallFrame - 5, smallFrame - 4, smallFrame, 65535, 65536, 200_000} {
		p := bytes.Repeat([]byte{byte(n)}, n)
		done := make(chan error, 1)
		go func() { done <- c.writeFrame(ws.OpText, p, 5*time.Second) }()
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := ws.ReadFrame(br)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("%d bytes: write: %v", n, err)
		}
		if !f.Header.Fin || f.Header.Masked || f.Header.OpCode != ws.OpText || !bytes.Equal(f.Payload, p) {
			t.Fatalf("%d bytes: got header %+v and %d bytes", n, f.Header, len(f.Payload))
		}
	}
	if err := c.writeClose(ws.StatusNormalClosure, string(bytes.Repeat([]byte("r"), 200)), time.Second); err != nil {
		t.Fatal(err)
	}
	f, err := ws.ReadFrame(br)
	if err != nil || f.Header.OpCode != ws.OpClose || len(f.Payload) != ws.MaxControlFramePayloadSize {
		t.Fatalf("close frame: %+v %d %v (a long reason is cut to fit a control frame)", f.Header, len(f.Payload), err)
	}
	if err := c.writeFrame(ws.OpText, []byte("late"), time.Second); err != errCloseSent {
		t.Fatalf("write after close: %v, want errCloseSent", err)
	}
}
