package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/internal/clock"
	"switchboard/internal/server"
	"switchboard/internal/store"
)

// TestSlowConsumerIsClosedAndOthersFlow: a staff socket that stops reading
// overflows its bounded queue and is closed with 4008, while another staff
// socket keeps receiving every event.
func TestSlowConsumerIsClosedAndOthersFlow(t *testing.T) {
	n := startNode(t, "", func(c *server.Config) { c.Gateway.SendQueue, c.Gateway.StaffSendQueue = 64, 64 })
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	bob := n.login("bob@demo.test", "demo-agent-pass")
	healthy := bob.ws()

	// Alice's socket never reads.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	slow, _, err := websocket.Dial(ctx, strings.Replace(n.base, "http", "ws", 1)+"/ws/staff",
		&websocket.DialOptions{HTTPClient: alice.http, HTTPHeader: http.Header{"Origin": {n.base}}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()

	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	// Presence changes fan out to every staff socket of the site without a
	// database write: a cheap way to produce many large events.
	long := strings.Repeat("p", 1800)
	const signals = 6000
	for i := 0; i < signals; i++ {
		f := vw.send("presence", map[string]any{"url": fmt.Sprintf("https://shop.test/%s/%d", long, i), "title": "t", "visible": true})
		if f.Type != "ack" {
			t.Fatalf("presence: %+v", f.Error)
		}
		if i%32 == 31 || i == signals-1 {
			// The healthy socket keeps up (a loaded machine must not make it
			// fall 64 frames behind and be closed as slow too); the slow
			// one never reads.
			seen := fmt.Sprintf("/%d\"", i)
			healthy.waitEvent("presence", func(f frame) bool { return strings.Contains(string(f.Data), seen) })
		}
	}

	// The server dropped the slow socket: only the healthy staff socket and
	// the visitor remain.
	deadline := time.Now().Add(20 * time.Second)
	for n.srv.GW.Connections() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets open, want 2: the slow one was not dropped", n.srv.GW.Connections())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Once it reads, the slow client finds the close: 4008 when the close
	// frame could still get through, otherwise an abrupt end of the
	// connection (its buffers were full). Either way it resumes from its cursor.
	readCtx, cancelRead := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelRead()
	slow.SetReadLimit(1 << 20)
	for {
		_, _, err := slow.Read(readCtx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != 4008 && code != -1 {
				t.Fatalf("slow socket ended with %v (code %d), want 4008 or an abrupt close", err, code)
			}
			if readCtx.Err() != nil {
				t.Fatal("the slow socket was never closed")
			}
			break
		}
	}
}

// TestIdleSocketsAndPresenceExpireOnTheClock: with a fake clock, a visitor
// who stops signalling goes offline for staff after 60 s, and a socket that
// sends nothing is closed with 4004 after the idle timeout. No sleeps.
func TestIdleSocketsAndPresenceExpireOnTheClock(t *testing.T) {
	clk := clock.NewFake(time.Now()) // real now: the cookie jar judges expiry by the wall clock
	n := startNode(t, "", func(c *server.Config) { c.Clock = clk })
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()

	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	vw.send("presence", map[string]any{"url": "https://shop.test/cart", "title": "Cart", "visible": true})
	aw.waitEvent("presence", func(f frame) bool {
		p := decode[struct {
			Online bool
			URL    string
		}](t, f.Data)
		return p.Online && p.URL == "https://shop.test/cart"
	})

	clk.Advance(59 * time.Second)
	vw.send("ping", nil) // keeps the socket alive and the visitor online
	aw.send("ping", nil)
	clk.Advance(59 * time.Second)
	for _, f := range aw.drain(100 * time.Millisecond) {
		if f.Type == "presence" && !decode[struct{ Online bool }](t, f.Data).Online {
			t.Fatal("visitor went offline although they pinged 59 s ago")
		}
		if f.Type == "presence" {
			// The ping re-announced the visitor for other nodes (more than
			// 45 s since the last announcement); consoles get nothing for it.
			t.Fatalf("a re-announcement without change reached the console: %s", f.Data)
		}
	}
	clk.Advance(time.Second)
	aw.waitEvent("presence", func(f frame) bool { return !decode[struct{ Online bool }](t, f.Data).Online })

	// 75 s after its last frame the visitor socket is closed as idle.
	aw.send("ping", nil)
	clk.Advance(16 * time.Second)
	if code := vw.waitClosed(); code != 4004 {
		t.Fatalf("idle close code %d, want 4004", code)
	}
}

// TestShutdownUnderLoadLosesNothingAcknowledged: visitors send as fast as
// they can while the node shuts down. Every acknowledged message is in the
// timeline after a restart, exactly once; unacknowledged ones got an error
// or a closed socket, never a false ack.
func TestShutdownUnderLoadLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	n.seed()
	type sender struct {
		v     *visitor
		conv  int64
		acked []string
	}
	var senders []*sender
	var wg sync.WaitGroup
	var acks atomic.Int64
	for i := 0; i < 4; i++ {
		v := n.newVisitor("demo", "")
		vw, _ := v.ws()
		s := &sender{v: v, conv: requestChat(t, vw, "load")}
		senders = append(senders, s)
		wg.Add(1)
		go func(s *sender, vw *wsClient) {
			defer wg.Done()
			for j := 0; ; j++ {
				id := fmt.Sprintf("load-%d", j)
				f, err := vw.trySend("send", map[string]any{"conversation_id": s.conv, "client_id": id, "body": "x"}, 10*time.Second)
				if err != nil || f.Type != "ack" {
					return
				}
				s.acked = append(s.acked, id)
				acks.Add(1)
			}
		}(s, vw)
	}
	// Shut down in the middle of the load.
	for deadline := time.Now().Add(10 * time.Second); acks.Load() < 100 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	n.shutdown()
	wg.Wait() // every sender stopped: its socket was closed under it

	n2 := startNode(t, dir)
	total := 0
	for _, s := range senders {
		s.v.n = n2
		var h struct{ Messages []message }
		if st := s.v.do("GET", fmt.Sprintf("/api/v1/visitor/conversations/%d/messages?limit=1000", s.conv), nil, &h); st != 200 {
			t.Fatalf("history: %d", st)
		}
		count := map[string]int{}
		for _, m := range h.Messages {
			if m.ClientID != "" {
				count[m.ClientID]++
			}
		}
		for _, id := range s.acked {
			if count[id] != 1 {
				t.Fatalf("acknowledged %s appears %d times after restart", id, count[id])
			}
		}
		for id, c := range count {
			if c != 1 {
				t.Fatalf("%s stored %d times", id, c)
			}
		}
		total += len(s.acked)
	}
	if total == 0 {
		t.Fatal("no message was acknowledged before the shutdown")
	}
	t.Logf("%d messages acknowledged before shutdown, all present after restart", total)
}

// TestConcurrentSendersGetGapFreeTimeline: many sockets writing into one
// conversation at once; each follower sees seqs 1..N exactly once, in order.
func TestConcurrentSendersGetGapFreeTimeline(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	aw.send("availability", map[string]any{"availability": "available"})
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "go")
	aw.send("join", map[string]any{"conversation_id": conv})
	follower := alice.ws()
	follower.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0})

	var wg sync.WaitGroup
	const per = 50
	socks := []*wsClient{vw, aw}
	for i := 0; i < 2; i++ {
		extra, _ := v.ws()
		socks = append(socks, extra)
	}
	for i, s := range socks {
		wg.Add(1)
		go func(i int, s *wsClient) {
			defer wg.Done()
			for j := 0; j < per; j++ {
				f, err := s.trySend("send", map[string]any{"conversation_id": conv, "client_id": fmt.Sprintf("s%d-%d", i, j), "body": "m"}, 10*time.Second)
				if err != nil || f.Type != "ack" {
					t.Errorf("send: %v %+v", err, f.Error)
					return
				}
			}
		}(i, s)
	}
	wg.Wait()
	var conv2 struct {
		Conversation struct {
			LastSeq int64 `json:"last_seq"`
		} `json:"conversation"`
	}
	alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), nil, &conv2)
	want := conv2.Conversation.LastSeq
	var seqs []int64
	deadline := time.After(10 * time.Second)
	for len(seqs) == 0 || seqs[len(seqs)-1] < want {
		select {
		case f := <-follower.events:
			if f.Type == "message" {
				seqs = append(seqs, f.Seq)
			}
		case <-deadline:
			t.Fatalf("follower saw %d of %d", len(seqs), want)
		}
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			b, _ := json.Marshal(seqs)
			t.Fatalf("follower timeline not gap-free at %d: %s", i, b)
		}
	}
}

// TestRevocationWithoutTheBusEventStillClosesSockets: the bus is
// at-most-once, so a revoked session must not depend on the user_revoked
// event: the staff socket re-checks its session every minute (fake clock).
func TestRevocationWithoutTheBusEventStillClosesSockets(t *testing.T) {
	clk := clock.NewFake(time.Now())
	n := startNode(t, "", func(c *server.Config) { c.Clock = clk })
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	ctx := context.Background()
	// Revoke directly in the store: no event is published.
	err := n.srv.Store.InTx(ctx, func(tx store.Tx) error {
		return tx.DeleteUserAuthSessions(ctx, alice.userID())
	})
	if err != nil {
		t.Fatal(err)
	}
	aw.send("ping", nil) // still open: nothing told it yet
	clk.Advance(time.Minute)
	if code := aw.waitClosed(); code != 4009 {
		t.Fatalf("close code %d, want 4009", code)
	}
}

// TestShutdownClosesUnauthenticatedSockets: a socket that has not sent its
// auth frame yet still gets 1012 at shutdown, without the node waiting for
// its auth timeout.
func TestShutdownClosesUnauthenticatedSockets(t *testing.T) {
	n := startNode(t, "", func(c *server.Config) { c.Gateway.AuthTimeout = time.Hour })
	w, err := dialWS(t, strings.Replace(n.base, "http", "ws", 1)+"/ws/visitor", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for n.srv.GW.Connections() != 1 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	n.shutdown()
	if code := w.waitClosed(); code != 1012 {
		t.Fatalf("close code %d, want 1012", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
}

// TestReadinessDropsBeforeTheListenerCloses: with a drain delay, /readyz
// answers 503 while the node still serves, so a load balancer moves away
// before connections are refused.
func TestReadinessDropsBeforeTheListenerCloses(t *testing.T) {
	n := startNode(t, "", func(c *server.Config) { c.DrainDelay = 2 * time.Second })
	hc := &http.Client{Timeout: 2 * time.Second}
	status := func(path string) int {
		res, err := hc.Get(n.base + path)
		if err != nil {
			return 0
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := status("/readyz"); st != 200 {
		t.Fatalf("readyz %d before shutdown", st)
	}
	stopped := make(chan struct{})
	go func() { n.shutdown(); close(stopped) }()
	defer func() { <-stopped }()
	deadline := time.Now().Add(2 * time.Second)
	for status("/readyz") != 503 {
		if time.Now().After(deadline) {
			t.Fatal("readyz never reported draining")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := status("/healthz"); st != 200 {
		t.Fatalf("healthz %d while draining: the node should still serve", st)
	}
}

// TestSignOutClosesThatSessionsSockets: signing out closes the sockets of
// that sign-in at once (4009), and leaves the user's other sign-ins alone.
func TestSignOutClosesThatSessionsSockets(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	laptop := n.login("alice@demo.test", "demo-agent-pass")
	phone := n.login("alice@demo.test", "demo-agent-pass")
	lw := laptop.ws()
	pw := phone.ws()
	if st := laptop.do("POST", "/api/v1/auth/logout", nil, nil); st != 204 {
		t.Fatalf("logout: %d", st)
	}
	if code := lw.waitClosed(); code != 4009 {
		t.Fatalf("laptop socket closed with %d, want 4009", code)
	}
	if f := pw.send("ping", nil); f.Type != "ack" {
		t.Fatalf("the other sign-in's socket was affected: %+v", f)
	}
	if st := phone.do("GET", "/api/v1/me", nil, nil); st != 200 {
		t.Fatalf("the other sign-in was signed out: %d", st)
	}
}
