package server_test

import (
	"fmt"
	"testing"

	"switchboard/internal/chat"
)

// TestVerifiedIdentity: with identity verification required, a visitor
// cannot claim a name or email until the site's backend has signed who they
// are; a wrong signature is refused and changes nothing; a verified person's
// history follows them to another browser; nobody else can read it; only
// admins see the signing secret.
func TestVerifiedIdentity(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	site := demoSiteID(t, admin)
	var updated struct {
		Identity struct {
			Secret   string `json:"secret"`
			Required bool   `json:"required"`
		} `json:"identity"`
	}
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"identity": map[string]any{"required": true}}, &updated); st != 200 || len(updated.Identity.Secret) != 64 || !updated.Identity.Required {
		t.Fatalf("enable identity: %d %+v", st, updated)
	}
	secret := updated.Identity.Secret
	alice := n.login("alice@demo.test", "demo-agent-pass")
	var sites struct {
		Sites []struct {
			Identity struct {
				Secret string `json:"secret"`
			} `json:"identity"`
		} `json:"sites"`
	}
	alice.do("GET", "/api/v1/sites", nil, &sites)
	if len(sites.Sites) == 0 || sites.Sites[0].Identity.Secret != "" {
		t.Fatalf("an agent sees the identity secret: %+v", sites)
	}

	v1 := n.newVisitor("demo", "")
	var p struct {
		Code string `json:"code"`
	}
	if st := v1.do("POST", "/api/v1/visitor/chats", map[string]any{"email": "kim@example.com"}, &p); st != 403 || p.Code != "identity_required" {
		t.Fatalf("unverified claim: %d %s", st, p.Code)
	}
	if st := v1.do("POST", "/api/v1/visitor/identify", map[string]any{"user_id": "u-1", "email": "kim@example.com", "hash": chat.IdentityHash("wrong", "u-1")}, &p); st != 403 || p.Code != "identity_unverified" {
		t.Fatalf("forged identity: %d %s", st, p.Code)
	}
	good := map[string]any{"user_id": "u-1", "email": "kim@example.com", "name": "Kim", "hash": chat.IdentityHash(secret, "u-1")}
	if st := v1.do("POST", "/api/v1/visitor/identify", good, nil); st != 200 {
		t.Fatalf("identify: %d", st)
	}
	var view struct {
		Conversation struct {
			ID int64 `json:"id"`
		} `json:"conversation"`
	}
	if st := v1.do("POST", "/api/v1/visitor/chats", map[string]any{"email": "kim@example.com", "body": "hello", "client_id": "k1"}, &view); st != 200 || view.Conversation.ID == 0 {
		t.Fatalf("verified request: %d", st)
	}
	// The same person on another device sees their conversation.
	v2 := n.newVisitor("demo", "")
	if st := v2.do("POST", "/api/v1/visitor/identify", good, nil); st != 200 {
		t.Fatalf("identify again: %d", st)
	}
	var list struct {
		Conversations []struct {
			ID int64 `json:"id"`
		} `json:"conversations"`
	}
	v2.do("GET", "/api/v1/visitor/conversations", nil, &list)
	if len(list.Conversations) != 1 || list.Conversations[0].ID != view.Conversation.ID {
		t.Fatalf("history did not follow: %+v", list)
	}
	// Someone else cannot read it.
	v3 := n.newVisitor("demo", "")
	v3.doProblemVisitor(t, "GET", fmt.Sprintf("/api/v1/visitor/conversations/%d", view.Conversation.ID), 404, "conversation_not_found")
}
