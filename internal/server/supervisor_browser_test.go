package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSupervisorBrowser: a supervisor in the console watches the live chats
// of her site in Supervise, grouped by agent and updated as they change
// (a chat moves from "Waiting / unassigned" to Alice when she joins; the
// customer's new message shows with a wait time). She opens Alice's chat
// read-only (internal notes only), writes a note "@Ali…" picking Alice with
// the keyboard and Bob with the mouse, and sends it: Alice's socket gets a
// `mention` event with the note, Bob's console shows a banner linking to
// the conversation and marks it until he reads it, and the customer's
// socket receives nothing of it.
func TestSupervisorBrowser(t *testing.T) {
	browser := consoleNewBrowser(t)
	n := startNode(t, "")
	n.seed()
	shots := consoleArtifacts(t)
	admin := n.login("admin@demo.test", "demo-admin-pass")
	site, ids := demoIDs(t, admin)
	aliceID, bobID := ids["alice@demo.test"], ids["bob@demo.test"]
	var sue struct {
		ID int64 `json:"id"`
	}
	if st := admin.do("POST", "/api/v1/users", map[string]any{"email": "sue@demo.test", "name": "Sue Supervisor", "role": "supervisor",
		"password": "supervisor-pass", "site_ids": []int64{site}}, &sue); st != 201 {
		t.Fatalf("create supervisor: status %d", st)
	}

	// --- the supervisor opens Supervise: nothing live yet
	sup := consolePage{t: t, ctx: browser, name: "supervisor"}
	sup.signIn(n.base, "sue@demo.test", "supervisor-pass")
	sup.waitFor("the socket", `document.querySelector('#conn-banner') === null`)
	sup.do(chromedp.Click(chromedp.ID("nav-supervise")))
	sup.waitFor("the empty Supervise view", `document.querySelector('#supervise-title') && document.querySelector('#nav-supervise[aria-current="page"]') && !document.querySelector('#supervise-list .row')`)

	// --- Alice (over the API) is available; a visitor on the site asks for a human
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	wantAck(t, "alice available", aw.send("availability", map[string]any{"availability": "available"}))
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	wantAck(t, "presence", vw.send("presence", map[string]any{"url": "https://shop.example/cart", "title": "Your cart", "visible": true, "minimized": false}))
	cid := requestChat(t, vw, "Where is my order?")
	wantAck(t, "visitor subscribe", vw.send("subscribe", map[string]any{"conversation_id": cid, "after_seq": 0}))
	row := func(agent int64) string {
		return fmt.Sprintf(`document.querySelector('#supervise-list .supervise-group[data-agent="%d"] .row[data-conv="%d"]')`, agent, cid)
	}
	sup.waitFor("the chat under Waiting / unassigned", `(() => { const r = `+row(0)+`; return r && r.closest('.supervise-group').querySelector('.group-name').textContent === 'Waiting / unassigned' && r.textContent.includes('vera@example.com') && r.textContent.includes('Where is my order?') && r.textContent.includes('waiting') })()`)

	// --- Alice joins: the row moves under her, answered once she replies
	wantAck(t, "alice join", aw.send("join", map[string]any{"conversation_id": cid}))
	sendMsg(t, aw, cid, "a-1", "Hi Vera, let me check.")
	sup.waitFor("the chat under Alice, answered", `(() => { const r = `+row(aliceID)+`; return r && !`+row(0)+` && r.closest('.supervise-group').querySelector('.group-name').textContent === 'Alice Agent' && r.querySelector('.state-active') && r.querySelector('.row-wait').textContent === 'answered' })()`)
	// the customer writes again: preview and wait time follow
	sendMsg(t, vw, cid, "v-2", "Any news?")
	sup.waitFor("the new message and the wait", `(() => { const r = `+row(aliceID)+`; return r && r.querySelector('.row-preview').textContent === 'Any news?' && r.querySelector('.row-wait.waiting') && r.querySelector('.row-wait').textContent.startsWith('waiting') })()`)
	sup.screenshot(shots, "supervise")

	// --- Bob, in another browser, sits on Active chats
	bctx, cancelB := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelB()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("bob's browser context: %v", err)
	}
	bob := consolePage{t: t, ctx: bctx, name: "bob"}
	bob.signIn(n.base, "bob@demo.test", "demo-agent-pass")
	bob.waitFor("bob's socket and the chat", `document.querySelector('#conn-banner') === null && document.querySelector('#active-list .row[data-conv="`+fmt.Sprint(cid)+`"]')`)
	if consoleEval[bool](bob, `!!document.querySelector('#nav-supervise')`) {
		t.Fatal("an agent has the Supervise view")
	}

	// --- the supervisor opens the chat: read-only, notes only
	sup.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#supervise-list .row[data-conv="%d"] a`, cid))))
	sup.waitFor("the chat, read-only", `location.pathname.endsWith('/c/`+fmt.Sprint(cid)+`') && document.querySelector('#read-only') && document.querySelector('.composer.note-mode #composer-input') && document.querySelector('#mode-note[aria-selected="true"]') && !document.querySelector('#mode-reply') && !document.querySelector('#join') && document.querySelector('#assign') && [...document.querySelectorAll('.entry.visitor .body-text')].some(e => e.textContent === 'Any news?')`)

	// "@Ali": the picker offers Alice; Enter inserts her name
	input := chromedp.ID("composer-input")
	sup.do(chromedp.SendKeys(input, "@Ali"))
	aliceOpt := fmt.Sprintf(`#composer-mention-list [role="option"][data-user="%d"]`, aliceID)
	sup.waitFor("the picker with Alice selected", `(() => { const ta = document.querySelector('#composer-input'); const o = document.querySelector(`+consoleJS(aliceOpt)+`); return o && o.getAttribute('aria-selected') === 'true' && ta.getAttribute('aria-activedescendant') === o.id && ta.getAttribute('aria-controls') === 'composer-mention-list' && document.querySelectorAll('#composer-mention-list [role="option"]').length === 1 })()`)
	if self := consoleEval[bool](sup, fmt.Sprintf(`!!document.querySelector('#composer-mention-list [data-user="%d"]')`, sue.ID)); self {
		t.Fatal("the picker offers the supervisor herself")
	}
	sup.screenshot(shots, "mention-picker")
	qrPressEnter(sup)
	sup.waitFor("Alice inserted", `document.querySelector('#composer-input').value === '@Alice Agent ' && !document.querySelector('#composer-mention-list') && document.activeElement === document.querySelector('#composer-input')`)
	// "@Bo": Bob picked with the mouse
	sup.do(chromedp.SendKeys(input, "and @Bo"))
	bobOpt := fmt.Sprintf(`#composer-mention-list [role="option"][data-user="%d"]`, bobID)
	sup.waitFor("the picker with Bob", `document.querySelector(`+consoleJS(bobOpt)+`)`)
	sup.do(chromedp.Click(chromedp.CSS(bobOpt)))
	sup.waitFor("Bob inserted", `document.querySelector('#composer-input').value === '@Alice Agent and @Bob Agent ' && !document.querySelector('#composer-mention-list')`)
	// Escape closes the list for the "@" it was opened for
	sup.do(chromedp.SendKeys(input, "@"))
	sup.waitFor("the picker for a bare @", `document.querySelectorAll('#composer-mention-list [role="option"]').length >= 2`)
	sup.do(chromedp.KeyEvent("\u001b"))
	sup.waitFor("the picker closed by Escape", `!document.querySelector('#composer-mention-list') && document.querySelector('#composer-input')`)
	consoleEval[bool](sup, `(() => { const ta = document.querySelector('#composer-input'); ta.value = ta.value.slice(0, -1); ta.dispatchEvent(new Event('input', {bubbles: true})); return true })()`)
	sup.do(chromedp.SendKeys(input, "offer the discount code"))
	qrPressEnter(sup)
	note := "@Alice Agent and @Bob Agent offer the discount code"
	sup.waitFor("the note, its mentions highlighted", `(() => { const b = [...document.querySelectorAll('.entry.note .body-text')].find(e => e.textContent === `+consoleJS(note)+`); return b && b.querySelector('mark.mention[data-user="`+fmt.Sprint(aliceID)+`"]') && b.querySelector('mark.mention[data-user="`+fmt.Sprint(bobID)+`"]').textContent === '@Bob Agent' && document.querySelector('#composer-input').value === '' })()`)

	// --- Alice's socket: a mention event with that note
	f := aw.waitEvent("mention", func(f frame) bool { return f.ConversationID == cid })
	m := decode[message](t, f.Data)
	if m.Body != note || m.Kind != "note" || m.Visibility != "internal" || f.Seq != m.Seq {
		t.Fatalf("alice's mention event: seq %d, %+v", f.Seq, m)
	}

	// --- Bob's console: a banner with a link, the chat marked until he reads it
	bob.waitFor("the mention banner", `(() => { const b = document.querySelector('#mention-banner'); return b && b.textContent.includes('Sue Supervisor mentioned you in vera@example.com') && document.querySelector('#mention-link') })()`)
	bob.waitFor("the mention mark on the chat", `document.querySelector('#active-list .row[data-conv="`+fmt.Sprint(cid)+`"] .mention-mark')`)
	bob.screenshot(shots, "mention-banner")
	bob.do(chromedp.Click(chromedp.ID("mention-link")))
	bob.waitFor("the conversation from the banner", `location.pathname.endsWith('/c/`+fmt.Sprint(cid)+`') && !document.querySelector('#mention-banner') && document.querySelector('.entry.note mark.mention.me[data-user="`+fmt.Sprint(bobID)+`"]')`)
	bob.do(chromedp.Click(chromedp.ID("nav-active")))
	bob.waitFor("the mark gone once read", `document.querySelector('#active-list .row[data-conv="`+fmt.Sprint(cid)+`"]') && !document.querySelector('#active-list .mention-mark')`)

	// --- the supervisor's own note notified her of nothing; Alt+9 is Supervise
	if consoleEval[bool](sup, `!!document.querySelector('#mention-banner')`) {
		t.Fatal("the supervisor got a banner for her own note")
	}
	consoleEval[bool](sup, `(document.activeElement && document.activeElement.blur(), true)`)
	sup.do(chromedp.KeyEvent("9", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	sup.waitFor("Supervise by Alt+9", `document.querySelector('#supervise-title') && `+row(aliceID))

	// --- the customer received nothing of the note
	for _, e := range vw.drain(300 * time.Millisecond) {
		if e.Type == "mention" || strings.Contains(string(e.Data), "discount code") ||
			(e.Type == "message" && decode[message](t, e.Data).Visibility != "public") {
			t.Fatalf("the customer received %s %s", e.Type, e.Data)
		}
	}
}
