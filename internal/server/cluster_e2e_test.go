package server_test

import (
	"fmt"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"switchboard/internal/server"
)

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
	url := startNATS(t)
	dir := t.TempDir()
	subject := fmt.Sprintf("sbtest.%d", time.Now().UnixNano())
	withBus := func(node string) func(*server.Config) {
		return func(c *server.Config) { c.BusURL, c.BusSubject, c.NodeID = url, subject, node }
	}
	a := startNode(t, dir, withBus("node-a"))
	a.seed()
	b := startNode(t, dir, withBus("node-b"))

	alice := b.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	aw.send("availability", map[string]any{"availability": "available"})

	v := a.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "hello from node A")
	// Node B's agent hears about the chat from node A.
	aw.waitEvent("chat", func(f frame) bool { return f.ConversationID == conv })
	if f := aw.send("join", map[string]any{"conversation_id": conv}); f.Type != "ack" {
		t.Fatalf("join on node B: %+v", f.Error)
	}
	aw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0})
	vw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0})

	for i := 0; i < 10; i++ {
		m := sendMsg(t, vw, conv, fmt.Sprintf("v%d", i), fmt.Sprintf("visitor %d", i))
		aw.waitEvent("message", func(f frame) bool { return f.Seq == m.Seq })
		r := sendMsg(t, aw, conv, fmt.Sprintf("a%d", i), fmt.Sprintf("agent %d", i))
		vw.waitEvent("message", func(f frame) bool { return f.Seq == r.Seq })
	}
	// Typing crosses nodes too (ephemeral, never stored).
	vw.send("typing", map[string]any{"conversation_id": conv, "typing": true})
	aw.waitEvent("typing", func(f frame) bool { return f.ConversationID == conv })
}
