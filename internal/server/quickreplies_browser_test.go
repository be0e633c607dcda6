package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestQuickRepliesBrowser: quick replies and preferences in the console,
// end to end. An admin adds a shared reply over the API; Alice sees it
// read-only, gets a server error next to the form, adds her own reply in
// the UI, then in a live chat types "/ref", picks her reply with the
// keyboard and sends it: the visitor's socket gets exactly its text. The
// mouse picks a reply too, Escape closes the list, and the ticket's reply
// box has it as well. Turning sound off in Preferences survives a reload.
// An admin edits and adds shared replies in the console.
func TestQuickRepliesBrowser(t *testing.T) {
	browser := consoleNewBrowser(t)
	n := startNode(t, "")
	n.seed()
	base := n.base
	shots := consoleArtifacts(t)

	type reply struct {
		ID       int64  `json:"id"`
		OwnerID  int64  `json:"owner_id"`
		Shortcut string `json:"shortcut"`
	}
	admin := n.login("admin@demo.test", "demo-admin-pass")
	var shared reply
	if st := admin.do("POST", "/api/v1/quick-replies", map[string]any{"shortcut": "refund", "body": "Refunds reach your card within a week.", "shared": true}, &shared); st != 201 || shared.OwnerID != 0 {
		t.Fatalf("shared reply: status %d %+v", st, shared)
	}

	alice := consolePage{t: t, ctx: browser, name: "alice"}
	alice.signIn(base, "alice@demo.test", "demo-agent-pass")
	alice.waitFor("the socket", `document.querySelector('#conn-banner') === null`)
	aliceID := n.login("alice@demo.test", "demo-agent-pass").userID()

	// --- the Quick replies screen: the shared one is read-only for an agent
	alice.do(chromedp.Click(chromedp.ID("nav-quick-replies")))
	alice.waitFor("the shared reply, read-only", `document.querySelector('#qr-shared .qr-item[data-shortcut="refund"]') && !document.querySelector('#qr-shared .qr-edit') && !document.querySelector('#qr-shared .qr-delete') && !document.querySelector('#qr-share')`)

	// a bad shortcut: the server's error shows next to the form, on the field
	alice.do(
		chromedp.SendKeys(chromedp.ID("qr-shortcut"), "not valid"),
		chromedp.SendKeys(chromedp.ID("qr-body"), "x"),
		chromedp.Click(chromedp.ID("qr-submit")),
	)
	alice.waitFor("the shortcut error", `(() => { const e = document.querySelector('#qr-form #qr-error'); return e && e.textContent.includes('a–z') && document.querySelector('#qr-shortcut').getAttribute('aria-invalid') === 'true' })()`)

	// Alice's own reply, added with the form (a two-line text)
	clearIn := func(p consolePage, sel string) {
		consoleEval[bool](p, `(() => { const e = document.querySelector(`+consoleJS(sel)+`); e.value = ''; e.dispatchEvent(new Event('input', {bubbles: true})); return true })()`)
	}
	clear := func(sel string) { clearIn(alice, sel) }
	clear("#qr-shortcut")
	clear("#qr-body")
	want := "Your refund was approved today.\nIt reaches your account in 3-5 days."
	alice.do(
		chromedp.SendKeys(chromedp.ID("qr-shortcut"), "refund-status"),
		chromedp.SendKeys(chromedp.ID("qr-body"), strings.ReplaceAll(want, "\n", "\r")),
	)
	if got := consoleEval[string](alice, `document.querySelector('#qr-body').value`); got != want {
		t.Fatalf("body field = %q, want %q", got, want)
	}
	alice.do(chromedp.Click(chromedp.ID("qr-submit")))
	alice.waitFor("Alice's reply in Mine", `document.querySelector('#qr-mine .qr-item[data-shortcut="refund-status"] .qr-edit') && document.querySelector('#qr-saved') && !document.querySelector('#qr-error') && document.querySelector('#qr-shortcut').value === ''`)
	alice.screenshot(shots, "quick-replies")

	// --- a live chat: a visitor asks, Alice goes available and joins
	alice.setAvailability("available")
	v := n.newVisitor("demo", "")
	vws, _ := v.ws()
	f := vws.send("request_chat", map[string]any{"name": "Vera", "email": "vera@example.com", "body": "Where is my refund?", "client_id": "v-1"})
	if f.Type != "ack" {
		t.Fatalf("request_chat: %+v", f.Error)
	}
	cid := decode[struct {
		Conversation struct {
			ID int64 `json:"id"`
		} `json:"conversation"`
	}](t, f.Data).Conversation.ID
	if f := vws.send("subscribe", map[string]any{"conversation_id": cid, "after_seq": 0}); f.Type != "ack" {
		t.Fatalf("subscribe: %+v", f.Error)
	}
	sel := fmt.Sprintf(`[data-conv="%d"]`, cid)
	alice.waitFor("the incoming chip", `document.querySelector('.chip.chip-incoming`+sel+` .chip-join')`)
	alice.joinFromChip(cid)
	alice.waitFor("the chat, joined", `document.querySelector('.chip.chip-mine`+sel+`') && document.querySelector('#composer-input') && document.querySelector('#leave')`)
	vws.waitEvent("message", func(f frame) bool { return decode[message](t, f.Data).Event == "joined" })

	// "/ref" lists both replies (shared first on the tie); Escape closes it
	alice.do(chromedp.SendKeys(chromedp.ID("composer-input"), "/ref"))
	listed := `(() => { const o = [...document.querySelectorAll('#composer-qr-list[role="listbox"] [role="option"]')].map(e => e.dataset.shortcut).join(','); return o === 'refund,refund-status' })()`
	alice.waitFor("the quick-reply list", listed)
	active := func() string {
		return consoleEval[string](alice, `(() => { const id = document.querySelector('#composer-input').getAttribute('aria-activedescendant'); const o = id && document.getElementById(id); return o && o.getAttribute('aria-selected') === 'true' ? o.dataset.shortcut : '' })()`)
	}
	if a := active(); a != "refund" {
		t.Fatalf("active option = %q, want refund", a)
	}
	alice.do(chromedp.KeyEvent(kb.Escape))
	alice.waitFor("the list closed by Escape", `!document.querySelector('#composer-qr-list') && !document.querySelector('#composer-input').hasAttribute('aria-activedescendant') && document.querySelector('#composer-input').value === '/ref'`)

	// again, and this time pick Alice's reply with the keyboard
	clear("#composer-input")
	alice.do(chromedp.SendKeys(chromedp.ID("composer-input"), "/ref"))
	alice.waitFor("the quick-reply list again", listed)
	alice.do(chromedp.KeyEvent(kb.ArrowDown))
	alice.waitFor("refund-status active", `document.querySelector('#composer-input').getAttribute('aria-activedescendant') === document.querySelector('#composer-qr-list [data-shortcut="refund-status"]').id`)
	alice.screenshot(shots, "quick-reply-list")
	alice.do(chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowUp)) // wraps to the first and back
	if a := active(); a != "refund-status" {
		t.Fatalf("active option after down, down, up = %q, want refund-status", a)
	}
	qrPressEnter(alice)
	alice.waitFor("the reply inserted in place of /ref", `!document.querySelector('#composer-qr-list') && document.querySelector('#composer-input').value === `+consoleJS(want))
	qrPressEnter(alice) // send
	got := vws.waitEvent("message", func(f frame) bool {
		m := decode[message](t, f.Data)
		return m.AuthorKind == "agent" && m.Kind == "text"
	})
	if m := decode[message](t, got.Data); m.Body != want {
		t.Fatalf("the visitor got %q, want %q", m.Body, want)
	}
	alice.waitFor("the sent reply in the timeline", `[...document.querySelectorAll('.entry.agent .body-text')].some(e => e.textContent === `+consoleJS(want)+`) && document.querySelector('#composer-input').value === ''`)

	// the mouse picks a reply too (an internal note, filtered by its text)
	alice.do(chromedp.Click(chromedp.ID("mode-note")), chromedp.WaitVisible(chromedp.CSS(".composer.note-mode")))
	alice.do(chromedp.SendKeys(chromedp.ID("composer-input"), "Told her: /week"))
	alice.waitFor("the list filtered by text", `[...document.querySelectorAll('#composer-qr-list [role="option"]')].map(e => e.dataset.shortcut).join(',') === 'refund'`)
	alice.do(chromedp.Click(chromedp.CSS(`#composer-qr-list [data-shortcut="refund"]`)))
	alice.waitFor("the shared reply inserted by a click", `document.querySelector('#composer-input').value === 'Told her: Refunds reach your card within a week.' && document.activeElement === document.querySelector('#composer-input') && !document.querySelector('#composer-qr-list')`)
	clear("#composer-input")
	alice.do(chromedp.Click(chromedp.ID("mode-reply")))

	// the ticket's reply box has the list too (Tab inserts)
	alice.do(chromedp.Navigate(fmt.Sprintf("%s/console/t/%d", base, cid)))
	alice.waitFor("the ticket", `document.querySelector('#ticket-input') && document.querySelector('#ticket-mode-note')`)
	alice.do(chromedp.Click(chromedp.ID("ticket-mode-note")))
	alice.do(chromedp.SendKeys(chromedp.ID("ticket-input"), "/status"))
	alice.waitFor("the ticket's list", `[...document.querySelectorAll('#ticket-qr-list [role="option"]')].map(e => e.dataset.shortcut).join(',') === 'refund-status'`)
	alice.do(chromedp.KeyEvent(kb.Tab))
	alice.waitFor("the reply inserted by Tab", `document.querySelector('#ticket-input').value === `+consoleJS(want)+` && document.activeElement === document.querySelector('#ticket-input')`)

	// --- Preferences: sound off survives a reload
	alice.do(chromedp.Click(chromedp.ID("nav-preferences")))
	alice.waitFor("Preferences", `document.querySelector('#pref-sound') && document.querySelector('#pref-sound').checked && document.querySelector('#prefs-capacity-input')`)
	alice.do(chromedp.Click(chromedp.ID("pref-sound")))
	alice.waitFor("sound off, saved", `!document.querySelector('#pref-sound').checked && document.querySelector('#prefs-status').textContent === 'Saved.'`)
	alice.screenshot(shots, "preferences")
	alice.do(chromedp.Reload())
	alice.waitFor("Preferences after the reload", `document.querySelector('#pref-sound') && document.querySelector('#conn-banner') === null`)
	if on := consoleEval[bool](alice, `document.querySelector('#pref-sound').checked`); on {
		t.Fatal("sound is back on after a reload")
	}
	stored := consoleEval[string](alice, `localStorage.getItem(`+consoleJS(fmt.Sprintf("switchboard.prefs.%d", aliceID))+`) || ''`)
	if !strings.Contains(stored, `"sound":false`) {
		t.Fatalf("stored preferences = %q", stored)
	}
	if !consoleEval[bool](alice, `document.querySelector('#pref-new-chats').checked && document.querySelector('#pref-new-messages').checked`) {
		t.Fatal("turning sound off changed the other preferences")
	}

	// --- an admin manages shared replies in the console: edits one, adds one
	actx, cancelA := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelA()
	if err := chromedp.Do(actx); err != nil {
		t.Fatalf("admin browser context: %v", err)
	}
	adm := consolePage{t: t, ctx: actx, name: "admin"}
	adm.signIn(base, "admin@demo.test", "demo-admin-pass")
	adm.do(chromedp.Click(chromedp.ID("nav-quick-replies")))
	editSel := fmt.Sprintf(`#qr-shared .qr-item[data-id="%d"] .qr-edit`, shared.ID)
	adm.waitFor("the shared reply, editable", `document.querySelector(`+consoleJS(editSel)+`) && document.querySelector('#qr-share') && !document.querySelector('#qr-mine .qr-item')`)
	adm.do(chromedp.Click(chromedp.CSS(editSel)))
	bodySel := fmt.Sprintf("#qr-edit-%d-body", shared.ID)
	adm.waitFor("the edit form", `document.querySelector(`+consoleJS(bodySel)+`)`)
	clearIn(adm, bodySel)
	adm.do(
		chromedp.SendKeys(chromedp.CSS(bodySel), "Refunds reach your card within 5 days."),
		chromedp.Click(chromedp.ID(fmt.Sprintf("qr-edit-%d-submit", shared.ID))),
	)
	adm.waitFor("the edited reply", `document.activeElement === document.querySelector(`+consoleJS(editSel)+`) && document.querySelector('#qr-shared .qr-item[data-shortcut="refund"] .qr-item-body').textContent === 'Refunds reach your card within 5 days.'`)
	adm.do(
		chromedp.SendKeys(chromedp.ID("qr-shortcut"), "/Thanks"),
		chromedp.SendKeys(chromedp.ID("qr-body"), "Thanks for waiting!"),
		chromedp.Click(chromedp.ID("qr-share")),
		chromedp.Click(chromedp.ID("qr-submit")),
	)
	adm.waitFor("the new shared reply", `document.querySelector('#qr-shared .qr-item[data-shortcut="thanks"]') && !document.querySelector('#qr-mine .qr-item')`)
	var list struct {
		QuickReplies []struct {
			OwnerID  int64  `json:"owner_id"`
			Shortcut string `json:"shortcut"`
			Body     string `json:"body"`
		} `json:"quick_replies"`
	}
	admin.do("GET", "/api/v1/quick-replies", nil, &list)
	if len(list.QuickReplies) != 2 || list.QuickReplies[0].Body != "Refunds reach your card within 5 days." || list.QuickReplies[1].Shortcut != "thanks" || list.QuickReplies[1].OwnerID != 0 {
		t.Fatalf("shared replies after the admin's edits: %+v", list.QuickReplies)
	}
}

// qrPressEnter presses Enter as a keyboard does: one keyDown that carries
// the text, so a keydown the page handles (preventDefault) inserts nothing.
// chromedp.KeyEvent sends the text as a separate "char" event, which Chrome
// inserts even after the page handled the keydown.
func qrPressEnter(p consolePage) {
	p.t.Helper()
	p.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter", Text: "\r", UnmodifiedText: "\r", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
		up := down
		up.Type, up.Text, up.UnmodifiedText = input.DispatchKeyEventTypeKeyUp, "", ""
		for _, ev := range []input.DispatchKeyEventParams{down, up} {
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, ev); err != nil {
				return err
			}
		}
		return nil
	}))
}
