package server_test

import (
	"fmt"
	"strings"
	"testing"

	"switchboard/internal/chat"
)

type attrsReply struct {
	Attributes map[string]string `json:"attributes"`
	Code       string            `json:"code"`
}

func (v *visitor) sendAttributes(attrs any) (int, attrsReply) {
	v.t.Helper()
	var out attrsReply
	st := v.do("POST", "/api/v1/visitor/attributes", map[string]any{"attributes": attrs}, &out)
	return st, out
}

// staffContact is the contact of a conversation as the console gets it.
func staffContact(t *testing.T, c *staffClient, conv int64) (attrs, visitorAttrs map[string]string) {
	t.Helper()
	var view struct {
		Contact struct {
			Attributes        map[string]string `json:"attributes"`
			VisitorAttributes map[string]string `json:"visitor_attributes"`
		} `json:"contact"`
	}
	if st := c.do("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), nil, &view); st != 200 {
		t.Fatalf("get conversation: %d", st)
	}
	return view.Contact.Attributes, view.Contact.VisitorAttributes
}

// TestVisitorAttributesUnverified: on a site that does not require identity
// verification, the widget's attributes reach the contact as unverified
// visitor attributes (merged, bounded, typed errors, all-or-nothing), never
// overwriting a verified identity's attributes; with verification required
// they are refused.
func TestVisitorAttributesUnverified(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	alice := n.login("alice@demo.test", "demo-agent-pass")
	site := demoSiteID(t, admin)

	v := n.newVisitor("demo", "")
	st, out := v.sendAttributes(map[string]any{"plan": "free", "cart.items": 3, "price": 19.5, "vip": false})
	want := map[string]string{"plan": "free", "cart.items": "3", "price": "19.5", "vip": "false"}
	if st != 200 || fmt.Sprint(out.Attributes) != fmt.Sprint(want) {
		t.Fatalf("send: %d %+v", st, out)
	}
	// Merged; null removes.
	st, out = v.sendAttributes(map[string]any{"plan": "pro", "vip": nil})
	want = map[string]string{"plan": "pro", "cart.items": "3", "price": "19.5"}
	if st != 200 || fmt.Sprint(out.Attributes) != fmt.Sprint(want) {
		t.Fatalf("merge: %d %+v", st, out)
	}

	// Bad input: typed errors, nothing stored.
	many := map[string]any{}
	for i := 0; i < 51; i++ {
		many[fmt.Sprintf("k%d", i)] = i
	}
	almost := map[string]any{}
	for i := 0; i < 48; i++ { // 3 stored + 48 new = 51
		almost[fmt.Sprintf("k%d", i)] = i
	}
	for _, c := range []struct {
		name  string
		attrs any
		code  string
	}{
		{"upper-case key", map[string]any{"Plan": "x"}, "invalid_attribute"},
		{"space in key", map[string]any{"my plan": "x"}, "invalid_attribute"},
		{"empty key", map[string]any{"": "x"}, "invalid_attribute"},
		{"long key", map[string]any{strings.Repeat("k", 65): "x"}, "invalid_attribute"},
		{"long value", map[string]any{"plan": strings.Repeat("é", 257)}, "invalid_attribute"},
		{"control character", map[string]any{"plan": "a\u0007b"}, "invalid_attribute"},
		{"object", map[string]any{"plan": map[string]any{"a": 1}}, "invalid_attribute"},
		{"array", map[string]any{"plan": []int{1}}, "invalid_attribute"},
		{"one bad among good", map[string]any{"ok": "1", "BAD": "2"}, "invalid_attribute"},
		{"51 keys", many, "too_many_attributes"},
		{"over 50 after merging", almost, "too_many_attributes"},
	} {
		if st, out := v.sendAttributes(c.attrs); st != 400 || out.Code != c.code {
			t.Errorf("%s: %d %q, want 400 %s", c.name, st, out.Code, c.code)
		}
	}
	var p struct {
		Code string `json:"code"`
	}
	if st := v.do("POST", "/api/v1/visitor/attributes", map[string]any{"attributes": "plan"}, &p); st != 400 {
		t.Errorf("attributes not an object: %d %s", st, p.Code)
	}
	// Exactly 50 keys in all and 64-character keys / 256-character values are fine.
	full := map[string]any{strings.Repeat("k", 64): strings.Repeat("é", 256)}
	for i := 0; i < 46; i++ {
		full[fmt.Sprintf("k%d", i)] = true
	}
	if st, out := v.sendAttributes(full); st != 200 || len(out.Attributes) != 50 {
		t.Fatalf("50 attributes: %d %d %s", st, len(out.Attributes), out.Code)
	}

	// Staff see them, apart from verified attributes.
	vw, _ := v.ws()
	conv := requestChat(t, vw, "what do I pay?")
	attrs, vattrs := staffContact(t, alice, conv)
	if len(attrs) != 0 || vattrs["plan"] != "pro" || vattrs["cart.items"] != "3" || len(vattrs) != 50 {
		t.Fatalf("staff see attributes %v, visitor attributes %v", attrs, vattrs)
	}

	// Not a visitor: staff cannot use the endpoint (no bearer token).
	if st := alice.do("POST", "/api/v1/visitor/attributes", map[string]any{"attributes": map[string]any{"a": "b"}}, nil); st != 401 {
		t.Errorf("staff on the visitor endpoint: %d", st)
	}

	// A verified identity's attributes are never overwritten by unverified ones.
	var updated struct {
		Identity struct {
			Secret string `json:"secret"`
		} `json:"identity"`
	}
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"identity": map[string]any{"required": false, "rotate_secret": true}}, &updated); st != 200 || updated.Identity.Secret == "" {
		t.Fatalf("identity secret: %d", st)
	}
	w := n.newVisitor("demo", "")
	good := map[string]any{"user_id": "u-7", "name": "Kim", "attributes": map[string]string{"plan": "enterprise"},
		"hash": chat.IdentityHash(updated.Identity.Secret, "u-7")}
	if st := w.do("POST", "/api/v1/visitor/identify", good, nil); st != 200 {
		t.Fatalf("identify: %d", st)
	}
	if st, out := w.sendAttributes(map[string]any{"plan": "free"}); st != 200 || out.Attributes["plan"] != "free" {
		t.Fatalf("unverified attributes of a verified visitor: %d %+v", st, out)
	}
	ww, _ := w.ws()
	conv2 := requestChat(t, ww, "hello")
	attrs, vattrs = staffContact(t, alice, conv2)
	if attrs["plan"] != "enterprise" || vattrs["plan"] != "free" {
		t.Fatalf("verified %v / unverified %v", attrs, vattrs)
	}

	// With verification required, unverified attributes are refused.
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"identity": map[string]any{"required": true}}, nil); st != 200 {
		t.Fatalf("require identity: %d", st)
	}
	x := n.newVisitor("demo", "")
	if st, out := x.sendAttributes(map[string]any{"plan": "free"}); st != 403 || out.Code != "identity_required" {
		t.Fatalf("required site: %d %+v", st, out)
	}
}
