package server_test

// Browser test of verified visitor identities in the widget (docs/widget.md,
// "Identity verification"): the site's backend signs its user's id, the page
// calls Switchboard('identify', {..., hash}), and the person's history
// follows them to any browser; a wrong signature leaves the visitor
// anonymous.

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"switchboard/internal/chat"
)

// widgetContext opens a tab in a new browser context of b's Chromium: its
// own storage, as another device.
func widgetContext(t *testing.T, b *widgetBrowser) *widgetBrowser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // open the tab without a timeout: it lives as long as ctx
		t.Fatalf("new browser context: %v", err)
	}
	return &widgetBrowser{t: t, ctx: ctx}
}

// TestWidgetVerifiedIdentity: on a site that requires verified identities,
// a signed-in customer (hash from chat.IdentityHash) starts a chat without
// name or email fields and is that contact; the same identify call in
// another browser context shows that conversation's history; a wrong hash
// stays anonymous (a console warning without the hash), sees nothing of it,
// and its chat request claims no name or email; after reset, the offline
// form asks the visitor to sign in on the site instead of for an email.
func TestWidgetVerifiedIdentity(t *testing.T) {
	b := widgetNewBrowser(t)
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
		t.Fatalf("enable identity verification: %d %+v", st, updated)
	}
	good := chat.IdentityHash(updated.Identity.Secret, "u-1")
	bad := chat.IdentityHash("not the secret", "u-1")
	aw := widgetAgent(t, n)

	// The host page identifies its signed-in user before the loader has
	// arrived (queued), and records console warnings.
	page := func(hash string) string {
		return `<script>window.__warns = [];
(function(){ var w = console.warn; console.warn = function(){ window.__warns.push(Array.prototype.join.call(arguments, ' ')); return w.apply(console, arguments); }; })();
Switchboard('identify', {user_id: 'u-1', email: 'kim@example.com', name: 'Kim', attributes: {plan: 'pro', seats: 3}, hash: ` + widgetQuote(hash) + `});
</script>`
	}
	host := widgetHostPage(t, n.base, page(good))
	forged := widgetHostPage(t, n.base, page(bad))

	// Kim starts a chat: no name or email fields; the chat is hers.
	b.do(chromedp.Navigate(host.URL))
	b.waitFor("launcher", `q('.l')`)
	b.do(chromedp.Click(widgetEl(".l")))
	b.waitFor("pre-chat form without name and email", `q('.p') && !q('.p').hidden && q('#sb-f-body') && !q('#sb-f-name') && !q('#sb-f-email')`)
	b.do(
		chromedp.SendKeys(widgetEl("#sb-f-body"), "Where is my order?"),
		chromedp.Click(widgetEl("form.fm button[type=submit]")),
	)
	conv := aw.waitEvent("chat", func(f frame) bool { return decode[chatEvent](t, f.Data).Chat.State == "waiting" }).ConversationID
	widgetJoin(t, aw, conv)
	widgetAgentSay(t, aw, conv, "a-kim", "Hi Kim, let me look.")
	b.waitFor("the chat with the agent", `q('.h .t b').textContent === 'Alice Agent' && qa('.ms .m .bu').map(e => e.textContent).join('|') === 'Where is my order?|Hi Kim, let me look.' && !q('.m.pe')`)
	type contactView struct {
		Contact struct {
			ID         int64             `json:"id"`
			Name       string            `json:"name"`
			Email      string            `json:"email"`
			ExternalID string            `json:"external_id"`
			Attributes map[string]string `json:"attributes"`
		} `json:"contact"`
	}
	contactOf := func(conv int64) contactView {
		t.Helper()
		var cv contactView
		if st := admin.do("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), nil, &cv); st != 200 {
			t.Fatalf("conversation %d: %d", conv, st)
		}
		return cv
	}
	kim := contactOf(conv)
	if c := kim.Contact; c.Name != "Kim" || c.Email != "kim@example.com" || c.ExternalID == "" || c.Attributes["plan"] != "pro" || c.Attributes["seats"] != "3" {
		t.Fatalf("Kim's contact: %+v", c)
	}
	b.screenshot("11-identified")

	// The same person on another device: her conversation, with its history.
	b2 := widgetContext(t, b)
	b2.do(chromedp.Navigate(host.URL))
	b2.waitFor("launcher", `q('.l')`)
	b2.do(chromedp.Click(widgetEl(".l")))
	b2.waitFor("Kim's history on the second device", `q('.p') && !q('.p').hidden && q('.h .t b').textContent === 'Alice Agent' &&
		qa('.ms .m .bu').map(e => e.textContent).join('|') === 'Where is my order?|Hi Kim, let me look.'`)
	// Live too: the agent's next message reaches both.
	widgetAgentSay(t, aw, conv, "a-kim-2", "Found it: it ships today.")
	for _, w := range []*widgetBrowser{b, b2} {
		w.waitFor("the agent's message on both devices", `qa('.ms .m.them .bu').filter(e => e.textContent === 'Found it: it ships today.').length === 1`)
	}
	var warns []string
	if err := b2.evalPage(`window.__warns`, &warns); err != nil || len(warns) != 0 {
		t.Fatalf("console warnings with a good signature: %q %v", warns, err)
	}
	// A returning visit (token stored): the loader sends the identity before
	// the UI is loaded, and the UI reuses that answer (one request per page).
	b.do(chromedp.Reload())
	b.waitFor("Kim's chat after a reload", `q('.p') && !q('.p').hidden && q('.h .t b').textContent === 'Alice Agent' &&
		qa('.ms .m .bu').map(e => e.textContent).join('|') === 'Where is my order?|Hi Kim, let me look.|Found it: it ships today.'`)
	var identifies []float64
	if err := b.evalPage(`performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/v1/visitor/identify')).map(e => e.startTime)`, &identifies); err != nil {
		t.Fatal(err)
	}
	var uiAt float64
	if err := b.evalPage(`performance.getEntriesByType('resource').find(e => e.name.includes('/ui.js')).startTime`, &uiAt); err != nil {
		t.Fatal(err)
	}
	if len(identifies) != 1 || identifies[0] > uiAt {
		t.Fatalf("identify requests at %v ms, the UI requested at %.1f ms: want one, before the UI", identifies, uiAt)
	}

	// A wrong signature: anonymous, nothing of Kim's, a warning for the
	// site's developer that never shows the hash.
	b3 := widgetContext(t, b)
	b3.do(chromedp.Navigate(forged.URL))
	b3.waitFor("launcher", `q('.l')`)
	b3.do(chromedp.Click(widgetEl(".l")))
	b3.waitFor("a refused identity, connected", `window.__warns.some(w => w.includes('identity_unverified')) && localStorage.getItem('sb:demo:contact')`)
	b3.waitFor("an empty pre-chat form without name and email", `q('.p') && !q('.p').hidden && q('#sb-f-body') && !q('#sb-f-name') && !q('#sb-f-email') && !qa('.ms .m').length`)
	if err := b3.evalPage(`window.__warns`, &warns); err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		if strings.Contains(w, bad) || strings.Contains(w, good) {
			t.Fatalf("a console warning shows the hash: %q", w)
		}
	}
	b3.screenshot("12-identity-refused")
	b3.do(
		chromedp.SendKeys(widgetEl("#sb-f-body"), "Am I Kim?"),
		chromedp.Click(widgetEl("form.fm button[type=submit]")),
	)
	other := aw.waitEvent("chat", func(f frame) bool {
		return f.ConversationID != conv && decode[chatEvent](t, f.Data).Chat.State == "waiting"
	}).ConversationID
	b3.waitFor("the anonymous question sent", `qa('.ms .m.me .bu').map(e => e.textContent).join('|') === 'Am I Kim?' && !q('.m.pe')`)
	if c := contactOf(other).Contact; c.ID == kim.Contact.ID || c.Email != "" || c.ExternalID != "" || c.Name == "Kim" {
		t.Fatalf("the forged visitor's contact: %+v (Kim is %d)", c, kim.Contact.ID)
	}
	if got := strings.Join(b3.texts(), "|"); strings.Contains(got, "Kim, let me look") {
		t.Fatalf("the forged visitor sees Kim's chat: %q", got)
	}

	// Logout on Kim's second device: the next visitor there is anonymous.
	var oldToken string
	if err := b2.evalPage(`localStorage.getItem('sb:demo:token')`, &oldToken); err != nil || oldToken == "" {
		t.Fatalf("token: %q %v", oldToken, err)
	}
	var ok bool
	if err := b2.evalPage(`(Switchboard('reset'), true)`, &ok); err != nil {
		t.Fatal(err)
	}
	b2.waitFor("an anonymous visitor after reset", `localStorage.getItem('sb:demo:token') && localStorage.getItem('sb:demo:token') !== `+widgetQuote(oldToken)+` &&
		localStorage.getItem('sb:demo:contact') && !qa('.ms .m').length && q('#sb-f-body') && !q('#sb-f-name') && !q('#sb-f-email') && q('.h .t b').textContent === 'Chat with us'`)

	// Nobody to chat with: the offline form needs an email, which only a
	// signed-in (verified) visitor may give: it says to sign in instead.
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"widget_mode": "assistant"}, nil); st != 200 {
		t.Fatalf("set widget mode: %d", st)
	}
	b2.do(
		chromedp.SendKeys(widgetEl("#sb-f-body"), "Anyone there?"),
		chromedp.Click(widgetEl("form.fm button[type=submit]")),
	)
	// The assistant answers and offers the offline form.
	b2.waitFor("the assistant's answer", `qa('.ms .m.them .bu').some(e => e.textContent.includes('Leave us a message')) && q('.ms .rt button')`)
	b2.do(chromedp.Click(widgetEl(".ms .rt button")))
	b2.waitFor("sign in to leave a message", `q('form.fm') && !q('form.fm').hidden && q('form.fm').textContent.includes('Leave us a message') &&
		q('form.fm').textContent.includes('please sign in on this website') && !q('#sb-f-email') && !q('form.fm button[type=submit]')`)
	b2.screenshot("13-offline-sign-in")
}
