package server_test

import (
	"fmt"
	"testing"
)

type quickReply struct {
	ID       int64  `json:"id"`
	OwnerID  int64  `json:"owner_id"`
	Shortcut string `json:"shortcut"`
	Body     string `json:"body"`
}

// TestQuickReplies: admins manage shared quick replies, everyone their own;
// nobody sees or edits another agent's personal ones; bad input gets typed
// errors and changes nothing.
func TestQuickReplies(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	alice := n.login("alice@demo.test", "demo-agent-pass")
	bob := n.login("bob@demo.test", "demo-agent-pass")

	var shared, mine quickReply
	if st := admin.do("POST", "/api/v1/quick-replies", map[string]any{"shortcut": "/Hello", "body": "Hello! How can I help?", "shared": true}, &shared); st != 201 || shared.Shortcut != "hello" || shared.OwnerID != 0 {
		t.Fatalf("shared: %d %+v", st, shared)
	}
	alice.doProblem("POST", "/api/v1/quick-replies", map[string]any{"shortcut": "x", "body": "y", "shared": true}, 403, "admin_only")
	if st := alice.do("POST", "/api/v1/quick-replies", map[string]any{"shortcut": "refund", "body": "Your refund is on its way."}, &mine); st != 201 || mine.OwnerID != alice.userID() {
		t.Fatalf("personal: %d %+v", st, mine)
	}
	alice.doProblem("POST", "/api/v1/quick-replies", map[string]any{"shortcut": "refund", "body": "again"}, 409, "shortcut_taken")
	alice.doProblem("POST", "/api/v1/quick-replies", map[string]any{"shortcut": "has space", "body": "x"}, 400, "invalid_shortcut")
	alice.doProblem("POST", "/api/v1/quick-replies", map[string]any{"shortcut": "empty", "body": "  "}, 400, "invalid_body")
	alice.doProblem("PATCH", fmt.Sprintf("/api/v1/quick-replies/%d", shared.ID), map[string]any{"body": "hijacked"}, 403, "admin_only")

	var list struct {
		QuickReplies []quickReply `json:"quick_replies"`
	}
	alice.do("GET", "/api/v1/quick-replies", nil, &list)
	if len(list.QuickReplies) != 2 || list.QuickReplies[0].Shortcut != "hello" || list.QuickReplies[1].Shortcut != "refund" {
		t.Fatalf("alice's list %+v", list.QuickReplies)
	}
	// Bob sees the shared one only, and Alice's does not exist for him.
	bob.do("GET", "/api/v1/quick-replies", nil, &list)
	if len(list.QuickReplies) != 1 || list.QuickReplies[0].ID != shared.ID {
		t.Fatalf("bob's list %+v", list.QuickReplies)
	}
	bob.doProblem("PATCH", fmt.Sprintf("/api/v1/quick-replies/%d", mine.ID), map[string]any{"body": "mine now"}, 404, "quick_reply_not_found")
	bob.doProblem("DELETE", fmt.Sprintf("/api/v1/quick-replies/%d", mine.ID), nil, 404, "quick_reply_not_found")

	var edited quickReply
	if st := alice.do("PATCH", fmt.Sprintf("/api/v1/quick-replies/%d", mine.ID), map[string]any{"body": "Refunded today."}, &edited); st != 200 || edited.Body != "Refunded today." || edited.Shortcut != "refund" {
		t.Fatalf("edit: %d %+v", st, edited)
	}
	if st := alice.do("DELETE", fmt.Sprintf("/api/v1/quick-replies/%d", mine.ID), nil, nil); st != 204 {
		t.Fatalf("delete: %d", st)
	}
	if st := admin.do("DELETE", fmt.Sprintf("/api/v1/quick-replies/%d", shared.ID), nil, nil); st != 204 {
		t.Fatalf("admin deletes shared: %d", st)
	}
}
