package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Routing in the agent console, end to end: a chat offered to one agent by
// round robin shows as a card she accepts or declines; she transfers it to a
// colleague from a dialog; her capacity is hers to set; an admin edits the
// routing settings, business hours and departments.

// offerFrame is the data of an offer event.
type offerFrame struct {
	Offer struct {
		ChatID     int64  `json:"chat_id"`
		UserID     int64  `json:"user_id"`
		Kind       string `json:"kind"`
		FromUserID int64  `json:"from_user_id"`
		State      string `json:"state"`
	} `json:"offer"`
	Conversation struct {
		ID int64 `json:"id"`
	} `json:"conversation"`
}

// demoIDs returns the demo site's id and the users' ids by email.
func demoIDs(t *testing.T, admin *staffClient) (int64, map[string]int64) {
	t.Helper()
	var sites struct {
		Sites []struct {
			ID  int64  `json:"id"`
			Key string `json:"key"`
		} `json:"sites"`
	}
	if st := admin.do("GET", "/api/v1/sites", nil, &sites); st != 200 {
		t.Fatalf("list sites: status %d", st)
	}
	var siteID int64
	for _, s := range sites.Sites {
		if s.Key == "demo" {
			siteID = s.ID
		}
	}
	var users struct {
		Users []struct {
			ID    int64  `json:"id"`
			Email string `json:"email"`
		} `json:"users"`
	}
	if st := admin.do("GET", "/api/v1/users", nil, &users); st != 200 {
		t.Fatalf("list users: status %d", st)
	}
	ids := map[string]int64{}
	for _, u := range users.Users {
		ids[u.Email] = u.ID
	}
	if siteID == 0 || ids["alice@demo.test"] == 0 || ids["bob@demo.test"] == 0 {
		t.Fatalf("demo data missing: site %d, users %v", siteID, ids)
	}
	return siteID, ids
}

// setField sets an input, select or textarea by CSS selector the way typing
// does (input and change events).
func (p consolePage) setField(sel, value string) {
	p.t.Helper()
	ok := consoleEval[bool](p, `(() => { const e = document.querySelector(`+consoleJS(sel)+`); if (!e) return false; e.value = `+consoleJS(value)+`; e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); return true })()`)
	if !ok {
		p.t.Fatalf("%s: no field %s", p.name, sel)
	}
}

func TestConsoleRoutingOfferAndTransfer(t *testing.T) {
	browser := consoleNewBrowser(t)
	n := startNode(t, "")
	n.seed()
	shots := consoleArtifacts(t)
	admin := n.login("admin@demo.test", "demo-admin-pass")
	siteID, ids := demoIDs(t, admin)
	aliceID, bobID := ids["alice@demo.test"], ids["bob@demo.test"]
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", siteID), map[string]any{"routing": map[string]any{"strategy": "round_robin"}}, nil); st != 200 {
		t.Fatalf("set round robin: status %d", st)
	}

	alice := consolePage{t: t, ctx: browser, name: "alice"}
	alice.signIn(n.base, "alice@demo.test", "demo-agent-pass")
	alice.waitFor("the socket", `document.querySelector('#conn-banner') === null`)
	alice.setAvailability("available")

	// --- a visitor asks for a human: round robin offers the chat to alice alone
	v := n.newVisitor("demo", "")
	vws, _ := v.ws()
	cid := requestChat(t, vws, "Where is my order?")
	if f := vws.send("subscribe", map[string]any{"conversation_id": cid, "after_seq": 0}); f.Type != "ack" {
		t.Fatalf("subscribe: %+v", f.Error)
	}
	sel := fmt.Sprintf(`[data-conv="%d"]`, cid)
	card := `document.querySelector('.offer-card` + sel + `')`
	alice.waitFor("the offer card", `(() => { const c = `+card+`; return c && c.textContent.includes('New chat') && c.textContent.includes('Where is my order?') && c.textContent.includes('vera@example.com') && /\d+ s/.test(c.querySelector('.offer-countdown').textContent) })()`)
	if n := consoleEval[int](alice, `document.querySelectorAll('.offer-card').length`); n != 1 {
		t.Fatalf("%d offer cards, want 1", n)
	}
	alice.screenshot(shots, "offer")

	// --- a reload forgets nothing: the pending offer comes back from
	// GET /me/offers, with its countdown running on. It is the same offer
	// (not one made again after this one timed out, which an offer event
	// would bring).
	aliceAPI := n.login("alice@demo.test", "demo-agent-pass")
	myOffer := func() string {
		var mine struct {
			Offers []struct {
				Offer struct {
					OfferedAt string `json:"offered_at"`
				} `json:"offer"`
				Conversation struct {
					ID int64 `json:"id"`
				} `json:"conversation"`
			} `json:"offers"`
		}
		if st := aliceAPI.do("GET", "/api/v1/me/offers", nil, &mine); st != 200 || len(mine.Offers) != 1 || mine.Offers[0].Conversation.ID != cid {
			t.Fatalf("alice's offers: status %d, %+v", st, mine)
		}
		return mine.Offers[0].Offer.OfferedAt
	}
	offeredAt := myOffer()
	alice.reload()
	alice.waitFor("the offer card after a reload", `(() => { const c = `+card+`; const s = c && c.querySelector('.offer-countdown'); return c && c.textContent.includes('New chat') && c.textContent.includes('Where is my order?') && c.textContent.includes('vera@example.com') && s && /\d+ s/.test(s.textContent) && parseInt(s.textContent) <= 30 })()`)
	if n := consoleEval[int](alice, `document.querySelectorAll('.offer-card').length`); n != 1 {
		t.Fatalf("%d offer cards after the reload, want 1", n)
	}
	if again := myOffer(); again != offeredAt {
		t.Fatalf("the chat was offered again (at %s, first at %s): the card after the reload may be the new offer's", again, offeredAt)
	}
	alice.waitFor("the socket after the reload", `document.querySelector('#conn-banner') === null`)

	// --- accept: the chat opens, active, with alice in it
	alice.do(chromedp.Click(chromedp.CSS(`.offer-card` + sel + ` .offer-accept`)))
	alice.waitFor("the accepted chat", `!`+card+` && location.pathname.endsWith('/c/`+fmt.Sprint(cid)+`') && document.querySelector('.chip`+sel+`:not(.chip-incoming)') && document.querySelector('.conv-sub .state-active') && document.querySelector('#leave') && document.querySelector('#transfer') && document.querySelector('#invite')`)
	vws.waitEvent("message", func(f frame) bool { return decode[message](t, f.Data).Event == "joined" })
	var cv convView
	if st := admin.do("GET", fmt.Sprintf("/api/v1/conversations/%d", cid), nil, &cv); st != 200 || cv.Conversation.ChatState != "active" || cv.Conversation.AssigneeID != aliceID {
		t.Fatalf("after accept: status %d, state %q, assignee %d (alice %d)", st, cv.Conversation.ChatState, cv.Conversation.AssigneeID, aliceID)
	}
	alice.waitFor("alice's load in the top bar", `document.querySelector('#load').textContent === '1'`)

	// --- transfer to bob, who is online through the harness
	bob := n.login("bob@demo.test", "demo-agent-pass")
	bws := bob.ws()
	if st := bob.do("PUT", "/api/v1/me/availability", map[string]any{"availability": "available"}, nil); st != 200 {
		t.Fatalf("bob available: status %d", st)
	}
	alice.do(chromedp.Click(chromedp.ID("transfer")))
	bobButton := fmt.Sprintf(`#handover button.target[data-user="%d"]`, bobID)
	alice.waitFor("bob in the transfer dialog", `(() => { const b = document.querySelector(`+consoleJS(bobButton)+`); return b && b.textContent.includes('Bob Agent') && b.textContent.includes('Available') })()`)
	alice.screenshot(shots, "transfer-dialog")
	alice.do(chromedp.Click(chromedp.CSS(bobButton)))
	alice.waitFor("the transfer notice", `!document.querySelector('#handover') && document.querySelector('#routing-notice') && document.querySelector('#routing-notice').textContent.includes('Offered to Bob Agent')`)
	f := bws.waitEvent("offer", func(f frame) bool {
		o := decode[offerFrame](t, f.Data)
		return f.ConversationID == cid && o.Offer.UserID == bobID && o.Offer.Kind == "transfer" && o.Offer.State == "pending" && o.Offer.FromUserID == aliceID
	})
	if o := decode[offerFrame](t, f.Data); o.Conversation.ID != cid {
		t.Fatalf("offer event conversation %d, want %d", o.Conversation.ID, cid)
	}
	alice.screenshot(shots, "transfer-offered")

	// bob accepts: alice leaves the chat and her console says so
	if f := bws.send("join", map[string]any{"conversation_id": cid}); f.Type != "ack" {
		t.Fatalf("bob join: %+v", f.Error)
	}
	alice.waitFor("alice out of the transferred chat", `!document.querySelector('.chip'+`+consoleJS(sel)+`) && !document.querySelector('#transfer') && document.querySelector('#taken-by') && document.querySelector('#taken-by').textContent.includes('Bob Agent')`)
	alice.waitFor("alice's load back to 0", `document.querySelector('#load').textContent === '0'`)

	// --- decline: with bob away, the next chat is offered to alice; she
	// declines and it waits in the queue (she is not asked again)
	if st := bob.do("PUT", "/api/v1/me/availability", map[string]any{"availability": "away"}, nil); st != 200 {
		t.Fatalf("bob away: status %d", st)
	}
	v2 := n.newVisitor("demo", "")
	vws2, _ := v2.ws()
	f = vws2.send("request_chat", map[string]any{"email": "walt@example.com", "body": "Do you ship to Norway?", "client_id": "w-1"})
	if f.Type != "ack" {
		t.Fatalf("request_chat: %+v", f.Error)
	}
	cid2 := decode[convView](t, f.Data).Conversation.ID
	sel2 := fmt.Sprintf(`[data-conv="%d"]`, cid2)
	alice.waitFor("the second offer", `document.querySelector('.offer-card`+sel2+` .offer-decline')`)
	alice.do(chromedp.Click(chromedp.CSS(`.offer-card` + sel2 + ` .offer-decline`)))
	alice.waitFor("the card gone after declining", `!document.querySelector('.offer-card`+sel2+`')`)
	if st := admin.do("GET", fmt.Sprintf("/api/v1/conversations/%d", cid2), nil, &cv); st != 200 || cv.Conversation.ChatState != "waiting" {
		t.Fatalf("after decline: status %d, state %q, want waiting", st, cv.Conversation.ChatState)
	}

	// --- capacity: alice lowers hers; more than her maximum is refused
	alice.setField("#capacity-input", "3")
	var me struct {
		User struct {
			Capacity    int `json:"capacity"`
			MaxCapacity int `json:"max_capacity"`
		} `json:"user"`
	}
	alice.waitFor("the capacity field", `document.querySelector('#capacity-input').value === '3'`)
	waitUntil(t, "alice's capacity saved", func() bool {
		return aliceAPI.do("GET", "/api/v1/me", nil, &me) == 200 && me.User.Capacity == 3
	})
	alice.setField("#capacity-input", "99")
	alice.waitFor("the capacity error", `[...document.querySelectorAll('.topbar-error')].some(e => e.textContent.includes('0 to `+fmt.Sprint(me.User.MaxCapacity)+`')) && document.querySelector('#capacity-input').value === '3'`)
	alice.screenshot(shots, "capacity")

	// --- an admin assigns the waiting chat to alice from another browser:
	// her card says who assigned it and has no countdown
	actx, cancelA := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	defer cancelA()
	if err := chromedp.Do(actx); err != nil {
		t.Fatalf("admin browser context: %v", err)
	}
	adminPage := consolePage{t: t, ctx: actx, name: "admin"}
	adminPage.signIn(n.base, "admin@demo.test", "demo-admin-pass")
	adminPage.do(chromedp.Navigate(fmt.Sprintf("%s/console/c/%d", n.base, cid2)))
	adminPage.do(chromedp.Click(chromedp.ID("assign")))
	aliceButton := fmt.Sprintf(`#handover button.target[data-user="%d"]`, aliceID)
	adminPage.waitFor("alice in the assign dialog", `document.querySelector(`+consoleJS(aliceButton)+`)`)
	adminPage.do(chromedp.Click(chromedp.CSS(aliceButton)))
	adminPage.waitFor("the assign notice", `!document.querySelector('#handover') && document.querySelector('#routing-notice').textContent.includes('Offered to Alice Agent')`)
	assigned := `(() => { const c = document.querySelector('.offer-card` + sel2 + `'); return c && c.textContent.includes('Assigned by Ada Admin') && !c.querySelector('.offer-countdown') })()`
	alice.waitFor("the assigned offer", assigned)
	// reloaded, alice's console shows the assigned offer again and she
	// accepts it from there
	alice.reload()
	alice.waitFor("the assigned offer after a reload", assigned+` && document.querySelectorAll('.offer-card').length === 1 && document.querySelector('#conn-banner') === null`)
	alice.do(chromedp.Click(chromedp.CSS(`.offer-card` + sel2 + ` .offer-accept`)))
	alice.waitFor("the assigned chat, joined", `!document.querySelector('.offer-card`+sel2+`') && document.querySelector('.chip`+sel2+`:not(.chip-incoming)') && location.pathname.endsWith('/c/`+fmt.Sprint(cid2)+`')`)
}

// reload reloads the page and waits for the new one: a mark set on the old
// page is gone (so no check after it can pass on the page before the reload).
func (p consolePage) reload() {
	p.t.Helper()
	if !consoleEval[bool](p, `(window.__beforeReload = true)`) {
		p.t.Fatalf("%s: cannot mark the page", p.name)
	}
	p.do(chromedp.Reload())
	p.waitFor("the reloaded page", `!window.__beforeReload && document.readyState === 'complete'`)
}

// waitUntil polls a server-side condition up to waitLimit.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func TestConsoleRoutingSettings(t *testing.T) {
	browser := consoleNewBrowser(t)
	n := startNode(t, "")
	n.seed()
	shots := consoleArtifacts(t)
	api := n.login("admin@demo.test", "demo-admin-pass")
	siteID, ids := demoIDs(t, api)

	admin := consolePage{t: t, ctx: browser, name: "admin"}
	admin.signIn(n.base, "admin@demo.test", "demo-admin-pass")
	admin.do(chromedp.Click(chromedp.ID("nav-settings")))
	admin.waitFor("the routing form", `document.querySelector('#routing-form') && document.querySelector('#routing-strategy').value === 'broadcast' && document.querySelector('#hours-always-open').checked`)
	admin.screenshot(shots, "settings-routing")

	// --- a department first, with alice in it
	admin.setField("#dept-new-name", "Sales")
	admin.setField("#dept-new-strategy", "least_busy")
	admin.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#dept-new input[data-user="%d"]`, ids["alice@demo.test"]))))
	admin.do(chromedp.Click(chromedp.CSS(`#dept-new .dept-save`)))
	admin.waitFor("the new department", `[...document.querySelectorAll('.depts .dept-name')].some(e => e.value === 'Sales') && document.querySelector('#dept-new-name').value === ''`)
	var depts struct {
		Departments []struct {
			ID        int64   `json:"id"`
			Name      string  `json:"name"`
			Strategy  string  `json:"strategy"`
			MemberIDs []int64 `json:"member_ids"`
		} `json:"departments"`
	}
	if st := api.do("GET", fmt.Sprintf("/api/v1/departments?site_id=%d", siteID), nil, &depts); st != 200 || len(depts.Departments) != 1 {
		t.Fatalf("departments: status %d, %+v", st, depts)
	}
	d := depts.Departments[0]
	if d.Name != "Sales" || d.Strategy != "least_busy" || len(d.MemberIDs) != 1 || d.MemberIDs[0] != ids["alice@demo.test"] {
		t.Fatalf("department = %+v", d)
	}

	// --- routing and business hours; a mistake is explained before saving
	admin.setField("#routing-strategy", "round_robin")
	admin.setField("#routing-offer-timeout", "20")
	admin.setField("#routing-max-misses", "3")
	admin.setField("#routing-default-dept", fmt.Sprint(d.ID))
	admin.setField("#routing-queue-message", "Thanks for waiting")
	admin.do(chromedp.Click(chromedp.ID("hours-always-open")))
	admin.waitFor("the hours editor", `document.querySelector('#hours-day-1')`)
	admin.setField("#hours-tz", "Europe/Paris")
	admin.setField("#hours-day-1", "09:00-12:00, 13:00-17:00")
	admin.setField("#hours-day-2", "17:00-09:00")
	admin.setField("#hours-exceptions", "2026-12-25 Christmas: closed\n2026-12-24: 09:00-12:00")
	admin.do(chromedp.Click(chromedp.ID("routing-save")))
	admin.waitFor("the local hours error", `document.querySelector('#routing-error') && document.querySelector('#routing-error').textContent.includes('Tuesday: 17:00-09:00 must end after it starts')`)
	// the server's own checks are shown too
	admin.setField("#hours-day-2", "9-17")
	admin.setField("#hours-tz", "Mars/Olympus_Mons")
	admin.do(chromedp.Click(chromedp.ID("routing-save")))
	admin.waitFor("the server's time zone error", `document.querySelector('#routing-error') && document.querySelector('#routing-error').textContent.includes('Mars/Olympus_Mons')`)
	admin.setField("#hours-tz", "Europe/Paris")
	admin.do(chromedp.Click(chromedp.ID("routing-save")))
	admin.waitFor("saved", `document.querySelector('#routing-saved') && !document.querySelector('#routing-error') && document.querySelector('#hours-day-2').value === '09:00-17:00'`)
	admin.screenshot(shots, "settings")

	var sites struct {
		Sites []struct {
			ID      int64 `json:"id"`
			Routing struct {
				Strategy            string `json:"strategy"`
				OfferTimeoutSeconds int    `json:"offer_timeout_seconds"`
				MaxMisses           int    `json:"max_misses"`
				DefaultDepartmentID int64  `json:"default_department_id"`
				QueueMessage        string `json:"queue_message"`
			} `json:"routing"`
			Hours *struct {
				TimeZone string `json:"time_zone"`
				Weekly   [7][]struct {
					Start string `json:"start"`
					End   string `json:"end"`
				} `json:"weekly"`
				Exceptions []struct {
					Date      string `json:"date"`
					Name      string `json:"name"`
					Intervals []any  `json:"intervals"`
				} `json:"exceptions"`
			} `json:"hours"`
		} `json:"sites"`
	}
	if st := api.do("GET", "/api/v1/sites", nil, &sites); st != 200 {
		t.Fatalf("list sites: status %d", st)
	}
	var found bool
	for _, s := range sites.Sites {
		if s.ID != siteID {
			continue
		}
		found = true
		r, h := s.Routing, s.Hours
		if r.Strategy != "round_robin" || r.OfferTimeoutSeconds != 20 || r.MaxMisses != 3 || r.DefaultDepartmentID != d.ID || r.QueueMessage != "Thanks for waiting" {
			t.Fatalf("routing = %+v", r)
		}
		if h == nil || h.TimeZone != "Europe/Paris" || len(h.Weekly[1]) != 2 || h.Weekly[1][1].Start != "13:00" || len(h.Weekly[2]) != 1 || h.Weekly[2][0].End != "17:00" || len(h.Weekly[0]) != 0 {
			t.Fatalf("hours = %+v", h)
		}
		if len(h.Exceptions) != 2 || h.Exceptions[0].Name != "Christmas" || len(h.Exceptions[0].Intervals) != 0 {
			t.Fatalf("exceptions = %+v", h.Exceptions)
		}
	}
	if !found {
		t.Fatal("demo site not listed")
	}

	// the form shows what was saved after a reload
	admin.do(chromedp.Reload())
	admin.waitFor("the saved settings after a reload", `document.querySelector('#routing-strategy') && document.querySelector('#routing-strategy').value === 'round_robin' && document.querySelector('#hours-day-1').value === '09:00-12:00, 13:00-17:00' && document.querySelector('#hours-exceptions').value.includes('2026-12-25 Christmas: closed')`)

	// --- rename the department, then delete it
	dsel := fmt.Sprintf(`#dept-%d`, d.ID)
	admin.waitFor("the department after the reload", `document.querySelector(`+consoleJS(dsel+" .dept-name")+`)`)
	admin.setField(dsel+" .dept-name", "Sales EU")
	admin.do(chromedp.Click(chromedp.CSS(dsel + " .dept-save")))
	admin.waitFor("renamed", `document.querySelector(`+consoleJS(dsel+" .saved")+`)`)
	if st := api.do("GET", fmt.Sprintf("/api/v1/departments?site_id=%d", siteID), nil, &depts); st != 200 || len(depts.Departments) != 1 || depts.Departments[0].Name != "Sales EU" {
		t.Fatalf("after rename: status %d, %+v", st, depts)
	}
	admin.do(chromedp.Click(chromedp.CSS(dsel + " .dept-delete")))
	admin.do(chromedp.Click(chromedp.CSS(dsel + " .dept-delete-yes")))
	admin.waitFor("the department gone", `!document.querySelector(`+consoleJS(dsel)+`) && document.querySelector('#depts-empty')`)
	if st := api.do("GET", fmt.Sprintf("/api/v1/departments?site_id=%d", siteID), nil, &depts); st != 200 || len(depts.Departments) != 0 {
		t.Fatalf("after delete: status %d, %+v", st, depts)
	}
	if s := consoleEval[string](admin, `document.body.innerText`); strings.Contains(s, "undefined") || strings.Contains(s, "NaN") {
		t.Fatalf("settings page shows undefined/NaN:\n%s", s)
	}
}
