package server_test

import (
	"fmt"
	"testing"
	"time"
)

// TestHybridOverTheProtocol drives the assistant and the hand-off over the
// real WebSocket protocol: the chat starts in state bot, a message and its
// retry get one answer, agents hear nothing until the visitor's handoff
// command, and a second handoff changes nothing.
func TestHybridOverTheProtocol(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	if st := widgetPatchSite(t, admin, map[string]any{"widget_mode": "hybrid", "bot": map[string]any{
		"answers": []map[string]any{{"question": "Do you ship abroad?", "keywords": []string{"shipping"}, "answer": "Yes, everywhere in Europe."}},
	}}, nil); st != 200 {
		t.Fatalf("PATCH hybrid: %d", st)
	}
	aw := widgetAgent(t, n)
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()

	f := vw.send("request_chat", map[string]any{"body": "Do you ship abroad?", "client_id": "q1"})
	if f.Type != "ack" {
		t.Fatalf("request_chat: %+v", f.Error)
	}
	view := decode[struct {
		Conversation struct {
			ID int64 `json:"id"`
		} `json:"conversation"`
		Chat chatEvent `json:"chat"`
	}](t, f.Data)
	conv := view.Conversation.ID
	if view.Chat.Chat.State != "bot" {
		t.Fatalf("chat state %q, want bot", view.Chat.Chat.State)
	}
	if f := vw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}); f.Type != "ack" {
		t.Fatalf("subscribe: %+v", f.Error)
	}
	for range 2 { // the same message twice: one answer
		if f := vw.send("send", map[string]any{"conversation_id": conv, "client_id": "m2", "body": "and shipping to Oslo?"}); f.Type != "ack" {
			t.Fatalf("send: %+v", f.Error)
		}
	}
	vw.waitEvent("message", func(f frame) bool {
		m := decode[message](t, f.Data)
		return m.AuthorKind == "bot" && m.Seq == 4
	})
	var bots []string
	for _, m := range visitorHistory(t, v, conv) {
		if m.AuthorKind == "bot" {
			bots = append(bots, m.Body)
		}
	}
	if len(bots) != 2 || bots[0] != "Yes, everywhere in Europe." || bots[1] != "Yes, everywhere in Europe." {
		t.Fatalf("bot answers %q, want one per question", bots)
	}
	// An agent cannot join it, and heard nothing of it.
	if f := aw.send("join", map[string]any{"conversation_id": conv}); f.Type != "error" || f.Error.Code != "chat_with_bot" {
		t.Fatalf("join a bot chat: %+v", f)
	}
	for _, f := range aw.drain(200 * time.Millisecond) {
		if f.ConversationID == conv && (f.Type == "chat" || f.Type == "conversation") {
			t.Fatalf("agent got %s before the hand-off", f.Type)
		}
	}
	if f := vw.send("handoff", map[string]any{"conversation_id": conv}); f.Type != "ack" || decode[struct {
		Chat chatEvent `json:"chat"`
	}](t, f.Data).Chat.Chat.State == "bot" {
		t.Fatalf("handoff: %+v %s", f.Error, f.Data)
	}
	aw.waitEvent("chat", func(f frame) bool {
		return f.ConversationID == conv && decode[chatEvent](t, f.Data).Chat.State == "waiting"
	})
	if f := vw.send("handoff", map[string]any{"conversation_id": conv}); f.Type != "ack" {
		t.Fatalf("second handoff: %+v", f.Error)
	}
	if f := vw.send("handoff", map[string]any{"conversation_id": 999999}); f.Type != "error" || f.Error.Code != "conversation_not_found" {
		t.Fatalf("handoff of a foreign conversation: %+v", f)
	}
	widgetJoin(t, aw, conv)
	// Agents may not hand off.
	if f := aw.send("handoff", map[string]any{"conversation_id": conv}); f.Type != "error" || f.Error.Code != "visitors_only" {
		t.Fatalf("agent handoff: %+v", f)
	}
}

func visitorHistory(t *testing.T, v *visitor, conv int64) []message {
	t.Helper()
	var out struct {
		Messages []message `json:"messages"`
	}
	if st := v.do("GET", fmt.Sprintf("/api/v1/visitor/conversations/%d/messages?limit=100", conv), nil, &out); st != 200 {
		t.Fatalf("visitor history: %d", st)
	}
	return out.Messages
}
