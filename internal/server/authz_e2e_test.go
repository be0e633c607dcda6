package server_test

// End-to-end tests of the rule "Nobody sees what is not theirs": a visitor
// sees only their own conversations, an agent only the sites they belong
// to, a supervisor cannot write to customers, and credentials that are
// revoked or used from the wrong place stop working. Everything runs against
// a real node on loopback, from the outside.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"switchboard/internal/protocol"
	"switchboard/internal/server"
)

// collectUntil reads events until one of type typ matches pred and returns
// it with every event that came before it.
func collectUntil(t *testing.T, w *wsClient, typ string, pred func(frame) bool) (frame, []frame) {
	t.Helper()
	var before []frame
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-w.events:
			if f.Type == typ && pred(f) {
				return f, before
			}
			before = append(before, f)
		case <-deadline:
			t.Fatalf("no %s event arrived (got %d others)", typ, len(before))
			return frame{}, nil
		}
	}
}

type chatEvent struct {
	Chat struct {
		ID             int64  `json:"id"`
		ConversationID int64  `json:"conversation_id"`
		State          string `json:"state"`
	} `json:"chat"`
}

type typingEvent struct {
	Party  string `json:"party"`
	UserID int64  `json:"user_id"`
	Typing bool   `json:"typing"`
}

// sameTimeline asserts that a timeline did not change.
func sameTimeline(t *testing.T, what string, before, after []message) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("%s: timeline has %d entries, had %d: %+v", what, len(after), len(before), after)
	}
	for i := range before {
		b, a := before[i], after[i]
		if b.ID != a.ID || b.Seq != a.Seq || b.Body != a.Body || b.ClientID != a.ClientID || b.Kind != a.Kind || b.Visibility != a.Visibility || b.AuthorKind != a.AuthorKind {
			t.Fatalf("%s: entry %d changed: %+v -> %+v", what, i, before[i], after[i])
		}
	}
}

func chatState(t *testing.T, c *staffClient, conv int64) (state string, assignee int64) {
	t.Helper()
	var v convView
	if st := c.do("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), nil, &v); st != 200 {
		t.Fatalf("get conversation %d: %d", conv, st)
	}
	if v.Chat == nil {
		return "", v.Conversation.AssigneeID
	}
	return v.Chat.Chat.State, v.Conversation.AssigneeID
}

func goOnline(t *testing.T, w *wsClient) {
	t.Helper()
	wantAck(t, "availability", w.send("availability", map[string]any{"availability": "available"}))
}

// TestAuthzVisitorIsolation: visitor B naming visitor A's conversation or
// attachment, over WebSocket or REST, gets not-found, learns nothing and
// changes nothing.
func TestAuthzVisitorIsolation(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")

	a := n.newVisitor("demo", "")
	aw, _ := a.ws()
	convA := requestChat(t, aw, "A's private question")
	wantAck(t, "A subscribe", aw.send("subscribe", map[string]any{"conversation_id": convA, "after_seq": 0}))
	sendMsg(t, aw, convA, "a-1", "my card ends in 4242")
	st, body := a.upload(convA, "invoice.txt", []byte("invoice for A\n"))
	if st != 201 {
		t.Fatalf("A upload: %d %s", st, body)
	}
	attA := decode[attachmentJSON](t, body)
	wantAck(t, "A send with file", aw.send("send", map[string]any{"conversation_id": convA, "client_id": "a-2", "body": "", "attachment_id": attA.ID}))
	aw.drain(100 * time.Millisecond)
	before := staffHistory(t, admin, convA)
	stateBefore, _ := chatState(t, admin, convA)

	b := n.newVisitor("demo", "")
	bw, _ := b.ws()
	convB := requestChat(t, bw, "B's own question")
	if convB == convA {
		t.Fatal("B got A's conversation")
	}

	// Over the socket.
	ws := []struct {
		typ  string
		data map[string]any
		code string
	}{
		{"subscribe", map[string]any{"conversation_id": convA, "after_seq": 0}, "conversation_not_found"},
		{"send", map[string]any{"conversation_id": convA, "client_id": "b-1", "body": "hijack"}, "conversation_not_found"},
		{"send", map[string]any{"conversation_id": convA, "client_id": "a-1", "body": "replay A's client id"}, "conversation_not_found"},
		{"read", map[string]any{"conversation_id": convA, "seq": 1}, "conversation_not_found"},
		{"typing", map[string]any{"conversation_id": convA, "typing": true}, "conversation_not_found"},
		{"end_chat", map[string]any{"conversation_id": convA}, "conversation_not_found"},
		{"note", map[string]any{"conversation_id": convA, "client_id": "b-2", "body": "x"}, "conversation_not_found"},
		// A's attachment cannot be smuggled into B's own conversation.
		{"send", map[string]any{"conversation_id": convB, "client_id": "b-3", "body": "", "attachment_id": attA.ID}, "attachment_not_found"},
	}
	for _, c := range ws {
		f := bw.send(c.typ, c.data)
		wantWSError(t, "B "+c.typ, f, c.code)
		if strings.Contains(string(f.Data), "4242") {
			t.Fatalf("B's error leaks A's data: %s", f.Data)
		}
	}
	// A's messages never reached B's socket.
	for _, f := range bw.drain(200 * time.Millisecond) {
		if f.ConversationID == convA {
			t.Fatalf("B received an event of A's conversation: %s %s", f.Type, f.Data)
		}
	}

	// Over REST.
	p := func(format string) string { return fmt.Sprintf(format, convA) }
	b.doProblem("GET", p("/api/v1/visitor/conversations/%d"), nil, 404, "conversation_not_found")
	b.doProblem("GET", p("/api/v1/visitor/conversations/%d/messages"), nil, 404, "conversation_not_found")
	b.doProblem("POST", p("/api/v1/visitor/conversations/%d/messages"), map[string]any{"client_id": "b-4", "body": "hijack"}, 404, "conversation_not_found")
	b.doProblem("POST", p("/api/v1/visitor/conversations/%d/read"), map[string]any{"seq": 1}, 404, "conversation_not_found")
	b.doProblem("POST", p("/api/v1/visitor/conversations/%d/end"), nil, 404, "conversation_not_found")
	b.doProblem("GET", fmt.Sprintf("/api/v1/visitor/attachments/%d", attA.ID), nil, 404, "attachment_not_found")
	if st, body := b.upload(convA, "evil.txt", []byte("planted\n")); st != 404 || decode[problemBody](t, body).Code != "conversation_not_found" {
		t.Fatalf("B upload into A's conversation: %d %s", st, body)
	}
	// Not-found looks the same as for an id that does not exist.
	b.doProblem("GET", fmt.Sprintf("/api/v1/visitor/conversations/%d", convB+1000), nil, 404, "conversation_not_found")
	// B lists only B's conversation.
	var list struct {
		Conversations []struct {
			ID int64 `json:"id"`
		} `json:"conversations"`
	}
	if st := b.do("GET", "/api/v1/visitor/conversations", nil, &list); st != 200 || len(list.Conversations) != 1 || list.Conversations[0].ID != convB {
		t.Fatalf("B's conversation list: %d %+v", st, list)
	}
	// A visitor token is not a staff credential.
	res, body := rawHTTP(t, nil, "GET", n.base+"/api/v1/conversations", nil, map[string]string{"Authorization": "Bearer " + b.token})
	wantProblem(t, "visitor token on a staff endpoint", res, body, 401, "unauthenticated")
	res, body = rawHTTP(t, nil, "GET", n.base+fmt.Sprintf("/api/v1/attachments/%d", attA.ID), nil, map[string]string{"Authorization": "Bearer " + b.token})
	wantProblem(t, "visitor token on the staff attachment endpoint", res, body, 401, "unauthenticated")

	// A's conversation is exactly as it was, and A noticed nothing.
	sameTimeline(t, "A's timeline", before, staffHistory(t, admin, convA))
	if stateAfter, _ := chatState(t, admin, convA); stateAfter != stateBefore {
		t.Fatalf("A's chat went from %s to %s", stateBefore, stateAfter)
	}
	for _, f := range aw.drain(200 * time.Millisecond) {
		if f.Type == "typing" || f.Type == "message" || f.Type == "read" || f.Type == "chat" {
			t.Fatalf("A received %s %s caused by B", f.Type, f.Data)
		}
	}
	// And A still has full access to their own things.
	if res, got := a.rawDo("GET", fmt.Sprintf("/api/v1/visitor/attachments/%d", attA.ID), "", nil); res.StatusCode != 200 || string(got) != "invoice for A\n" {
		t.Fatalf("A's own attachment: %d %q", res.StatusCode, got)
	}
	sendMsg(t, aw, convA, "a-3", "still here")
}

// TestAuthzVisitorTypingThrottle: the typing throttle must not answer for a
// conversation the visitor cannot see.
func TestAuthzVisitorTypingThrottle(t *testing.T) {
	n := startNode(t, "", func(c *server.Config) { c.Gateway.TypingInterval = time.Hour })
	n.seed()
	a := n.newVisitor("demo", "")
	aw, _ := a.ws()
	convA := requestChat(t, aw, "mine")
	b := n.newVisitor("demo", "")
	bw, _ := b.ws()
	for i := 1; i <= 2; i++ {
		wantWSError(t, fmt.Sprintf("B typing #%d in A's conversation", i),
			bw.send("typing", map[string]any{"conversation_id": convA, "typing": true}), "conversation_not_found")
	}
	for i := 1; i <= 2; i++ {
		wantWSError(t, fmt.Sprintf("typing #%d in a conversation that does not exist", i),
			bw.send("typing", map[string]any{"conversation_id": convA + 1000, "typing": true}), "conversation_not_found")
	}
}

// TestAuthzSiteOrigins: once a site names its allowed origins, a visitor
// session cannot be started, nor a token used, from any other origin.
func TestAuthzSiteOrigins(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	demo := siteID(t, admin, "demo")
	admin.doProblem("PATCH", fmt.Sprintf("/api/v1/sites/%d", demo), map[string]any{"allowed_origins": []string{"javascript:alert(1)"}}, 400, "invalid_origin")
	var site struct {
		AllowedOrigins []string `json:"allowed_origins"`
	}
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", demo), map[string]any{"allowed_origins": []string{"http://shop.test"}}, &site); st != 200 ||
		len(site.AllowedOrigins) != 1 || site.AllowedOrigins[0] != "http://shop.test" {
		t.Fatalf("set allowed origins: %d %+v", st, site)
	}

	// Starting a session.
	jsonH := func(origin string) map[string]string {
		h := map[string]string{"Content-Type": "application/json"}
		if origin != "" {
			h["Origin"] = origin
		}
		return h
	}
	for _, o := range []string{"http://evil.test", "https://shop.test", "http://shop.test.evil.test", "http://evil.test/http://shop.test", "null", ""} {
		res, body := rawHTTP(t, nil, "POST", n.base+"/api/v1/visitor/sessions", []byte(`{"site_key":"demo"}`), jsonH(o))
		wantProblem(t, fmt.Sprintf("start session from %q", o), res, body, 403, "origin_not_allowed")
	}
	good := n.newVisitor("demo", "http://shop.test")

	// From the allowed origin everything works.
	gw, _ := good.ws()
	conv := requestChat(t, gw, "from the shop")
	sendMsg(t, gw, conv, "g-1", "hello from shop.test")
	if st := good.do("GET", fmt.Sprintf("/api/v1/visitor/conversations/%d/messages", conv), nil, nil); st != 200 {
		t.Fatalf("REST from the allowed origin: %d", st)
	}
	before := staffHistory(t, admin, conv)

	// The same token from another origin: REST is refused and writes nothing.
	evil := *good
	evil.origin = "http://evil.test"
	evil.doProblem("GET", "/api/v1/visitor/conversations", nil, 403, "origin_not_allowed")
	evil.doProblem("GET", fmt.Sprintf("/api/v1/visitor/conversations/%d/messages", conv), nil, 403, "origin_not_allowed")
	evil.doProblem("POST", fmt.Sprintf("/api/v1/visitor/conversations/%d/messages", conv), map[string]any{"client_id": "e-1", "body": "from evil"}, 403, "origin_not_allowed")
	evil.doProblem("POST", "/api/v1/visitor/chats", map[string]any{"name": "Mallory"}, 403, "origin_not_allowed")
	if st, body := evil.upload(conv, "x.txt", []byte("planted\n")); st != 403 || decode[problemBody](t, body).Code != "origin_not_allowed" {
		t.Fatalf("upload from another origin: %d %s", st, body)
	}
	sameTimeline(t, "after requests from another origin", before, staffHistory(t, admin, conv))

	// Over the socket: an auth from another origin (or none) gets
	// origin_not_allowed and the socket is closed with 4003.
	for _, o := range []string{"http://evil.test", ""} {
		w := dialVisitorWS(t, n, o)
		sendUnclaimed(t, w, "auth", "auth", map[string]any{"token": good.token})
		f := nextError(t, w)
		wantWSError(t, fmt.Sprintf("socket auth from %q", o), f, "origin_not_allowed")
		if code := w.waitClosed(); code != protocol.CloseForbidden {
			t.Fatalf("socket auth from %q: close code %d, want 4003", o, code)
		}
	}
	// The socket from the allowed origin is unaffected.
	sendMsg(t, gw, conv, "g-2", "still fine")
}

// TestAuthzOtherSiteAgent: an agent who belongs only to another site sees
// none of this site's conversations, by REST or WebSocket, and receives none
// of its events.
func TestAuthzOtherSiteAgent(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	demo := siteID(t, admin, "demo")
	other := createSite(t, admin, "Other Shop", "other")
	carolID := createUser(t, admin, "carol@other.test", "carol-agent-pass", "agent", other)
	carol := n.login("carol@other.test", "carol-agent-pass")
	cw := carol.ws()
	goOnline(t, cw)
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()

	// A chat on the demo site, with a presence signal and an attachment.
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	wantAck(t, "presence", vw.send("presence", map[string]any{"url": "https://shop.test/p", "title": "P", "visible": true}))
	conv := requestChat(t, vw, "demo-site question")
	st, body := v.upload(conv, "demo.txt", []byte("demo data\n"))
	if st != 201 {
		t.Fatalf("upload: %d %s", st, body)
	}
	att := decode[attachmentJSON](t, body)
	aw.waitEvent("chat", func(f frame) bool { return f.ConversationID == conv }) // alice (demo site) is told

	// A chat on carol's own site: carol is told about that one. Every event
	// of the demo chat was published before it, so it would have arrived first.
	v2 := n.newVisitor("other", "")
	vw2, _ := v2.ws()
	conv2 := requestChat(t, vw2, "other-site question")
	aboutDemo := func(f frame) bool {
		if f.Type == "presence" {
			return decode[struct {
				SiteID int64 `json:"site_id"`
			}](t, f.Data).SiteID != other
		}
		return f.ConversationID == conv || (f.ConversationID != 0 && f.ConversationID != conv2)
	}
	_, before := collectUntil(t, cw, "chat", func(f frame) bool { return f.ConversationID == conv2 })
	for _, f := range before {
		if aboutDemo(f) {
			t.Fatalf("carol (site %d only) received %s %s", other, f.Type, f.Data)
		}
	}
	// And alice is not told about carol's site.
	for _, f := range aw.drain(200 * time.Millisecond) {
		if f.ConversationID == conv2 {
			t.Fatalf("alice (demo site only) received %s of the other site", f.Type)
		}
	}

	// REST.
	var list struct {
		Conversations []struct {
			ID int64 `json:"id"`
		} `json:"conversations"`
	}
	for _, q := range []string{"", "?chat_state=waiting", fmt.Sprintf("?site_id=%d", demo), "?assignee=none", "?live=true"} {
		list.Conversations = nil
		if st := carol.do("GET", "/api/v1/conversations"+q, nil, &list); st != 200 {
			t.Fatalf("carol list %q: %d", q, st)
		}
		for _, c := range list.Conversations {
			if c.ID == conv {
				t.Fatalf("carol's list %q contains the demo conversation", q)
			}
		}
	}
	list.Conversations = nil
	if carol.do("GET", fmt.Sprintf("/api/v1/conversations?site_id=%d", demo), nil, &list); len(list.Conversations) != 0 {
		t.Fatalf("carol lists %d demo conversations", len(list.Conversations))
	}
	p := func(format string) string { return fmt.Sprintf(format, conv) }
	carol.doProblem("GET", p("/api/v1/conversations/%d"), nil, 404, "conversation_not_found")
	carol.doProblem("GET", p("/api/v1/conversations/%d/messages"), nil, 404, "conversation_not_found")
	carol.doProblem("POST", p("/api/v1/conversations/%d/notes"), map[string]any{"client_id": "c-1", "body": "x"}, 404, "conversation_not_found")
	carol.doProblem("POST", p("/api/v1/conversations/%d/messages"), map[string]any{"client_id": "c-2", "body": "x"}, 404, "conversation_not_found")
	carol.doProblem("POST", p("/api/v1/conversations/%d/join"), nil, 404, "conversation_not_found")
	carol.doProblem("POST", p("/api/v1/conversations/%d/end"), nil, 404, "conversation_not_found")
	carol.doProblem("PUT", p("/api/v1/conversations/%d/tags"), map[string]any{"tags": []string{"x"}}, 404, "conversation_not_found")
	carol.doProblem("PUT", p("/api/v1/conversations/%d/priority"), map[string]any{"priority": "urgent"}, 404, "conversation_not_found")
	carol.doProblem("POST", p("/api/v1/conversations/%d/read"), map[string]any{"seq": 1}, 404, "conversation_not_found")
	carol.doProblem("GET", fmt.Sprintf("/api/v1/attachments/%d", att.ID), nil, 404, "attachment_not_found")
	var sites struct {
		Sites []struct {
			ID int64 `json:"id"`
		} `json:"sites"`
	}
	if carol.do("GET", "/api/v1/sites", nil, &sites); len(sites.Sites) != 1 || sites.Sites[0].ID != other {
		t.Fatalf("carol's sites: %+v", sites.Sites)
	}

	// WebSocket.
	for _, c := range []struct {
		typ  string
		data map[string]any
	}{
		{"subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}},
		{"join", map[string]any{"conversation_id": conv}},
		{"send", map[string]any{"conversation_id": conv, "client_id": "c-3", "body": "x"}},
		{"note", map[string]any{"conversation_id": conv, "client_id": "c-4", "body": "x"}},
		{"typing", map[string]any{"conversation_id": conv, "typing": true}},
		{"read", map[string]any{"conversation_id": conv, "seq": 1}},
		{"end_chat", map[string]any{"conversation_id": conv}},
		{"leave", map[string]any{"conversation_id": conv}},
	} {
		wantWSError(t, "carol "+c.typ, cw.send(c.typ, c.data), "conversation_not_found")
	}

	// More demo-site activity after carol's attempts: still nothing for her.
	wantAck(t, "alice online", aw.send("availability", map[string]any{"availability": "available"}))
	wantAck(t, "alice join", aw.send("join", map[string]any{"conversation_id": conv}))
	sendMsg(t, vw, conv, "v-2", "more")
	aw.waitEvent("chat", func(f frame) bool {
		return f.ConversationID == conv && decode[chatEvent](t, f.Data).Chat.State == "active"
	})
	for _, f := range cw.drain(200 * time.Millisecond) {
		if aboutDemo(f) {
			t.Fatalf("carol received %s %s", f.Type, f.Data)
		}
	}
	if state, _ := chatState(t, admin, conv); state != "active" {
		t.Fatalf("demo chat is %s", state)
	}
	for _, m := range staffHistory(t, admin, conv) {
		if m.Body == "x" {
			t.Fatalf("carol wrote to the demo conversation: %+v", m)
		}
	}

	// Membership, not anything else, decides: added to the demo site, carol
	// sees the conversation over REST; removed again, she no longer does.
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/users/%d", carolID), map[string]any{"site_ids": []int64{other, demo}}, nil); st != 200 {
		t.Fatalf("add carol to demo: %d", st)
	}
	if st := carol.do("GET", p("/api/v1/conversations/%d"), nil, nil); st != 200 {
		t.Fatalf("carol as a demo member: %d", st)
	}
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/users/%d", carolID), map[string]any{"site_ids": []int64{other}}, nil); st != 200 {
		t.Fatalf("remove carol from demo: %d", st)
	}
	carol.doProblem("GET", p("/api/v1/conversations/%d"), nil, 404, "conversation_not_found")
}

// TestAuthzMembershipChangeReachesSockets: removing an agent from a site, or
// demoting them to supervisor, must take effect on their open socket too
// (either the socket is closed, or it loses the access at once).
func TestAuthzMembershipChangeReachesSockets(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	demo := siteID(t, admin, "demo")
	other := createSite(t, admin, "Other Shop", "other")
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aliceID := alice.userID()
	aw := alice.ws()
	goOnline(t, aw)
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "hi")
	aw.waitEvent("chat", func(f frame) bool { return f.ConversationID == conv })

	// Removed from the demo site.
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/users/%d", aliceID), map[string]any{"site_ids": []int64{other}}, nil); st != 200 {
		t.Fatalf("remove alice from demo: %d", st)
	}
	if f, err := aw.trySend("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}, 5*time.Second); err == nil {
		wantWSError(t, "subscribe after removal from the site", f, "conversation_not_found")
	}

	// Demoted to supervisor (back on the demo site, on a fresh socket).
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/users/%d", aliceID), map[string]any{"site_ids": []int64{demo}}, nil); st != 200 {
		t.Fatalf("re-add alice: %d", st)
	}
	aw2 := alice.ws()
	goOnline(t, aw2)
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/users/%d", aliceID), map[string]any{"role": "supervisor"}, nil); st != 200 {
		t.Fatalf("demote alice: %d", st)
	}
	if f, err := aw2.trySend("join", map[string]any{"conversation_id": conv}, 5*time.Second); err == nil {
		wantWSError(t, "join after demotion to supervisor", f, "supervisor_read_only")
	}
}

// TestAuthzSupervisorReadOnly: a supervisor reads everything on their site
// and writes notes, but cannot join, write to the customer, end the chat or
// upload; their typing never reaches the visitor.
func TestAuthzSupervisorReadOnly(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	demo := siteID(t, admin, "demo")
	supID := createUser(t, admin, "sue@demo.test", "supervisor-pass", "supervisor", demo)
	sup := n.login("sue@demo.test", "supervisor-pass")
	sw := sup.ws()
	goOnline(t, sw) // online, so only the role can refuse
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	goOnline(t, aw)

	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "help")
	wantAck(t, "visitor subscribe", vw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}))

	// Reading works.
	var list struct {
		Conversations []struct {
			ID int64 `json:"id"`
		} `json:"conversations"`
	}
	if st := sup.do("GET", "/api/v1/conversations", nil, &list); st != 200 || len(list.Conversations) != 1 || list.Conversations[0].ID != conv {
		t.Fatalf("supervisor list: %d %+v", st, list)
	}
	if st := sup.do("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), nil, nil); st != 200 {
		t.Fatalf("supervisor get: %d", st)
	}
	if len(staffHistory(t, sup, conv)) == 0 {
		t.Fatal("supervisor sees an empty timeline")
	}
	wantAck(t, "supervisor subscribe", sw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}))

	// Joining, writing to the customer, ending and uploading are refused,
	// over the socket and over REST, even on a waiting chat.
	wantWSError(t, "supervisor join", sw.send("join", map[string]any{"conversation_id": conv}), "supervisor_read_only")
	sup.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/join", conv), nil, 403, "supervisor_read_only")
	wantAck(t, "alice join", aw.send("join", map[string]any{"conversation_id": conv}))
	wantWSError(t, "supervisor join an active chat", sw.send("join", map[string]any{"conversation_id": conv}), "supervisor_read_only")
	wantWSError(t, "supervisor send", sw.send("send", map[string]any{"conversation_id": conv, "client_id": "s-1", "body": "hello customer"}), "supervisor_read_only")
	sup.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), map[string]any{"client_id": "s-2", "body": "hello customer"}, 403, "supervisor_read_only")
	wantWSError(t, "supervisor end", sw.send("end_chat", map[string]any{"conversation_id": conv}), "supervisor_read_only")
	sup.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/end", conv), nil, 403, "supervisor_read_only")
	st, body := uploadFile(t, sup.http, n.base+fmt.Sprintf("/api/v1/conversations/%d/attachments", conv),
		map[string]string{"X-CSRF-Token": sup.csrf}, "x.txt", []byte("from sup\n"))
	if st != 403 || decode[problemBody](t, body).Code != "supervisor_read_only" {
		t.Fatalf("supervisor upload: %d %s", st, body)
	}

	// Notes are allowed, over both transports.
	note := sw.send("note", map[string]any{"conversation_id": conv, "client_id": "s-n1", "body": "coach: ask for the order number"})
	wantAck(t, "supervisor note", note)
	if st := sup.do("POST", fmt.Sprintf("/api/v1/conversations/%d/notes", conv), map[string]any{"client_id": "s-n2", "body": "second note"}, nil); st != 200 {
		t.Fatalf("supervisor REST note: %d", st)
	}

	// Typing: the supervisor's reaches alice, never the visitor.
	wantAck(t, "alice subscribe", aw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}))
	wantAck(t, "supervisor typing", sw.send("typing", map[string]any{"conversation_id": conv, "typing": true}))
	aw.waitEvent("typing", func(f frame) bool { return decode[typingEvent](t, f.Data).UserID == supID })
	// Then alice types: her indicator reaches the visitor; the supervisor's,
	// sent before, would have arrived first.
	wantAck(t, "alice typing", aw.send("typing", map[string]any{"conversation_id": conv, "typing": true}))
	_, seen := collectUntil(t, vw, "typing", func(f frame) bool { return decode[typingEvent](t, f.Data).UserID == alice.userID() })
	seen = append(seen, vw.drain(200*time.Millisecond)...)
	for _, f := range seen {
		if f.Type == "typing" && decode[typingEvent](t, f.Data).UserID == supID {
			t.Fatalf("the visitor received the supervisor's typing: %s", f.Data)
		}
		if f.Type == "message" && decode[message](t, f.Data).Visibility != "public" {
			t.Fatalf("the visitor received a note: %s", f.Data)
		}
	}

	// The chat is alice's alone, and the supervisor wrote only notes.
	if state, assignee := chatState(t, admin, conv); state != "active" || assignee != alice.userID() {
		t.Fatalf("chat after supervisor attempts: %s, assignee %d", state, assignee)
	}
	notes := 0
	for _, m := range staffHistory(t, admin, conv) {
		if strings.HasPrefix(m.ClientID, "s-") {
			if m.Kind != "note" || m.Visibility != "internal" {
				t.Fatalf("the supervisor wrote a %s %s entry: %+v", m.Visibility, m.Kind, m)
			}
			notes++
		}
	}
	if notes != 2 {
		t.Fatalf("supervisor notes in timeline: %d, want 2", notes)
	}
	var vh struct{ Messages []message }
	v.do("GET", fmt.Sprintf("/api/v1/visitor/conversations/%d/messages", conv), nil, &vh)
	for _, m := range vh.Messages {
		if strings.HasPrefix(m.ClientID, "s-") {
			t.Fatalf("the visitor's history has a supervisor entry: %+v", m)
		}
	}
}

// TestAuthzAdminOnly: agents and supervisors cannot manage users or sites.
func TestAuthzAdminOnly(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	demo := siteID(t, admin, "demo")
	createUser(t, admin, "sue@demo.test", "supervisor-pass", "supervisor", demo)
	alice := n.login("alice@demo.test", "demo-agent-pass")
	sup := n.login("sue@demo.test", "supervisor-pass")
	var usersBefore struct {
		Users []map[string]any `json:"users"`
	}
	admin.do("GET", "/api/v1/users", nil, &usersBefore)

	for _, c := range []*staffClient{alice, sup} {
		me := c.userID()
		c.doProblem("POST", "/api/v1/users", map[string]any{"email": "mallory@demo.test", "name": "Mallory", "password": "mallory-pass", "role": "admin", "site_ids": []int64{demo}}, 403, "admin_only")
		c.doProblem("GET", "/api/v1/users", nil, 403, "admin_only")
		c.doProblem("PATCH", fmt.Sprintf("/api/v1/users/%d", me), map[string]any{"role": "admin"}, 403, "admin_only")
		c.doProblem("PATCH", "/api/v1/users/1", map[string]any{"disabled": true}, 403, "admin_only")
		c.doProblem("POST", "/api/v1/sites", map[string]any{"name": "Mine", "key": "mine"}, 403, "admin_only")
		c.doProblem("PATCH", fmt.Sprintf("/api/v1/sites/%d", demo), map[string]any{"allowed_origins": []string{"*"}}, 403, "admin_only")
	}

	// Nothing changed.
	var usersAfter struct {
		Users []map[string]any `json:"users"`
	}
	admin.do("GET", "/api/v1/users", nil, &usersAfter)
	if len(usersAfter.Users) != len(usersBefore.Users) {
		t.Fatalf("users: %d before, %d after", len(usersBefore.Users), len(usersAfter.Users))
	}
	for _, u := range usersAfter.Users {
		if u["role"] == "admin" && u["email"] != "admin@demo.test" {
			t.Fatalf("a non-admin became admin: %v", u)
		}
		if u["disabled"] == true {
			t.Fatalf("a user was disabled: %v", u)
		}
	}
	var sites struct {
		Sites []struct {
			Key            string   `json:"key"`
			AllowedOrigins []string `json:"allowed_origins"`
		} `json:"sites"`
	}
	admin.do("GET", "/api/v1/sites", nil, &sites)
	if len(sites.Sites) != 1 || len(sites.Sites[0].AllowedOrigins) != 0 {
		t.Fatalf("sites after refused requests: %+v", sites.Sites)
	}
	// An admin cannot lock themselves out either.
	admin.doProblem("PATCH", fmt.Sprintf("/api/v1/users/%d", admin.userID()), map[string]any{"disabled": true}, 409, "cannot_demote_self")
}

// TestAuthzChatOwnership: a chat another agent took cannot be joined, and
// only participants write to the customer or end the chat.
func TestAuthzChatOwnership(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	bob := n.login("bob@demo.test", "demo-agent-pass")
	aw, bw := alice.ws(), bob.ws()
	goOnline(t, aw)
	goOnline(t, bw)
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "who takes me?")

	// Before anyone joined, nobody writes to the customer.
	wantWSError(t, "alice send before join", aw.send("send", map[string]any{"conversation_id": conv, "client_id": "a-0", "body": "hi"}), "not_a_participant")

	wantAck(t, "alice join", aw.send("join", map[string]any{"conversation_id": conv}))
	before := staffHistory(t, alice, conv)

	wantWSError(t, "bob join", bw.send("join", map[string]any{"conversation_id": conv}), "chat_already_taken")
	bob.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/join", conv), nil, 409, "chat_already_taken")
	wantWSError(t, "bob send", bw.send("send", map[string]any{"conversation_id": conv, "client_id": "b-1", "body": "let me"}), "not_a_participant")
	bob.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), map[string]any{"client_id": "b-2", "body": "let me"}, 409, "not_a_participant")
	wantWSError(t, "bob end", bw.send("end_chat", map[string]any{"conversation_id": conv}), "not_a_participant")
	bob.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/end", conv), nil, 409, "not_a_participant")
	wantWSError(t, "bob leave", bw.send("leave", map[string]any{"conversation_id": conv}), "not_a_participant")

	sameTimeline(t, "after bob's attempts", before, staffHistory(t, alice, conv))
	if state, assignee := chatState(t, alice, conv); state != "active" || assignee != alice.userID() {
		t.Fatalf("chat after bob's attempts: %s, assignee %d", state, assignee)
	}
	// Alice, the participant, can.
	sendMsg(t, aw, conv, "a-1", "I have it")
}

// TestAuthzRevocation: disabling a user or changing their password closes
// their open sockets with 4009 and their cookie stops working.
func TestAuthzRevocation(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	bob := n.login("bob@demo.test", "demo-agent-pass")
	bobID := bob.userID()
	bw1, bw2 := bob.ws(), bob.ws() // two tabs
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aliceID := alice.userID()
	aw := alice.ws()
	wsURL := strings.Replace(n.base, "http", "ws", 1) + "/ws/staff"

	// Disable bob.
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/users/%d", bobID), map[string]any{"disabled": true}, nil); st != 200 {
		t.Fatalf("disable bob: %d", st)
	}
	for i, w := range []*wsClient{bw1, bw2} {
		if code := w.waitClosed(); code != protocol.CloseRevoked {
			t.Fatalf("bob's socket %d closed with %d, want 4009", i+1, code)
		}
	}
	res, body := bob.rawDo("GET", "/api/v1/me", "", nil, nil)
	wantProblem(t, "disabled bob's cookie", res, body, 401, "unauthenticated")
	if _, err := dialWS(t, wsURL, http.Header{"Origin": {n.base}}, bob.http); err == nil {
		t.Fatal("disabled bob opened a staff socket")
	}
	res, body = rawHTTP(t, nil, "POST", n.base+"/api/v1/auth/login", []byte(`{"email":"bob@demo.test","password":"demo-agent-pass"}`), map[string]string{"Content-Type": "application/json"})
	wantProblem(t, "disabled bob logs in", res, body, 401, "invalid_credentials")
	// Enabling him again does not bring the old session back.
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/users/%d", bobID), map[string]any{"disabled": false}, nil); st != 200 {
		t.Fatalf("enable bob: %d", st)
	}
	res, body = bob.rawDo("GET", "/api/v1/me", "", nil, nil)
	wantProblem(t, "re-enabled bob's old cookie", res, body, 401, "unauthenticated")

	// Alice's socket was not touched by bob's revocation.
	pingOK(t, aw, "bob's revocation")

	// A new password for alice closes her socket and ends her session.
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/users/%d", aliceID), map[string]any{"password": "a-brand-new-pass"}, nil); st != 200 {
		t.Fatalf("change alice's password: %d", st)
	}
	if code := aw.waitClosed(); code != protocol.CloseRevoked {
		t.Fatalf("alice's socket closed with %d, want 4009", code)
	}
	res, body = alice.rawDo("GET", "/api/v1/me", "", nil, nil)
	wantProblem(t, "alice's cookie after a password change", res, body, 401, "unauthenticated")
	res, body = rawHTTP(t, nil, "POST", n.base+"/api/v1/auth/login", []byte(`{"email":"alice@demo.test","password":"demo-agent-pass"}`), map[string]string{"Content-Type": "application/json"})
	wantProblem(t, "alice's old password", res, body, 401, "invalid_credentials")
	alice2 := n.login("alice@demo.test", "a-brand-new-pass")
	pingOK(t, alice2.ws(), "a fresh login")
	// The admin's own socket and session are unaffected throughout.
	pingOK(t, admin.ws(), "revocations of others")
}

// TestAuthzStaffSocketOrigin: a staff socket cannot be opened from a foreign
// page riding the agent's cookie, nor without a session.
func TestAuthzStaffSocketOrigin(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	wsURL := strings.Replace(n.base, "http", "ws", 1) + "/ws/staff"
	dial := func(origin string, hc *http.Client) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, res, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}, HTTPClient: hc})
		if err == nil {
			conn.CloseNow()
			return 101, nil
		}
		if res == nil {
			return 0, err
		}
		return res.StatusCode, err
	}
	for _, o := range []string{"http://evil.test", "null", "http://127.0.0.1.evil.test"} {
		if st, err := dial(o, alice.http); st != http.StatusForbidden {
			t.Fatalf("staff upgrade from %q: status %d (%v), want 403", o, st, err)
		}
	}
	if st, err := dial(n.base, &http.Client{Timeout: 5 * time.Second}); st != http.StatusUnauthorized {
		t.Fatalf("staff upgrade without a session: status %d (%v), want 401", st, err)
	}
	// From the console's own origin it works.
	pingOK(t, alice.ws(), "a same-origin upgrade")
}

// lockedBuffer is an io.Writer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAuthzSecretsNeverLogged: visitor tokens (and staff session and CSRF
// tokens) never appear in the server's logs, even at debug level and on
// error paths.
func TestAuthzSecretsNeverLogged(t *testing.T) {
	var logs lockedBuffer
	n := startNode(t, "", func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	demo := siteID(t, admin, "demo")
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", demo), map[string]any{"allowed_origins": []string{"http://shop.test"}}, nil); st != 200 {
		t.Fatalf("set origins: %d", st)
	}
	v := n.newVisitor("demo", "http://shop.test")
	other := n.newVisitor("demo", "http://shop.test")

	// A normal flow.
	vw, _ := v.ws()
	conv := requestChat(t, vw, "my token is secret")
	sendMsg(t, vw, conv, "m-1", "hello")
	wantAck(t, "presence", vw.send("presence", map[string]any{"url": "https://shop.test/checkout", "visible": true}))
	if st, _ := v.upload(conv, "a.txt", []byte("text\n")); st != 201 {
		t.Fatalf("upload: %d", st)
	}
	// Errors of every kind, with the token in play.
	wantWSError(t, "bad send", vw.send("send", map[string]any{"conversation_id": conv + 99, "client_id": "m-2", "body": "x"}), "conversation_not_found")
	wantWSError(t, "bad presence", vw.send("presence", map[string]any{"url": "javascript:" + v.token}), "invalid_url")
	wantWSError(t, "second auth", vw.send("auth", map[string]any{"token": v.token}), "already_authenticated")
	if err := vw.raw([]byte(`{"id":"x","type":"auth","data":{"token":"` + v.token + `"}`)); err != nil {
		t.Fatal(err)
	}
	wantWSError(t, "truncated frame with the token", nextError(t, vw), "invalid_json")
	for _, tc := range []struct{ token, origin string }{
		{v.token, "http://evil.test"},               // right token, wrong origin
		{v.token[:len(v.token)-2] + "zz", ""},       // almost the token
		{strings.Repeat(v.token, 7), "http://x.te"}, // too long
	} {
		w := dialVisitorWS(t, n, tc.origin)
		sendUnclaimed(t, w, "auth", "auth", map[string]any{"token": tc.token})
		nextError(t, w)
		w.waitClosed()
	}
	evil := *v
	evil.origin = "http://evil.test"
	evil.doProblem("GET", "/api/v1/visitor/conversations", nil, 403, "origin_not_allowed")
	res, body := rawHTTP(t, nil, "GET", n.base+"/api/v1/visitor/conversations", nil,
		map[string]string{"Authorization": "Bearer " + v.token + "x", "Origin": "http://shop.test"})
	wantProblem(t, "bad bearer", res, body, 401, "unauthenticated")
	res, body = rawHTTP(t, nil, "GET", n.base+"/api/v1/visitor/conversations?token="+url.QueryEscape(other.token), nil, nil)
	wantProblem(t, "token in a query string", res, body, 401, "unauthenticated")
	v.doProblem("POST", fmt.Sprintf("/api/v1/visitor/conversations/%d/messages", conv), map[string]any{"client_id": "bad id", "body": v.token}, 400, "invalid_client_id")
	// A socket dropped mid-flight, then the node shuts down.
	ow, _ := other.ws()
	ow.conn.CloseNow()
	vw.conn.CloseNow()
	n.shutdown()

	out := logs.String()
	if !strings.Contains(out, "switchboard listening") {
		t.Fatalf("the logger was not wired: %q", out)
	}
	secrets := map[string]string{
		"visitor token":       v.token,
		"other visitor token": other.token,
		"admin CSRF token":    admin.csrf,
	}
	u, _ := url.Parse(n.base)
	for _, ck := range admin.http.Jar.Cookies(u) {
		secrets["staff session cookie "+ck.Name] = ck.Value
	}
	for name, s := range secrets {
		if len(s) < 20 {
			t.Fatalf("%s is suspiciously short: %q", name, s)
		}
		// Neither the whole secret nor a recognisable part of it.
		for _, part := range []string{s, s[:16], s[len(s)-16:]} {
			if strings.Contains(out, part) {
				i := strings.Index(out, part)
				t.Fatalf("the %s appears in the logs: ...%s...", name, out[max(0, i-200):min(len(out), i+len(part)+50)])
			}
		}
	}
}
