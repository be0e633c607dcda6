package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"switchboard/internal/server"
)

// TestConsoleCustomerSidebar: the conversation's customer sidebar shows
// where the visitor is (local time from the widget's time zone, the place a
// trusted proxy reported, the language), their visits and the pages they
// viewed (following them live), and their earlier conversations with
// links; History is searchable; a file dropped on the reply box is
// attached with an image preview. Screenshots at 1280 and 390 px.
func TestConsoleCustomerSidebar(t *testing.T) {
	browser := consoleNewBrowser(t)
	n := startNode(t, "", func(c *server.Config) { c.GeoCountryHeader, c.GeoCityHeader = "CF-IPCountry", "CF-IPCity" })
	n.seed()
	shots := consoleArtifacts(t)
	alice := consolePage{t: t, ctx: browser, name: "alice"}
	alice.signIn(n.base, "alice@demo.test", "demo-agent-pass")
	alice.setAvailability("available")

	// A visitor arrives through the proxy, leaves an offline message (an
	// earlier conversation), browses two pages and asks for a human.
	v := &visitor{t: t, n: n, http: &http.Client{Timeout: 10 * time.Second}}
	var start struct {
		Token string `json:"token"`
	}
	if st := doJSON(t, v.http, "POST", n.base+"/api/v1/visitor/sessions", map[string]string{"site_key": "demo"}, &start,
		map[string]string{"CF-IPCountry": "NZ", "CF-IPCity": "Wellington"}); st != 201 {
		t.Fatalf("start visitor: %d", st)
	}
	v.token = start.Token
	var earlier struct {
		Conversation struct {
			ID int64 `json:"id"`
		} `json:"conversation"`
	}
	if st := v.do("POST", "/api/v1/visitor/tickets", map[string]any{"name": "Nia", "email": "nia@example.co.nz", "body": "Do you ship invoices to Wellington?", "client_id": "t-1"}, &earlier); st != 201 {
		t.Fatalf("leave a message: %d", st)
	}
	// answered and closed by a colleague: the next request is a new conversation
	admin := n.login("admin@demo.test", "demo-admin-pass")
	if st := admin.do("PUT", fmt.Sprintf("/api/v1/conversations/%d/status", earlier.Conversation.ID), map[string]string{"status": "closed"}, nil); st != 200 {
		t.Fatalf("close the earlier ticket: %d", st)
	}
	vws, _ := v.ws()
	page := func(url, title string) {
		t.Helper()
		wantAck(t, "presence "+url, vws.send("presence", map[string]any{"url": url, "title": title, "visible": true,
			"timezone": "Pacific/Auckland", "locale": "en-NZ"}))
	}
	page("https://shop.example/", "Shop")
	page("https://shop.example/cart", "Your cart")
	f := vws.send("request_chat", map[string]any{"body": "Where is my parcel?", "client_id": "v-1"})
	if f.Type != "ack" {
		t.Fatalf("request_chat: %+v", f.Error)
	}
	cid := decode[struct {
		Conversation struct {
			ID int64 `json:"id"`
		} `json:"conversation"`
	}](t, f.Data).Conversation.ID
	sel := fmt.Sprintf(`[data-conv="%d"]`, cid)

	alice.waitFor("the incoming chip", `document.querySelector('.chip.chip-incoming`+sel+`')`)
	alice.joinFromChip(cid)
	alice.waitFor("the conversation", `document.querySelector('#composer-input') && location.pathname.endsWith('/c/`+fmt.Sprint(cid)+`')`)

	// Where they are, and their visit.
	alice.waitFor("local time, place, language and visits", `(() => {
		const txt = (id) => (document.querySelector('#' + id) || {}).textContent || '';
		return /\d\d:\d\d/.test(txt('customer-local-time')) && txt('customer-local-time').includes('from you') &&
			txt('customer-location') === 'Wellington, New Zealand' && txt('customer-locale') === 'en-NZ' && txt('customer-visits').startsWith('1 ·')
	})()`)
	if tz := consoleEval[string](alice, `document.querySelector('#customer-local-time').title`); tz != "Pacific/Auckland" {
		t.Fatalf("local time zone %q", tz)
	}
	// The pages of this visit, newest first, in an ARIA list.
	alice.waitFor("the visit history", `(() => {
		const h = document.querySelector('ol#visit-history');
		if (!h) return false;
		const pages = [...h.querySelectorAll('li.current .page')].map((p) => p.textContent);
		return h.querySelector('li.current strong').textContent === 'This visit' && pages.length === 2 && pages[0].includes('Your cart') && pages[1].includes('Shop')
	})()`)
	// It follows the visitor to the next page.
	page("https://shop.example/checkout", "")
	alice.waitFor("the new page in the visit history", `(() => {
		const p = document.querySelectorAll('#visit-history li.current .page');
		return p.length === 3 && p[0].textContent.includes('shop.example/checkout')
	})()`)
	alice.waitFor("the current page", `document.querySelector('#customer-page').textContent.includes('shop.example/checkout')`)
	// Earlier conversations, with links.
	esel := fmt.Sprintf(`[data-conv="%d"]`, earlier.Conversation.ID)
	alice.waitFor("the earlier conversation", `(() => {
		const a = document.querySelector('#customer-history li`+esel+` a');
		return a && a.getAttribute('href').endsWith('/t/`+fmt.Sprint(earlier.Conversation.ID)+`') && a.textContent.includes('invoices')
	})()`)
	// Session metadata.
	alice.waitFor("wait time and duration", `(() => { const t = document.querySelector('.customer').textContent; return t.includes('Waited') && t.includes('Duration') })()`)
	consoleEval[bool](alice, `(document.querySelector(".customer").scrollTop = 0, true)`)
	alice.screenshot(shots, "conversation-sidebar")
	consoleEval[bool](alice, `(document.querySelector("#visits-title").scrollIntoView(), true)`)
	alice.screenshot(shots, "conversation-visits")

	// A file dropped on the reply box is attached, with a preview.
	consoleEval[bool](alice, `(() => {
		const png = Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=='), (c) => c.charCodeAt(0));
		const dt = new DataTransfer();
		dt.items.add(new File([png], 'dot.png', { type: 'image/png' }));
		const form = document.querySelector('form.composer');
		form.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
		form.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
		return true
	})()`)
	alice.waitFor("the attachment chip with its preview", `(() => { const c = document.querySelector('#file-chip'); return c && c.textContent.includes('dot.png') && c.querySelector('img') && c.querySelector('img').src.startsWith('blob:') })()`)
	alice.do(chromedp.SendKeys(chromedp.ID("composer-input"), "Here is the label\r"))
	alice.waitFor("the sent image in the timeline", `document.querySelector('#timeline .attachment img') && !document.querySelector('#file-chip')`)

	// History is searchable by words of a message.
	alice.do(chromedp.Click(chromedp.ID("nav-history")))
	alice.waitFor("history", `document.querySelector('#filter-q') && document.querySelector('#history-list .row'+`+consoleJS(esel)+`)`)
	alice.do(chromedp.SendKeys(chromedp.ID("filter-q"), "invoices"))
	alice.waitFor("the search hit", `(() => { const rows = document.querySelectorAll('#history-list .row'); return rows.length === 1 && rows[0].matches(`+consoleJS(esel)+`) })()`)
	alice.screenshot(shots, "history-search")
	consoleEval[bool](alice, `(() => { const i = document.querySelector('#filter-q'); i.value = ''; i.dispatchEvent(new Event('input', {bubbles: true})); return true })()`)
	alice.do(chromedp.SendKeys(chromedp.ID("filter-q"), "no such words anywhere"))
	alice.waitFor("nothing matches", `!document.querySelector('#history-list .row') && document.body.textContent.includes('Nothing matches')`)

	// The ticket view of the chat shows the visit too.
	alice.do(chromedp.Navigate(fmt.Sprintf("%s/console/t/%d", n.base, cid)))
	alice.waitFor("the visit in the ticket view", `document.querySelectorAll('#visit-history li.current .page').length === 3 && document.querySelector('#customer-location').textContent.includes('Wellington')`)

	// Phone width: the sidebar stacks under the conversation, nothing overflows.
	alice.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1)))
	alice.do(chromedp.Navigate(fmt.Sprintf("%s/console/c/%d", n.base, cid)))
	alice.waitFor("the conversation at 390px", `document.querySelector('#visit-history') && document.documentElement.scrollWidth <= 390`)
	consoleEval[bool](alice, `(document.querySelector("#visits-title").scrollIntoView(), true)`)
	alice.screenshot(shots, "conversation-sidebar-390")
	if s := consoleEval[string](alice, `document.body.innerText`); strings.Contains(s, "undefined") || strings.Contains(s, "NaN") {
		t.Fatalf("the page shows undefined/NaN:\n%s", s)
	}
	// The ? help fits a phone screen: it scrolls, and Close stays in view.
	consoleEval[bool](alice, `(document.activeElement && document.activeElement.blur(), true)`)
	alice.do(chromedp.KeyEvent("?"))
	alice.waitFor("the help overlay at 390px", `(() => {
		const h = document.querySelector('#help'), b = h && h.querySelector('.help-actions button');
		return b && h.textContent.includes('Alt + A') && b.getBoundingClientRect().bottom <= innerHeight && h.getBoundingClientRect().bottom <= innerHeight
	})()`)
	alice.screenshot(shots, "help-390")
}
