package server_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

type convView struct {
	Conversation struct {
		ID         int64    `json:"id"`
		Status     string   `json:"status"`
		ChatState  string   `json:"chat_state"`
		AssigneeID int64    `json:"assignee_id"`
		Tags       []string `json:"tags"`
		LastSeq    int64    `json:"last_seq"`
	} `json:"conversation"`
	Chat *struct {
		Chat struct {
			ID              int64  `json:"id"`
			State           string `json:"state"`
			EndedBy         string `json:"ended_by"`
			EndReason       string `json:"end_reason"`
			FirstJoinedAt   string `json:"first_joined_at"`
			FirstResponseAt string `json:"first_response_at"`
		} `json:"chat"`
	} `json:"chat"`
}

// requestChat asks for a human over the visitor socket and returns the conversation id.
func requestChat(t *testing.T, vw *wsClient, body string) int64 {
	t.Helper()
	f := vw.send("request_chat", map[string]any{"name": "Vera Visitor", "email": "vera@example.com", "body": body, "client_id": "first-request"})
	if f.Type != "ack" {
		t.Fatalf("request_chat: %+v", f.Error)
	}
	v := decode[struct {
		Conversation struct {
			ID int64 `json:"id"`
		} `json:"conversation"`
	}](t, f.Data)
	return v.Conversation.ID
}

func sendMsg(t *testing.T, w *wsClient, conv int64, clientID, body string) message {
	t.Helper()
	f := w.send("send", map[string]any{"conversation_id": conv, "client_id": clientID, "body": body})
	if f.Type != "ack" {
		t.Fatalf("send %q: %+v", body, f.Error)
	}
	return decode[message](t, f.Data)
}

// TestChatEndToEnd walks the spine: a visitor asks for a human, an agent sees
// it, goes online, joins, both chat with typing and read receipts, the agent
// adds a tag and a note the visitor never sees, and ends the chat, leaving a
// closed ticket assigned to them.
func TestChatEndToEnd(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()

	v := n.newVisitor("demo", "http://shop.test")
	vw, auth := v.ws()
	if auth["epoch"] == "" {
		t.Fatal("auth ack has no epoch")
	}
	conv := requestChat(t, vw, "Where is my order?")

	// The agent's console learns about the waiting chat without polling.
	f := aw.waitEvent("chat", func(f frame) bool { return f.ConversationID == conv })
	if st := decode[struct {
		Chat struct{ State string } `json:"chat"`
	}](t, f.Data).Chat.State; st != "waiting" {
		t.Fatalf("chat state %q, want waiting", st)
	}
	var list struct {
		Conversations []struct {
			ID        int64  `json:"id"`
			ChatState string `json:"chat_state"`
		} `json:"conversations"`
	}
	if st := alice.do("GET", "/api/v1/conversations?chat_state=waiting", nil, &list); st != 200 || len(list.Conversations) != 1 || list.Conversations[0].ID != conv {
		t.Fatalf("waiting list: status %d, %+v", st, list)
	}

	// Offline agents cannot join.
	if f := aw.send("join", map[string]any{"conversation_id": conv}); f.Error == nil || f.Error.Code != "agent_offline" {
		t.Fatalf("join while offline: %+v", f)
	}
	if f := aw.send("availability", map[string]any{"availability": "available"}); f.Type != "ack" {
		t.Fatalf("availability: %+v", f.Error)
	}
	if f := aw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}); f.Type != "ack" {
		t.Fatalf("subscribe: %+v", f.Error)
	}
	if f := vw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}); f.Type != "ack" {
		t.Fatalf("visitor subscribe: %+v", f.Error)
	}
	f = aw.send("join", map[string]any{"conversation_id": conv})
	if f.Type != "ack" {
		t.Fatalf("join: %+v", f.Error)
	}
	joined := decode[convView](t, f.Data)
	if joined.Chat.Chat.State != "active" || joined.Conversation.AssigneeID != alice.userID() {
		t.Fatalf("after join: %+v", joined)
	}
	// The visitor sees the friendly joined line.
	vw.waitEvent("message", func(f frame) bool {
		return decode[message](t, f.Data).Event == "joined"
	})

	// Typing both ways; nobody gets their own indicator back.
	vw.send("typing", map[string]any{"conversation_id": conv, "typing": true})
	aw.waitEvent("typing", func(f frame) bool { return f.ConversationID == conv })
	aw.send("typing", map[string]any{"conversation_id": conv, "typing": true})
	tf := vw.waitEvent("typing", func(f frame) bool { return f.ConversationID == conv })
	if p := decode[struct{ Party string }](t, tf.Data).Party; p != "agent" {
		t.Fatalf("visitor got typing of %q", p)
	}

	// Messages both ways.
	m1 := sendMsg(t, vw, conv, "v-1", "Order 1234")
	got := aw.waitEvent("message", func(f frame) bool { return f.Seq == m1.Seq })
	if decode[message](t, got.Data).Body != "Order 1234" {
		t.Fatalf("agent got %s", got.Data)
	}
	m2 := sendMsg(t, aw, conv, "a-1", "It ships <b>today</b>")
	got = vw.waitEvent("message", func(f frame) bool { return f.Seq == m2.Seq })
	if decode[message](t, got.Data).Body != "It ships <b>today</b>" {
		t.Fatalf("visitor got %s", got.Data)
	}

	// Read receipts, stored and pushed.
	if f := vw.send("read", map[string]any{"conversation_id": conv, "seq": m2.Seq}); f.Type != "ack" {
		t.Fatalf("read: %+v", f.Error)
	}
	aw.waitEvent("read", func(f frame) bool {
		return decode[struct{ Seq int64 }](t, f.Data).Seq == m2.Seq
	})

	// A tag and an internal note: staff see them, the visitor never does.
	if st := alice.do("PUT", fmt.Sprintf("/api/v1/conversations/%d/tags", conv), map[string]any{"tags": []string{"Shipping", "vip"}}, nil); st != 200 {
		t.Fatalf("tags: %d", st)
	}
	note := aw.send("note", map[string]any{"conversation_id": conv, "client_id": "n-1", "body": "Customer is VIP"})
	if note.Type != "ack" {
		t.Fatalf("note: %+v", note.Error)
	}
	noteSeq := decode[message](t, note.Data).Seq

	// The agent ends the chat.
	f = aw.send("end_chat", map[string]any{"conversation_id": conv})
	if f.Type != "ack" {
		t.Fatalf("end: %+v", f.Error)
	}
	ended := decode[convView](t, f.Data)
	if ended.Chat.Chat.State != "ended" || ended.Chat.Chat.EndedBy != "agent" || ended.Chat.Chat.EndReason != "completed" {
		t.Fatalf("after end: %+v", ended.Chat)
	}
	if ended.Conversation.Status != "closed" || ended.Conversation.AssigneeID != alice.userID() {
		t.Fatalf("ticket after end: %+v", ended.Conversation)
	}
	if ended.Chat.Chat.FirstJoinedAt == "" || ended.Chat.Chat.FirstResponseAt == "" {
		t.Fatalf("analytics timestamps missing: %+v", ended.Chat.Chat)
	}
	vw.waitEvent("chat", func(f frame) bool {
		return decode[struct {
			Chat struct{ State string } `json:"chat"`
		}](t, f.Data).Chat.State == "ended"
	})

	// The visitor's history has no note, and the staff's has it.
	var vh struct{ Messages []message }
	v.do("GET", fmt.Sprintf("/api/v1/visitor/conversations/%d/messages", conv), nil, &vh)
	var sh struct{ Messages []message }
	alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), nil, &sh)
	for _, m := range vh.Messages {
		if m.Visibility != "public" || m.Seq == noteSeq {
			t.Fatalf("visitor history has a staff-only entry: %+v", m)
		}
	}
	if len(sh.Messages) != len(vh.Messages)+1 {
		t.Fatalf("staff history has %d entries, visitor %d: want exactly the note more", len(sh.Messages), len(vh.Messages))
	}
	for i, m := range sh.Messages {
		if m.Seq != int64(i+1) {
			t.Fatalf("staff timeline has a gap: entry %d has seq %d", i, m.Seq)
		}
	}
	// The live stream never carried the note to the visitor either.
	for _, f := range vw.drain(200 * time.Millisecond) {
		if f.Type == "message" && f.Seq == noteSeq {
			t.Fatal("visitor received the internal note live")
		}
	}
	// Nor the tags.
	var vc map[string]any
	v.do("GET", fmt.Sprintf("/api/v1/visitor/conversations/%d", conv), nil, &vc)
	if b, _ := json.Marshal(vc); json.Valid(b) && containsKey(vc, "tags") {
		t.Fatalf("visitor view exposes tags: %s", b)
	}
}

func containsKey(v any, key string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			if k == key || containsKey(vv, key) {
				return true
			}
		}
	case []any:
		for _, vv := range x {
			if containsKey(vv, key) {
				return true
			}
		}
	}
	return false
}

// TestSendIsIdempotent: a retry with the same client id returns the first
// ack and creates nothing, even over another socket and after the chat ended.
func TestSendIsIdempotent(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "hello")
	first := sendMsg(t, vw, conv, "same-id", "once")
	again := sendMsg(t, vw, conv, "same-id", "once")
	if again.Seq != first.Seq || again.ID != first.ID {
		t.Fatalf("retry created a new message: %+v vs %+v", again, first)
	}
	vw2, _ := v.ws()
	other := sendMsg(t, vw2, conv, "same-id", "once")
	if other.ID != first.ID {
		t.Fatalf("retry on another socket created a new message")
	}
	// Over REST too.
	var rest message
	if st := v.do("POST", fmt.Sprintf("/api/v1/visitor/conversations/%d/messages", conv), map[string]any{"client_id": "same-id", "body": "once"}, &rest); st != 200 || rest.ID != first.ID {
		t.Fatalf("REST retry: %d %+v", st, rest)
	}
	vw.send("end_chat", map[string]any{"conversation_id": conv})
	if late := sendMsg(t, vw, conv, "same-id", "once"); late.ID != first.ID {
		t.Fatalf("retry after end created a new message")
	}
	var h struct{ Messages []message }
	v.do("GET", fmt.Sprintf("/api/v1/visitor/conversations/%d/messages", conv), nil, &h)
	count := 0
	for _, m := range h.Messages {
		if m.ClientID == "same-id" {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("timeline holds %d copies", count)
	}
}

// TestResumeAfterDrop: a client that drops mid-conversation reconnects,
// resumes from its cursor and sees every message exactly once, in order.
func TestResumeAfterDrop(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	aw.send("availability", map[string]any{"availability": "available"})
	v := n.newVisitor("demo", "")
	vw, auth := v.ws()
	epoch := auth["epoch"].(string)
	conv := requestChat(t, vw, "hi")
	aw.send("join", map[string]any{"conversation_id": conv})
	sub := vw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0, "epoch": epoch})
	last := int64(decode[struct {
		LastSeq int64 `json:"last_seq"`
	}](t, sub.Data).LastSeq)
	// Read what arrived so far, then drop the visitor.
	seen := map[int64]int{}
	for _, f := range vw.drain(200 * time.Millisecond) {
		if f.Type == "message" {
			seen[f.Seq]++
		}
	}
	for s := range seen {
		if s > last {
			last = s
		}
	}
	vw.conn.CloseNow()

	// While the visitor is away, the agent writes.
	for i := 0; i < 20; i++ {
		sendMsg(t, aw, conv, fmt.Sprintf("a-%d", i), fmt.Sprintf("while away %d", i))
	}
	// A note in between: the visitor must never see it.
	aw.send("note", map[string]any{"conversation_id": conv, "client_id": "n", "body": "secret"})
	sendMsg(t, aw, conv, "a-last", "last one")

	vw2, _ := v.ws()
	res := vw2.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": last, "epoch": epoch})
	ack := decode[struct {
		Recovered bool  `json:"recovered"`
		LastSeq   int64 `json:"last_seq"`
	}](t, res.Data)
	if !ack.Recovered {
		t.Fatal("resume was not recovered")
	}
	// Live messages after the resume.
	aw.send("send", map[string]any{"conversation_id": conv, "client_id": "after", "body": "after resume"})
	var got []message
	deadline := time.After(5 * time.Second)
	for len(got) < 22 {
		select {
		case f := <-vw2.events:
			if f.Type == "message" {
				got = append(got, decode[message](t, f.Data))
			}
		case <-deadline:
			t.Fatalf("got %d of 22 messages after resume", len(got))
		}
	}
	prev := last
	for _, m := range got {
		if m.Seq <= prev {
			t.Fatalf("duplicate or out of order: seq %d after %d", m.Seq, prev)
		}
		if m.Visibility != "public" {
			t.Fatalf("visitor got a %s entry", m.Visibility)
		}
		prev = m.Seq
	}
	if got[0].Body != "while away 0" || got[21].Body != "after resume" {
		t.Fatalf("unexpected order: first %q last %q", got[0].Body, got[21].Body)
	}
}

// TestRestartLosesNothing: messages acknowledged before a restart are all
// there after it, a retry of an acknowledged send does not duplicate it, and
// the client resumes with the same epoch.
func TestRestartLosesNothing(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	n.seed()
	v := n.newVisitor("demo", "")
	vw, auth := v.ws()
	epoch := auth["epoch"].(string)
	conv := requestChat(t, vw, "before restart")
	var acked []message
	for i := 0; i < 30; i++ {
		acked = append(acked, sendMsg(t, vw, conv, fmt.Sprintf("m-%d", i), fmt.Sprintf("msg %d", i)))
	}
	n.shutdown()
	if code := vw.waitClosed(); code != 1012 {
		t.Fatalf("close code on shutdown = %d, want 1012 (service restart)", code)
	}

	n2 := startNode(t, dir)
	v.n = n2
	vw2, auth2 := v.ws()
	if auth2["epoch"] != epoch {
		t.Fatalf("epoch changed across restart: %v vs %v", auth2["epoch"], epoch)
	}
	// The client did not know whether its last send landed: it retries.
	retry := sendMsg(t, vw2, conv, "m-29", "msg 29")
	if retry.ID != acked[29].ID {
		t.Fatal("retry after restart duplicated an acknowledged message")
	}
	res := vw2.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": acked[9].Seq, "epoch": epoch})
	if !decode[struct {
		Recovered bool `json:"recovered"`
	}](t, res.Data).Recovered {
		t.Fatal("not recovered after restart")
	}
	var got []int64
	for _, f := range vw2.drain(300 * time.Millisecond) {
		if f.Type == "message" {
			got = append(got, f.Seq)
		}
	}
	if len(got) != 20 {
		t.Fatalf("replayed %d messages after restart, want 20: %v", len(got), got)
	}
	for i, s := range got {
		if s != acked[10+i].Seq {
			t.Fatalf("replay[%d] = seq %d, want %d", i, s, acked[10+i].Seq)
		}
	}
}
