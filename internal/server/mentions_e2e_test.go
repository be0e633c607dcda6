package server_test

import (
	"fmt"
	"testing"
	"time"
)

// TestSupervisorMentions: a supervisor's @-comment on a live chat notifies
// the mentioned agent on their socket; the customer never receives it;
// mentions in a message to the customer, or of someone who cannot see the
// conversation, are refused and store nothing.
func TestSupervisorMentions(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	site := demoSiteID(t, admin)
	if st := admin.do("POST", "/api/v1/users", map[string]any{"email": "sue@demo.test", "name": "Sue", "role": "supervisor",
		"password": "supervisor-pass", "site_ids": []int64{site}}, nil); st != 201 {
		t.Fatalf("create supervisor: %d", st)
	}
	var other struct {
		ID int64 `json:"id"`
	}
	if st := admin.do("POST", "/api/v1/sites", map[string]any{"name": "Elsewhere"}, &other); st != 201 {
		t.Fatalf("site: %d", st)
	}
	var stranger struct {
		ID int64 `json:"id"`
	}
	if st := admin.do("POST", "/api/v1/users", map[string]any{"email": "zed@demo.test", "name": "Zed", "role": "agent",
		"password": "agent-pass-zed", "site_ids": []int64{other.ID}}, &stranger); st != 201 {
		t.Fatalf("create stranger: %d", st)
	}
	sue := n.login("sue@demo.test", "supervisor-pass")
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	wantAck(t, "online", aw.send("availability", map[string]any{"availability": "available"}))
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "help")
	wantAck(t, "subscribe", vw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}))
	wantAck(t, "join", aw.send("join", map[string]any{"conversation_id": conv}))

	sue.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/notes", conv),
		map[string]any{"client_id": "n0", "body": "@Zed look", "mentions": []int64{stranger.ID}}, 400, "invalid_mention")
	alice.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv),
		map[string]any{"client_id": "m0", "body": "hi", "mentions": []int64{alice.userID()}}, 400, "mentions_in_notes_only")
	if st := sue.do("POST", fmt.Sprintf("/api/v1/conversations/%d/notes", conv),
		map[string]any{"client_id": "n1", "body": "@Alice offer the 10% code", "mentions": []int64{alice.userID()}}, nil); st != 201 && st != 200 {
		t.Fatalf("note: %d", st)
	}
	f := aw.waitEvent("mention", func(f frame) bool { return f.ConversationID == conv })
	if m := decode[message](t, f.Data); m.Body != "@Alice offer the 10% code" || m.Visibility != "internal" {
		t.Fatalf("mention %+v", m)
	}
	// The customer got nothing of it.
	for _, e := range vw.drain(300 * time.Millisecond) {
		if e.Type == "mention" || (e.Type == "message" && decode[message](t, e.Data).Visibility == "internal") {
			t.Fatalf("the customer received %s %s", e.Type, e.Data)
		}
	}
}
