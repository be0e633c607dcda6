package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWidgetAgentAvatar: an agent with a profile picture joins; the widget,
// on another origin, shows the picture (loaded, not broken) in its header
// with the agent's name as alt text, in place of the initials.
func TestWidgetAgentAvatar(t *testing.T) {
	b := widgetNewBrowser(t)
	n := startNode(t, "")
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	st, u := alice.putAvatar(pngBytes(t))
	if st != 200 {
		t.Fatalf("PUT avatar: %d %v", st, u)
	}
	src := n.base + u["avatar_url"].(string)

	host := widgetHostPage(t, n.base, "")
	aw := widgetAgent(t, n)
	b.do(chromedp.Navigate(host.URL))
	conv := widgetStartChat(t, b, aw, "Who is there?")
	// Before anyone joins: no photo.
	b.waitFor("header without photo", `q('.h .av') && !q('.h .av img')`)
	widgetJoin(t, aw, conv)
	b.waitFor("agent joined", `q('.h .t b').textContent === 'Alice Agent'`)
	b.waitFor("header photo loaded", `(() => { const i = q('.h .av img'); return i && i.getAttribute('src') === `+
		widgetQuote(src)+` && i.alt === 'Alice Agent' && i.complete && i.naturalWidth === 4; })()`)
	b.screenshot("agent-avatar")
}

// TestWidgetSendsUnverifiedAttributes: Switchboard('attributes', {...})
// without a signed identity reaches the server once the widget has a
// session, as the contact's unverified visitor attributes.
func TestWidgetSendsUnverifiedAttributes(t *testing.T) {
	b := widgetNewBrowser(t)
	n := startNode(t, "")
	n.seed()
	host := widgetHostPage(t, n.base, `<script>Switchboard('attributes', { plan: 'pro', 'cart.items': 3, beta: true });</script>`)
	aw := widgetAgent(t, n)
	b.do(chromedp.Navigate(host.URL))
	conv := widgetStartChat(t, b, aw, "Do I have the pro plan?")
	alice := n.login("alice@demo.test", "demo-agent-pass")
	deadline := time.Now().Add(waitLimit)
	for {
		attrs, vattrs := staffContact(t, alice, conv)
		if vattrs["plan"] == "pro" && vattrs["cart.items"] == "3" && vattrs["beta"] == "true" && len(attrs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("contact attributes %v, visitor attributes %v", attrs, vattrs)
		}
		time.Sleep(30 * time.Millisecond)
	}
	// Later calls are merged in.
	b.do(chromedp.Evaluate[chromedp.Void](`Switchboard('attributes', { plan: 'team' })`))
	for {
		if _, vattrs := staffContact(t, alice, conv); vattrs["plan"] == "team" && vattrs["beta"] == "true" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the later attributes did not arrive")
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// TestConsoleAvatarAndVisitorAttributes: in Preferences an agent uploads a
// profile picture (preview, and in the header), sees a clear error for a
// file that is not an image, and removes it; the customer sidebar shows
// the visitor's own attributes marked unverified.
func TestConsoleAvatarAndVisitorAttributes(t *testing.T) {
	browser := consoleNewBrowser(t)
	n := startNode(t, "")
	n.seed()
	shots := consoleArtifacts(t)
	alice := consolePage{t: t, ctx: browser, name: "alice"}
	alice.signIn(n.base, "alice@demo.test", "demo-agent-pass")

	alice.do(chromedp.Click(chromedp.ID("nav-preferences")))
	alice.waitFor("Preferences without a picture", `document.querySelector('span#prefs-avatar-preview') && document.querySelector('#prefs-avatar-file')`)
	alice.do(chromedp.SetUploadFiles(chromedp.ID("prefs-avatar-file"), []string{widgetPNG(t)}))
	alice.waitFor("the preview and the header picture", `(() => {
		const p = document.querySelector('img#prefs-avatar-preview'), h = document.querySelector('.me img.avatar');
		return p && p.complete && p.naturalWidth === 64 && p.alt.includes('Alice Agent') && h && h.getAttribute('src') === p.getAttribute('src') &&
			/^\/api\/v1\/avatars\/[0-9a-f]{32}$/.test(p.getAttribute('src')) && document.querySelector('#prefs-avatar-remove');
	})()`)
	alice.screenshot(shots, "preferences-avatar")

	notImage := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notImage, []byte("not a picture"), 0o644); err != nil {
		t.Fatal(err)
	}
	alice.do(chromedp.SetUploadFiles(chromedp.ID("prefs-avatar-file"), []string{notImage}))
	alice.waitFor("the type error", `(document.querySelector('#prefs-avatar-error') || {}).textContent === 'Choose a PNG, JPEG, GIF or WebP image.' && document.querySelector('img#prefs-avatar-preview')`)
	alice.do(chromedp.Click(chromedp.ID("prefs-avatar-remove")))
	alice.waitFor("the picture removed", `document.querySelector('span#prefs-avatar-preview') && !document.querySelector('.me img.avatar') && !document.querySelector('#prefs-avatar-remove')`)

	// A visitor's own attributes in the customer sidebar.
	v := n.newVisitor("demo", "")
	if st, out := v.sendAttributes(map[string]any{"plan": "pro", "cart.items": 3}); st != 200 {
		t.Fatalf("attributes: %d %+v", st, out)
	}
	vw, _ := v.ws()
	conv := requestChat(t, vw, "Which plan am I on?")
	alice.do(chromedp.Navigate(fmt.Sprintf("%s/console/c/%d", n.base, conv)))
	alice.waitFor("the unverified attributes", `(() => {
		const s = document.querySelector('#customer-visitor-attrs');
		return s && s.textContent.includes('Provided by the visitor') && s.textContent.includes('(unverified)') &&
			[...s.querySelectorAll('dt')].map(e => e.textContent).join(',') === 'cart.items,plan' &&
			[...s.querySelectorAll('dd')].map(e => e.textContent).join(',') === '3,pro';
	})()`)
	alice.screenshot(shots, "sidebar-visitor-attributes")
}
