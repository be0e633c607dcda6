package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"switchboard/internal/server"
)

// The agent console, end to end: real headless Chromium against a real node
// on loopback, with the visitor driven over the real WebSocket protocol.

// consoleNewBrowser starts a headless Chromium and returns the context of its first tab.
func consoleNewBrowser(t *testing.T) context.Context {
	t.Helper()
	return startChromium(t, 1280, 800)
}

// consolePage is one browser tab with helpers that fail the test.
type consolePage struct {
	t    *testing.T
	ctx  context.Context
	name string
}

func (p consolePage) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

func consoleEval[T any](p consolePage, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: eval %s: %v", p.name, expr, err)
	}
	return v
}

// waitFor polls a DOM condition from Go (the console's CSP forbids the
// eval-based in-page poller) until it holds.
func (p consolePage) waitFor(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body := consoleEval[string](p, `document.body ? document.body.innerText.slice(0, 1500) : ''`)
			p.t.Fatalf("%s: timed out waiting for %s (err %v); page text:\n%s", p.name, what, err, body)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func (p consolePage) screenshot(dir, name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// js quotes a Go string for a JavaScript expression.
func consoleJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func consoleArtifacts(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repo root not found from %s", root)
	}
	dir := filepath.Join(root, "artifacts", "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (p consolePage) signIn(base, email, password string) {
	p.t.Helper()
	p.do(chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("email")))
	p.do(
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password+"\r"),
	)
	p.waitFor("the console after sign-in", `document.querySelector('#nav-active')`)
}

// joinFromChip clicks an incoming chip's Join until the chat is the
// agent's (mine). One click can miss: the chip may be redrawn under the
// pointer as the chat goes from waiting to pending, or the Join may reach
// the server before the availability change it follows; joining twice is
// harmless (a second join of one's own chat returns it).
func (p consolePage) joinFromChip(convID int64) {
	p.t.Helper()
	sel := fmt.Sprintf(`[data-conv="%d"]`, convID)
	p.waitFor("joined from the chip", `(() => {
		if (document.querySelector('.chip.chip-mine`+sel+`')) return true;
		const now = Date.now();
		const b = document.querySelector('.chip-incoming`+sel+` .chip-join');
		if (b && !(window.__sbJoinAt > now - 1000)) { window.__sbJoinAt = now; b.click(); }
		return false;
	})()`)
}

func (p consolePage) setAvailability(a string) {
	p.t.Helper()
	consoleEval[bool](p, `(() => { const s = document.querySelector('#availability'); s.value = `+consoleJS(a)+`; s.dispatchEvent(new Event('change', {bubbles: true})); return true })()`)
	p.waitFor("availability "+a, `document.querySelector('.availability.avail-`+a+`')`)
}

func TestConsoleServesSPA(t *testing.T) {
	n := startNode(t, "")
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, c := range []struct{ path, ctype string }{
		{"/console/", "text/html"},
		{"/console/c/42", "text/html"},
		{"/console/history", "text/html"},
		{"/console/assets/console.js", "text/javascript"},
		{"/console/assets/console.css", "text/css"},
	} {
		res, err := hc.Get(n.base + c.path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("%s: %d %q, want 200 %s", c.path, res.StatusCode, res.Header.Get("Content-Type"), c.ctype)
		}
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", c.path, csp)
		}
	}
	res, err := hc.Get(n.base + "/console/assets/nope.js")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("missing asset: %d, want 404", res.StatusCode)
	}
}

func TestConsoleBrowser(t *testing.T) {
	browser := consoleNewBrowser(t)
	n := startNode(t, "")
	n.seed()
	shots := consoleArtifacts(t)
	base := n.base
	alice := consolePage{t: t, ctx: browser, name: "alice"}

	// --- sign in: a wrong password shows a clear error, then the right one works
	alice.do(chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("email")))
	alice.screenshot(shots, "signin")
	alice.do(
		chromedp.SendKeys(chromedp.ID("email"), "alice@demo.test"),
		chromedp.SendKeys(chromedp.ID("password"), "not-the-password"),
		chromedp.Click(chromedp.ID("signin-submit")),
		chromedp.WaitVisible(chromedp.ID("signin-error")),
	)
	if msg := consoleEval[string](alice, `document.querySelector('#signin-error').textContent`); !strings.Contains(msg, "Wrong email or password") {
		t.Fatalf("sign-in error = %q", msg)
	}
	alice.screenshot(shots, "signin-error")
	consoleEval[bool](alice, `(document.querySelector('#password').value = '', true)`)
	alice.do(chromedp.SendKeys(chromedp.ID("password"), "demo-agent-pass\r"))
	alice.waitFor("the console", `document.querySelector('#nav-active') && document.querySelector('#conn-banner') === null`)

	// the session survives a reload
	alice.do(chromedp.Reload())
	alice.waitFor("the console after reload", `document.querySelector('#nav-active') && !document.querySelector('#email')`)
	alice.waitFor("the socket", `document.querySelector('#conn-banner') === null`)

	// --- go online
	alice.setAvailability("available")

	// --- a visitor on the site asks for a human
	v := n.newVisitor("demo", "")
	vws, _ := v.ws()
	if f := vws.send("presence", map[string]any{"url": "https://shop.example/cart", "title": "Your cart", "visible": true, "minimized": false}); f.Type != "ack" {
		t.Fatalf("presence: %+v", f.Error)
	}
	f := vws.send("request_chat", map[string]any{"name": "Vera", "email": "vera@example.com", "body": "Where is my order?", "client_id": "v-1"})
	if f.Type != "ack" {
		t.Fatalf("request_chat: %+v", f.Error)
	}
	view := decode[struct {
		Conversation struct {
			ID     int64 `json:"id"`
			ChatID int64 `json:"chat_id"`
		} `json:"conversation"`
	}](t, f.Data)
	cid := view.Conversation.ID
	chatID := view.Conversation.ChatID
	if f := vws.send("subscribe", map[string]any{"conversation_id": cid, "after_seq": 0}); f.Type != "ack" {
		t.Fatalf("subscribe: %+v", f.Error)
	}
	sel := fmt.Sprintf(`[data-conv="%d"]`, cid)

	// the red incoming chip and the Active chats row appear without a reload
	alice.waitFor("the red incoming chip", `document.querySelector('.chip.chip-incoming`+sel+`')`)
	alice.waitFor("the Active chats row", `(() => { const r = document.querySelector('#active-list .row`+sel+`'); return r && r.textContent.includes('vera@example.com') && r.textContent.includes('Where is my order?') && r.querySelector('.live-dot') })()`)
	if badge := consoleEval[string](alice, `document.querySelector('#active-badge').textContent`); badge != "1" {
		t.Fatalf("active badge = %q, want 1", badge)
	}
	alice.screenshot(shots, "active-chats")

	// --- join from the chip
	alice.joinFromChip(cid)
	alice.waitFor("the conversation, joined", `document.querySelector('.chip.chip-mine`+sel+`') && document.querySelector('#composer-input') && location.pathname.endsWith('/c/`+fmt.Sprint(cid)+`')`)
	vws.waitEvent("message", func(f frame) bool { return decode[message](t, f.Data).Event == "joined" })
	alice.waitFor("the Live badge and the current page", `document.querySelector('#live-badge') && document.querySelector('#customer-page').textContent.includes('Your cart') && document.querySelector('#customer-email').textContent === 'vera@example.com'`)

	// --- typing from the customer is shown
	vws.send("typing", map[string]any{"conversation_id": cid, "typing": true})
	alice.waitFor("the customer's typing indicator", `document.querySelector('#visitor-typing')`)

	// a hostile message is shown as text
	evil := `<img src=x onerror=alert(1)>`
	vws.send("send", map[string]any{"conversation_id": cid, "client_id": "v-2", "body": evil})
	alice.waitFor("the visitor's message as text", `[...document.querySelectorAll('.entry.visitor .body-text')].some(e => e.textContent === `+consoleJS(evil)+`)`)
	if n := consoleEval[int](alice, `document.querySelectorAll('#timeline img').length`); n != 0 {
		t.Fatalf("the visitor's message made %d img elements", n)
	}
	alice.waitFor("typing cleared by the message", `!document.querySelector('#visitor-typing')`)

	// --- the agent types (the customer sees it) and sends with Enter; Shift+Enter is a new line
	alice.do(chromedp.SendKeys(chromedp.ID("composer-input"), "Hello Vera,"))
	vws.waitEvent("typing", func(f frame) bool {
		ty := decode[struct {
			Party  string `json:"party"`
			Typing bool   `json:"typing"`
		}](t, f.Data)
		return ty.Party == "agent" && ty.Typing
	})
	alice.do(
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)),
		chromedp.SendKeys(chromedp.ID("composer-input"), "it ships today.\r"),
	)
	want := "Hello Vera,\nit ships today."
	vws.waitEvent("message", func(f frame) bool { return decode[message](t, f.Data).Body == want })
	alice.waitFor("the agent message in the timeline", `[...document.querySelectorAll('.entry.agent .body-text')].some(e => e.textContent === `+consoleJS(want)+`) && document.querySelector('#composer-input').value === ''`)

	// the customer reads it: "Seen"
	last := consoleEval[int](alice, `Math.max(...[...document.querySelectorAll('#timeline [data-seq]')].map(e => +e.dataset.seq))`)
	vws.send("read", map[string]any{"conversation_id": cid, "seq": last})
	alice.waitFor("the read receipt", `document.querySelector('.entry.agent .seen')`)

	// --- a tag and an internal note (visibly different from a reply)
	alice.do(chromedp.SendKeys(chromedp.ID("tag-input"), "vip\r"))
	alice.waitFor("the tag", `[...document.querySelectorAll('#tags .tag')].some(e => e.textContent.startsWith('vip'))`)
	alice.do(chromedp.Click(chromedp.ID("mode-note")), chromedp.WaitVisible(chromedp.CSS(".composer.note-mode")))
	alice.do(chromedp.SendKeys(chromedp.ID("composer-input"), "Customer is a VIP, be quick\r"))
	alice.waitFor("the note", `[...document.querySelectorAll('.entry.note .body-text')].some(e => e.textContent === 'Customer is a VIP, be quick')`)
	if same := consoleEval[bool](alice, `(() => { const a = getComputedStyle(document.querySelector('.entry.agent .bubble')), n = getComputedStyle(document.querySelector('.entry.note .bubble')); return a.backgroundColor === n.backgroundColor && a.borderStyle === n.borderStyle })()`); same {
		t.Fatal("a note looks like a reply")
	}
	if lbl := consoleEval[string](alice, `document.querySelector('.entry.note .note-label').textContent`); lbl != "Internal note" {
		t.Fatalf("note label = %q", lbl)
	}
	alice.do(chromedp.Click(chromedp.ID("mode-reply")))
	alice.screenshot(shots, "conversation")

	// --- keyboard: the ? overlay lists the shortcuts
	consoleEval[bool](alice, `(document.activeElement && document.activeElement.blur(), true)`)
	alice.do(chromedp.KeyEvent("?"))
	alice.waitFor("the help overlay", `document.querySelector('#help') && document.querySelector('#help').textContent.includes('Shift + Enter') && document.querySelector('#help').textContent.includes('Alt + J')`)
	alice.screenshot(shots, "help")
	alice.do(chromedp.KeyEvent("\u001b"))
	alice.waitFor("the help overlay closed", `!document.querySelector('#help')`)

	// --- a second agent in a second browser context sees the chat as taken
	bctx, cancelB := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelB()
	if err := chromedp.Do(bctx); err != nil { // open the tab without a timeout
		t.Fatalf("second browser context: %v", err)
	}
	bob := consolePage{t: t, ctx: bctx, name: "bob"}
	bob.signIn(base, "bob@demo.test", "demo-agent-pass")
	// bob loads the chat from the list (contact, online) and names Alice from
	// GET /staff: no per-row detail, no "Agent #id"
	bob.waitFor("the chat in bob's Active chats, assigned to Alice", `(() => { const r = document.querySelector('#active-list .row`+sel+`'); return r && r.textContent.includes('Alice Agent') && r.textContent.includes('Active') && r.textContent.includes('vera@example.com') && r.querySelector('.live-dot') })()`)
	if s := consoleEval[string](bob, `document.body.innerText`); strings.Contains(s, "Agent #") {
		t.Fatalf("bob's console still shows an agent by id:\n%s", s)
	}
	bob.do(chromedp.Click(chromedp.CSS(`#active-list .row` + sel + ` a`)))
	bob.waitFor("taken by Alice, no Join", `document.querySelector('#taken-by') && document.querySelector('#taken-by').textContent.includes('Alice Agent') && !document.querySelector('#join') && !document.querySelector('.chip'+`+consoleJS(sel)+`)`)
	bob.waitFor("bob sees the note", `[...document.querySelectorAll('.entry.note .body-text')].some(e => e.textContent === 'Customer is a VIP, be quick')`)

	// --- the first agent ends the chat, after confirming
	alice.do(chromedp.Click(chromedp.ID("end-chat")), chromedp.WaitVisible(chromedp.ID("confirm-end")))
	alice.do(chromedp.Click(chromedp.ID("confirm-end-yes")))
	alice.waitFor("the chat ended", `!document.querySelector('#confirm-end') && !document.querySelector('.chip'+`+consoleJS(sel)+`) && [...document.querySelectorAll('.entry.system')].some(e => e.textContent.includes('ended'))`)
	vws.waitEvent("chat", func(f frame) bool {
		return decode[struct {
			Chat struct {
				State string `json:"state"`
			} `json:"chat"`
		}](t, f.Data).Chat.State == "ended"
	})

	// it leaves Active chats (both agents) and appears in History
	alice.do(chromedp.Click(chromedp.ID("nav-active")))
	alice.waitFor("Active chats without the chat", `document.querySelector('#active-title') && !document.querySelector('.row'+`+consoleJS(sel)+`) && !document.querySelector('#active-badge')`)
	bob.do(chromedp.Click(chromedp.ID("nav-active")))
	bob.waitFor("bob's Active chats without the chat", `document.querySelector('#active-title') && !document.querySelector('.row'+`+consoleJS(sel)+`)`)
	alice.do(chromedp.Click(chromedp.ID("nav-history")))
	alice.waitFor("the chat in History", `(() => { const r = document.querySelector('#history-list .row`+sel+`'); return r && r.textContent.includes('vera@example.com') && r.textContent.includes('vip') && r.textContent.includes('closed') && r.textContent.includes('Not rated') })()`)

	// --- the customer rates the chat over REST: History shows it live (a `chat` event)
	if st := v.do("POST", fmt.Sprintf("/api/v1/visitor/conversations/%d/rating", cid), map[string]any{"chat_id": chatID, "score": 4, "comment": "Quick and kind"}, nil); st != 201 {
		t.Fatalf("rate: status %d", st)
	}
	if st := v.do("POST", fmt.Sprintf("/api/v1/visitor/conversations/%d/rating", cid), map[string]any{"chat_id": chatID, "score": 1}, nil); st != 409 {
		t.Fatalf("rate twice: status %d, want 409", st)
	}
	alice.waitFor("the rating in History", `(() => { const r = document.querySelector('#history-list .row`+sel+` .rating[data-rating="4"]'); return r && r.textContent === '★★★★☆' })()`)
	alice.screenshot(shots, "history")
	bob.do(chromedp.Click(chromedp.ID("nav-history")))
	bob.waitFor("bob's History: assignee Alice Agent and the rating", `(() => { const r = document.querySelector('#history-list .row`+sel+`'); return r && r.querySelector('.row-assignee').textContent === 'Alice Agent' && r.querySelector('.rating[data-rating="4"]') })()`)
	bob.screenshot(shots, "history-bob")
	// the conversation header and sidebar show the rating and its comment
	alice.do(chromedp.Click(chromedp.CSS(`#history-list .row` + sel + ` a`)))
	alice.waitFor("the rating in the conversation", `document.querySelector('.conv-sub .rating[data-rating="4"]') && document.querySelector('#customer-rating').textContent.includes('4/5') && document.querySelector('#customer-rating').textContent.includes('Quick and kind')`)
	alice.screenshot(shots, "conversation-rated")

	// --- an offline-form ticket: in the Inbox as an offline message, and it opens
	ov := n.newVisitor("demo", "")
	var ticket struct {
		Conversation struct {
			ID int64 `json:"id"`
		} `json:"conversation"`
	}
	ticketBody := "Please call me back about invoice 77"
	if st := ov.do("POST", "/api/v1/visitor/tickets", map[string]any{"name": "Olga", "email": "olga@example.com", "body": ticketBody, "client_id": "t-1"}, &ticket); st != 201 {
		t.Fatalf("leave a message: status %d", st)
	}
	tsel := fmt.Sprintf(`[data-conv="%d"]`, ticket.Conversation.ID)
	alice.do(chromedp.Click(chromedp.ID("nav-inbox")))
	alice.waitFor("the offline message in the Inbox", `(() => { const r = document.querySelector('#inbox-list .row`+tsel+`'); return r && r.textContent.includes('olga@example.com') && r.textContent.includes('Offline message') && r.textContent.includes(`+consoleJS(ticketBody)+`) && r.textContent.includes('Unassigned') })()`)
	alice.screenshot(shots, "inbox")
	alice.do(chromedp.Click(chromedp.CSS(`#inbox-list .row` + tsel + ` a`)))
	alice.waitFor("the offline message, opened", `document.querySelector('#customer-email') && document.querySelector('#customer-email').textContent === 'olga@example.com' && [...document.querySelectorAll('.entry.visitor .body-text')].some(e => e.textContent === `+consoleJS(ticketBody)+`) && document.querySelector('.conv-sub .offline-msg')`)
	// no broken composer: Reply explains why and how to answer
	alice.do(chromedp.Click(chromedp.ID("mode-reply")))
	alice.waitFor("the calm explanation instead of a reply box", `document.querySelector('#offline-reply-note') && document.querySelector('#offline-reply-note').textContent.includes('olga@example.com') && !document.querySelector('#composer-input')`)
	alice.screenshot(shots, "offline-ticket")
	// internal notes still work on a ticket
	alice.do(chromedp.Click(chromedp.ID("mode-note")))
	alice.do(chromedp.SendKeys(chromedp.ID("composer-input"), "Call Olga tomorrow\r"))
	alice.waitFor("the note on the ticket", `[...document.querySelectorAll('.entry.note .body-text')].some(e => e.textContent === 'Call Olga tomorrow')`)

	// --- phone width
	alice.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1)))
	alice.do(chromedp.Navigate(fmt.Sprintf("%s/console/c/%d", base, cid)))
	alice.waitFor("the conversation at 390px", `[...document.querySelectorAll('.entry.note .body-text')].length > 0 && document.documentElement.scrollWidth <= 390`)
	alice.screenshot(shots, "conversation-390")
}

// TestConsoleResume: the node restarts (the console's socket closes with
// 1012) and, while the console cannot reconnect, the customer writes. Once it
// can, the console resumes from its cursors and shows every message exactly
// once, without a reload.
func TestConsoleResume(t *testing.T) {
	browser := consoleNewBrowser(t)
	dir := t.TempDir()
	n1 := startNode(t, dir)
	n1.seed()
	addr := strings.TrimPrefix(n1.base, "http://")
	alice := consolePage{t: t, ctx: browser, name: "alice"}
	alice.signIn(n1.base, "alice@demo.test", "demo-agent-pass")
	alice.waitFor("the socket", `document.querySelector('#conn-banner') === null`)
	alice.setAvailability("available")

	v := n1.newVisitor("demo", "")
	vws, _ := v.ws()
	f := vws.send("request_chat", map[string]any{"email": "rita@example.com", "body": "first", "client_id": "r-1"})
	cid := decode[struct {
		Conversation struct {
			ID int64 `json:"id"`
		} `json:"conversation"`
	}](t, f.Data).Conversation.ID
	alice.do(chromedp.Navigate(fmt.Sprintf("%s/console/c/%d", n1.base, cid)))
	alice.do(chromedp.Click(chromedp.ID("join")))
	alice.waitFor("joined", `document.querySelector('#leave') && [...document.querySelectorAll('.entry.visitor .body-text')].some(e => e.textContent === 'first')`)

	// block the staff socket, then restart the node on the same address and data
	alice.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: []*network.BlockPattern{{URLPattern: "*://*:*/ws/staff", Block: true}}})
		return err
	}))
	n1.shutdown()
	alice.waitFor("the connection-lost banner", `document.querySelector('#conn-banner')`)
	n2 := startNode(t, dir, func(c *server.Config) { c.Addr = addr })
	v2 := &visitor{t: t, n: n2, token: v.token, http: v.http}
	vws2, _ := v2.ws()
	for i, body := range []string{"second", "third"} {
		if f := vws2.send("send", map[string]any{"conversation_id": cid, "client_id": fmt.Sprintf("r-%d", i+2), "body": body}); f.Type != "ack" {
			t.Fatalf("send: %+v", f.Error)
		}
	}
	if !consoleEval[bool](alice, `!!document.querySelector('#conn-banner')`) {
		t.Fatal("the console reconnected although its socket was blocked")
	}
	// the socket comes back: the console resumes
	alice.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: []*network.BlockPattern{{URLPattern: "*://*:*/nothing-is-blocked", Block: false}}})
		return err
	}))
	alice.waitFor("the resumed timeline", `document.querySelector('#conn-banner') === null && [...document.querySelectorAll('.entry.visitor .body-text')].map(e => e.textContent).join('|') === 'first|second|third'`)
	seqs := consoleEval[[]int](alice, `[...document.querySelectorAll('#timeline [data-seq]')].map(e => +e.dataset.seq)`)
	for i := range seqs {
		if seqs[i] != i+1 {
			t.Fatalf("timeline seqs = %v, want 1..n once each", seqs)
		}
	}
	// still live after the resume: a new message arrives
	vws2.send("send", map[string]any{"conversation_id": cid, "client_id": "r-4", "body": "fourth"})
	alice.waitFor("a live message after the resume", `[...document.querySelectorAll('.entry.visitor .body-text')].map(e => e.textContent).join('|') === 'first|second|third|fourth'`)

	// an admin disables alice: the socket closes with 4009, /me is 401 and the
	// console goes back to the sign-in screen by itself
	admin := n2.login("admin@demo.test", "demo-admin-pass")
	var users struct {
		Users []struct {
			ID    int64  `json:"id"`
			Email string `json:"email"`
		} `json:"users"`
	}
	if st := admin.do("GET", "/api/v1/users", nil, &users); st != 200 {
		t.Fatalf("list users: status %d", st)
	}
	var aliceID int64
	for _, u := range users.Users {
		if u.Email == "alice@demo.test" {
			aliceID = u.ID
		}
	}
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/users/%d", aliceID), map[string]any{"disabled": true}, nil); st != 200 {
		t.Fatalf("disable alice: status %d", st)
	}
	alice.waitFor("the sign-in screen after revocation", `document.querySelector('#email') && !document.querySelector('#nav-active')`)
}
