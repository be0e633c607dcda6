package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"switchboard/internal/server"
	"switchboard/internal/store/sqlstore"
	"switchboard/internal/store/sqlstore/pgtest"
)

// twoNodeChat starts two nodes sharing dir and the NATS server at url, a
// visitor on node A with a chat, and alice on node B, available and joined,
// both following the conversation.
type twoNodes struct {
	a, b  *node
	alice *staffClient
	aw    *wsClient // alice's socket, on node B
	v     *visitor
	vw    *wsClient // the visitor's socket, on node A
	conv  int64
}

func twoNodeChat(t *testing.T, url, dir, first string) twoNodes {
	t.Helper()
	subject := fmt.Sprintf("sbtest.%d", time.Now().UnixNano())
	withBus := func(node string) func(*server.Config) {
		return func(c *server.Config) { c.BusURL, c.BusSubject, c.NodeID = url, subject, node }
	}
	var n twoNodes
	n.a = startNode(t, dir, withBus("node-a"))
	n.a.seed()
	n.b = startNode(t, dir, withBus("node-b"))
	n.alice = n.b.login("alice@demo.test", "demo-agent-pass")
	n.aw = n.alice.ws()
	n.aw.send("availability", map[string]any{"availability": "available"})
	n.v = n.a.newVisitor("demo", "")
	n.vw, _ = n.v.ws()
	n.conv = requestChat(t, n.vw, first)
	// Node B's agent hears about the chat from node A.
	n.aw.waitEvent("chat", func(f frame) bool { return f.ConversationID == n.conv })
	if f := n.aw.send("join", map[string]any{"conversation_id": n.conv}); f.Type != "ack" {
		t.Fatalf("join on node B: %+v", f.Error)
	}
	n.aw.send("subscribe", map[string]any{"conversation_id": n.conv, "after_seq": 0})
	n.vw.send("subscribe", map[string]any{"conversation_id": n.conv, "after_seq": 0})
	return n
}

// startNATS runs a real NATS server in-process for the test.
func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns.ClientURL()
}

// TestTwoNodesOverNATS: a visitor on node A and an agent on node B chat in
// real time; events cross nodes over a real NATS server, and both nodes
// share one database (the store is the truth).
func TestTwoNodesOverNATS(t *testing.T) {
	n := twoNodeChat(t, startNATS(t), t.TempDir(), "hello from node A")
	alice, aw, vw, conv := n.alice, n.aw, n.vw, n.conv

	for i := 0; i < 10; i++ {
		m := sendMsg(t, vw, conv, fmt.Sprintf("v%d", i), fmt.Sprintf("visitor %d", i))
		aw.waitEvent("message", func(f frame) bool { return f.Seq == m.Seq })
		r := sendMsg(t, aw, conv, fmt.Sprintf("a%d", i), fmt.Sprintf("agent %d", i))
		vw.waitEvent("message", func(f frame) bool { return f.Seq == r.Seq })
	}
	// Typing crosses nodes too (ephemeral, never stored).
	vw.send("typing", map[string]any{"conversation_id": conv, "typing": true})
	aw.waitEvent("typing", func(f frame) bool { return f.ConversationID == conv })

	// Presence is consistent across nodes: node B knows the visitor of node A
	// is online and on which page.
	vw.send("presence", map[string]any{"url": "https://shop.test/checkout", "title": "Checkout", "visible": true})
	aw.waitEvent("presence", func(f frame) bool { return strings.Contains(string(f.Data), "checkout") })
	var view struct {
		Presence *struct {
			Online bool   `json:"online"`
			URL    string `json:"url"`
		} `json:"presence"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), nil, &view)
		if view.Presence != nil && view.Presence.Online && view.Presence.URL == "https://shop.test/checkout" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B does not know node A's visitor is online: %+v", view.Presence)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var list struct {
		Conversations []struct {
			Online bool `json:"online"`
		} `json:"conversations"`
	}
	if alice.do("GET", "/api/v1/conversations?live=true", nil, &list); len(list.Conversations) != 1 || !list.Conversations[0].Online {
		t.Fatalf("node B's list does not show the visitor online: %+v", list)
	}
}

// postgresDB creates a database for one test on the server named by
// SWITCHBOARD_TEST_POSTGRES, migrates it, and drops it afterwards.
func postgresDB(t *testing.T) string {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	if _, err := sqlstore.MigratePostgres(context.Background(), dsn, sqlstore.PostgresOptions{}); err != nil {
		t.Fatal(err)
	}
	return dsn
}

// TestTwoNodesOnPostgresAndNATS is cluster mode as deployed: two nodes on
// one PostgreSQL and one NATS. A visitor on node A and an agent on node B
// chat; node A is then stopped and the visitor resumes on node B with
// nothing lost or duplicated.
func TestTwoNodesOnPostgresAndNATS(t *testing.T) {
	dsn := postgresDB(t)
	url := startNATS(t)
	subject := fmt.Sprintf("sbtest.%d", time.Now().UnixNano())
	cfg := func(node string) func(*server.Config) {
		return func(c *server.Config) { c.StoreURL, c.BusURL, c.BusSubject, c.NodeID = dsn, url, subject, node }
	}
	a := startNode(t, "", cfg("node-a"))
	a.seed()
	b := startNode(t, "", cfg("node-b"))

	alice := b.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	aw.send("availability", map[string]any{"availability": "available"})
	v := a.newVisitor("demo", "")
	vw, auth := v.ws()
	epoch := auth["epoch"].(string)
	conv := requestChat(t, vw, "hello over postgres")
	aw.waitEvent("chat", func(f frame) bool { return f.ConversationID == conv })
	if f := aw.send("join", map[string]any{"conversation_id": conv}); f.Type != "ack" {
		t.Fatalf("join: %+v", f.Error)
	}
	aw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0})
	vw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0})
	var last int64
	for i := 0; i < 5; i++ {
		m := sendMsg(t, vw, conv, fmt.Sprintf("v%d", i), "from A")
		aw.waitEvent("message", func(f frame) bool { return f.Seq == m.Seq })
		r := sendMsg(t, aw, conv, fmt.Sprintf("a%d", i), "from B")
		vw.waitEvent("message", func(f frame) bool { return f.Seq == r.Seq })
		last = r.Seq
	}
	// An image the visitor uploads on node A is served by node B: attachment
	// contents live in PostgreSQL (--blobs db, the default there), not in
	// node A's data directory.
	img := pngBytes(t)
	st, body := v.upload(conv, "shot.png", img)
	if st != http.StatusCreated && st != http.StatusOK {
		t.Fatalf("upload on node A: %d %s", st, body)
	}
	att := decode[attachmentJSON](t, body)
	fetch := func(n *staffClient) []byte {
		res, got := n.rawDo("GET", fmt.Sprintf("/api/v1/attachments/%d", att.ID), "", nil, nil)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("download on node B: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
		return got
	}
	if got := fetch(alice); !bytes.Equal(got, img) {
		t.Fatal("node B served different bytes")
	}

	// Node A goes away; the visitor reconnects to node B and resumes.
	a.shutdown()
	if got := fetch(alice); !bytes.Equal(got, img) {
		t.Fatal("the attachment went away with node A")
	}
	sendMsg(t, aw, conv, "while-away", "while you were reconnecting")
	v.n = b
	vw2, auth2 := v.ws()
	if auth2["epoch"] != epoch {
		t.Fatal("the two nodes disagree on the epoch")
	}
	res := vw2.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": last, "epoch": epoch})
	if !decode[struct {
		Recovered bool `json:"recovered"`
	}](t, res.Data).Recovered {
		t.Fatal("not recovered on node B")
	}
	got := vw2.waitEvent("message", func(f frame) bool { return true })
	if m := decode[message](t, got.Data); m.Body != "while you were reconnecting" || got.Seq != last+1 {
		t.Fatalf("resume on node B delivered %+v", m)
	}
	if retry := sendMsg(t, vw2, conv, "v4", "from A"); retry.Seq > last {
		t.Fatal("a retry on another node duplicated an acknowledged message")
	}
}

// TestNATSOutageLosesNothing: NATS goes away mid-conversation. Sends keep
// being acknowledged (the store is the truth); when the broker is back the
// nodes reconnect by themselves and the agent on the other node receives
// every message it missed, once and in order (the gateway fills the gap from
// the store at the next event).
func TestNATSOutageLosesNothing(t *testing.T) {
	opts := &natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	url := ns.ClientURL()
	port := ns.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { ns.Shutdown() })

	n := twoNodeChat(t, url, t.TempDir(), "before the outage")
	aw, vw, conv := n.aw, n.vw, n.conv
	first := sendMsg(t, vw, conv, "pre", "before")
	aw.waitEvent("message", func(f frame) bool { return f.Seq == first.Seq })

	// The broker goes away. Sends are still acknowledged: they are durable.
	ns.Shutdown()
	ns.WaitForShutdown()
	var during []message
	for i := 0; i < 5; i++ {
		during = append(during, sendMsg(t, vw, conv, fmt.Sprintf("out-%d", i), fmt.Sprintf("during the outage %d", i)))
	}

	// It comes back on the same address; the nodes reconnect by themselves.
	opts2 := *opts
	opts2.Port = port
	ns2, err := natsserver.NewServer(&opts2)
	if err != nil {
		t.Fatal(err)
	}
	go ns2.Start()
	if !ns2.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats did not come back")
	}
	t.Cleanup(func() { ns2.Shutdown() })

	// The next message after reconnection reaches the agent, and with it
	// every message the agent missed, in order, once.
	var after message
	want := first.Seq + int64(len(during)) + 1
	seen := map[int64]int{}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		after = sendMsg(t, vw, conv, fmt.Sprintf("post-%d", i), "after the outage")
		got := false
		for _, f := range aw.drain(300 * time.Millisecond) {
			if f.Type == "message" {
				seen[f.Seq]++
				got = got || f.Seq == after.Seq
			}
		}
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent never heard from node A again (saw %v)", seen)
		}
	}
	for s := first.Seq + 1; s <= after.Seq; s++ {
		if seen[s] != 1 {
			t.Fatalf("agent received seq %d %d times after the outage (want every seq from %d to %d once): %v", s, seen[s], first.Seq+1, after.Seq, seen)
		}
	}
	if after.Seq < want {
		t.Fatalf("seq %d after the outage, want at least %d", after.Seq, want)
	}
}
