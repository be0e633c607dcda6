package server_test

// Browser tests of the widget's routing features: the queue place shown
// live, the pre-chat department choice, a chat nobody answered, and
// business hours (the after-hours message, a question kept as a ticket, the
// offline form). Same harness as widget_browser_test.go.

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// widgetPrechat opens the widget and sends the pre-chat form; dept (when
// not empty) is the value to choose in the department select.
func widgetPrechat(b *widgetBrowser, name, email, dept, question string) {
	b.t.Helper()
	b.waitFor("launcher", `q('.l')`)
	b.do(chromedp.Click(widgetEl(".l")))
	b.waitFor("pre-chat form", `q('.p') && !q('.p').hidden && q('form.fm') && !q('form.fm').hidden && q('#sb-f-body')`)
	if dept != "" {
		b.waitFor("department choice", `q('label[for=sb-f-dept] select#sb-f-dept') && qa('#sb-f-dept option').some(o => o.value === `+widgetQuote(dept)+`)`)
		b.do(chromedp.SetValue(widgetEl("#sb-f-dept"), dept))
	}
	b.do(
		chromedp.SendKeys(widgetEl("#sb-f-name"), name),
		chromedp.SendKeys(widgetEl("#sb-f-email"), email),
		chromedp.SendKeys(widgetEl("#sb-f-body"), question),
		chromedp.Click(widgetEl("form.fm button[type=submit]")),
	)
}

// widgetConv is the conversation the widget shows (from its storage).
func widgetConv(b *widgetBrowser) int64 {
	b.t.Helper()
	b.waitFor("conversation stored", `+localStorage.getItem('sb:demo:conv') > 0`)
	var s string
	if err := b.evalPage(`localStorage.getItem('sb:demo:conv')`, &s); err != nil {
		b.t.Fatal(err)
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		b.t.Fatalf("stored conversation %q: %v", s, err)
	}
	return id
}

// TestWidgetQueue: with nobody online, two visitors ask for a chat in the
// department they chose; the second is told they are number 2, and number 1
// as soon as the first gives up, without a reload. Then a chat nobody
// answers in time ends with the site's message and the offline form.
func TestWidgetQueue(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	alice := n.login("alice@demo.test", "demo-agent-pass") // signed in over REST only: not online
	site := siteID(t, admin, "demo")
	var sales struct {
		ID int64 `json:"id"`
	}
	if st := admin.do("POST", "/api/v1/departments", map[string]any{"site_id": site, "name": "Sales", "member_ids": []int64{alice.userID()}}, &sales); st != 201 {
		t.Fatalf("create department: %d", st)
	}
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"routing": map[string]any{
		"queue_display": "position_and_estimate", "queue_message": "Thanks for your patience.",
	}}, nil); st != 200 {
		t.Fatalf("set routing: %d", st)
	}
	host := widgetHostPage(t, n.base, "")
	dept := strconv.FormatInt(sales.ID, 10)

	b1, b2 := widgetNewBrowser(t), widgetNewBrowser(t)
	b1.do(chromedp.Navigate(host.URL))
	widgetPrechat(b1, "Vera", "vera@example.com", dept, "First in line")
	b1.waitFor("first visitor queued", `!q('.bn').hidden && q('.bn').textContent.includes('Waiting for an agent') && q('.bn').textContent.includes('You are number 1 in the queue') && q('.bn').textContent.includes('Thanks for your patience.')`)

	b2.do(chromedp.Navigate(host.URL))
	widgetPrechat(b2, "Walt", "walt@example.com", dept, "Second in line")
	b2.waitFor("second visitor is number 2", `!q('.bn').hidden && q('.bn').textContent.includes('You are number 2 in the queue')`)
	b2.screenshot("11-queue-number-2")

	// Both chats wait in the chosen department.
	for _, b := range []*widgetBrowser{b1, b2} {
		var cv struct {
			Conversation struct {
				DepartmentID int64 `json:"department_id"`
			} `json:"conversation"`
		}
		if st := admin.do("GET", fmt.Sprintf("/api/v1/conversations/%d", widgetConv(b)), nil, &cv); st != 200 || cv.Conversation.DepartmentID != sales.ID {
			t.Fatalf("conversation department: %d %+v, want %d", st, cv, sales.ID)
		}
	}

	// The first visitor gives up ("End chat" asks once more): the second
	// moves up, live (the mark on the page shows it was not reloaded).
	var ok bool
	if err := b2.evalPage(`(window.__same = true)`, &ok); err != nil {
		t.Fatal(err)
	}
	b1.do(chromedp.Click(widgetEl(".eb")))
	b1.waitFor("end confirmation", `q('.eb').textContent === 'End this chat?'`)
	b1.do(chromedp.Click(widgetEl(".eb")))
	b1.waitFor("first chat ended", `q('.bn').textContent.includes('This chat has ended') && !q('.rt .st')`)
	b2.waitFor("second visitor is number 1", `window.__same && q('.bn').textContent.includes('You are number 1 in the queue') && !q('.bn').textContent.includes('number 2')`)
	b2.screenshot("12-queue-number-1")

	// Nobody answers in time: the chat ends with the site's message, and
	// the visitor is offered the offline form.
	const sorry = "Sorry, everyone is busy. Leave us a message!"
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"routing": map[string]any{
		"queue_display": "position_and_estimate", "max_wait_seconds": 2, "unanswered_message": sorry,
	}}, nil); st != 200 {
		t.Fatalf("set max wait: %d", st)
	}
	b1.do(
		chromedp.SendKeys(widgetEl("textarea[aria-label]"), "Anyone there?"),
		chromedp.SendKeys(widgetEl("textarea[aria-label]"), kb.Enter),
	)
	b1.waitFor("queued again", `q('.bn').textContent.includes('Waiting for an agent')`)
	b1.waitFor("unanswered", `qa('.ms .s.ar').some(e => e.textContent === `+widgetQuote(sorry)+`) && q('.ms .rt button.sd') && q('.ms .rt').textContent === 'Leave us a message' && !q('.rt .st')`)
	b1.screenshot("13-unanswered")
	b1.do(chromedp.Click(widgetEl(".ms .rt button.sd")))
	b1.waitFor("offline form", `!q('form.fm').hidden && q('form.fm').textContent.includes('Leave us a message') && q('#sb-f-body') && q('.ms').hidden`)
	b1.do(
		chromedp.SendKeys(widgetEl("#sb-f-body"), "Please call me back"),
		chromedp.Click(widgetEl("form.fm button[type=submit]")),
	)
	b1.waitFor("offline form sent", `q('form.fm').hidden && !q('.ms').hidden && q('.ms .rt [role=status]') && q('.ms .rt').textContent.includes('get back to you by email')`)
	var tickets struct {
		Conversations []struct {
			Preview string `json:"preview"`
		} `json:"conversations"`
	}
	if st := admin.do("GET", "/api/v1/conversations?status=open&assignee=none", nil, &tickets); st != 200 {
		t.Fatalf("tickets: %d", st)
	}
	found := false
	for _, c := range tickets.Conversations {
		found = found || c.Preview == "Please call me back"
	}
	if !found {
		t.Fatalf("the offline form left no ticket: %+v", tickets)
	}
}

// TestWidgetAfterHours: a visitor whose widget still thinks the site is
// open asks outside business hours: the question is kept as a ticket with
// the site's auto-reply and the visitor is told. A new visitor sees the
// after-hours message, when the site opens again, and the offline form.
func TestWidgetAfterHours(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	site := siteID(t, admin, "demo")
	host := widgetHostPage(t, n.base, "")

	// The first visitor opens the widget while the site is open.
	b1 := widgetNewBrowser(t)
	b1.do(chromedp.Navigate(host.URL))
	b1.waitFor("launcher", `q('.l')`)
	b1.do(chromedp.Click(widgetEl(".l")))
	b1.waitFor("pre-chat form", `q('#sb-f-body') && q('form.fm').textContent.includes('Chat with a person') && localStorage.getItem('sb:demo:token')`)

	// Then it closes: open every day, except today and tomorrow (UTC), so
	// it opens again the day after tomorrow at midnight.
	today := time.Now().UTC()
	reopen := time.Date(today.Year(), today.Month(), today.Day()+2, 0, 0, 0, 0, time.UTC)
	week := make([][]map[string]string, 7)
	for i := range week {
		week[i] = []map[string]string{{"start": "00:00", "end": "24:00"}}
	}
	const away, autoReply = "We are away right now.", "Thanks! We will answer by email soon."
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{
		"routing": map[string]any{"after_hours_message": away, "auto_reply": autoReply},
		"hours": map[string]any{"time_zone": "UTC", "weekly": week, "exceptions": []map[string]any{
			{"date": today.Format("2006-01-02"), "intervals": []any{}},
			{"date": today.AddDate(0, 0, 1).Format("2006-01-02"), "intervals": []any{}},
		}},
	}, nil); st != 200 {
		t.Fatalf("set hours: %d", st)
	}
	b1.do(
		chromedp.SendKeys(widgetEl("#sb-f-email"), "vera@example.com"),
		chromedp.SendKeys(widgetEl("#sb-f-body"), "Are you open on Sunday?"),
		chromedp.Click(widgetEl("form.fm button[type=submit]")),
	)
	b1.waitFor("question kept", `!q('.bn').hidden && q('.bn').textContent === 'Your message was kept: we will answer you by email.' &&
		qa('.ms .m.me .bu').some(e => e.textContent === 'Are you open on Sunday?') && !q('.m.pe') &&
		qa('.ms .s.ar').some(e => e.textContent === `+widgetQuote(autoReply)+`)`)
	b1.screenshot("14-after-hours-kept")

	// A new visitor: the after-hours message, the next opening and the offline form.
	b2 := widgetNewBrowser(t)
	b2.do(chromedp.Navigate(host.URL))
	b2.waitFor("launcher", `q('.l')`)
	b2.do(chromedp.Click(widgetEl(".l")))
	b2.waitFor("after-hours form", `!q('form.fm').hidden && q('form.fm').textContent.includes('Leave us a message') && q('form.fm').textContent.includes(`+widgetQuote(away)+`) &&
		q('form.fm time') && q('form.fm time').getAttribute('datetime') === `+widgetQuote(reopen.Format(time.RFC3339))+` && q('form.fm .no').textContent.startsWith('We open again: ') &&
		q('#sb-f-email') && q('#sb-f-email').required && !q('#sb-f-dept')`)
	b2.screenshot("15-after-hours-form")
	b2.do(
		chromedp.SendKeys(widgetEl("#sb-f-email"), "nora@example.com"),
		chromedp.SendKeys(widgetEl("#sb-f-body"), "Do you ship to Norway?"),
		chromedp.Click(widgetEl("form.fm button[type=submit]")),
	)
	b2.waitFor("offline form sent", `q('form.fm [role=status]') && q('form.fm [role=status]').textContent.includes('get back to you by email')`)

	// Two open, unassigned tickets: the kept question and the message left.
	var tickets struct {
		Conversations []struct {
			ChatState string `json:"chat_state"`
			Contact   struct {
				Email string `json:"email"`
			} `json:"contact"`
		} `json:"conversations"`
	}
	if st := admin.do("GET", "/api/v1/conversations?status=open&assignee=none", nil, &tickets); st != 200 || len(tickets.Conversations) != 2 {
		t.Fatalf("open unassigned tickets: %d %+v", st, tickets)
	}
	var emails []string
	for _, c := range tickets.Conversations {
		if c.ChatState != "" {
			t.Errorf("a ticket from after hours has a chat: %+v", c)
		}
		emails = append(emails, c.Contact.Email)
	}
	if got := strings.Join(emails, ","); !strings.Contains(got, "vera@example.com") || !strings.Contains(got, "nora@example.com") {
		t.Fatalf("ticket contacts: %s", got)
	}
}

// widgetReload reloads the host page and waits for the widget of the new
// page (a mark set on the old one is gone).
func widgetReload(b *widgetBrowser) {
	b.t.Helper()
	var ok bool
	if err := b.evalPage(`(window.__beforeReload = true)`, &ok); err != nil || !ok {
		b.t.Fatalf("mark the page: %v", err)
	}
	b.do(chromedp.Reload())
	b.waitFor("the widget after the reload", `!window.__beforeReload && q('.l')`)
}

// TestWidgetStoredSessionSite: a returning visitor (a stored session, the
// page reloaded) sees the site as the server has it now, not the copy the
// widget stored when the session started: the departments an admin added
// and renamed since, then the site closed since.
func TestWidgetStoredSessionSite(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	site := siteID(t, admin, "demo")
	var sales struct {
		ID int64 `json:"id"`
	}
	if st := admin.do("POST", "/api/v1/departments", map[string]any{"site_id": site, "name": "Sales"}, &sales); st != 201 {
		t.Fatalf("create department: %d", st)
	}
	host := widgetHostPage(t, n.base, "")
	depts := `['Any department'].concat(qa('#sb-f-dept option').slice(1).map(o => o.textContent).sort()).join('|')`

	b := widgetNewBrowser(t)
	b.do(chromedp.Navigate(host.URL))
	b.waitFor("launcher", `q('.l')`)
	b.do(chromedp.Click(widgetEl(".l")))
	b.waitFor("the departments at the start", `q('#sb-f-dept') && qa('#sb-f-dept option')[0].textContent === 'Any department' && `+depts+` === 'Any department|Sales' && localStorage.getItem('sb:demo:token')`)
	var token string
	if err := b.evalPage(`localStorage.getItem('sb:demo:token')`, &token); err != nil {
		t.Fatal(err)
	}

	// An admin renames Sales and adds Support; the visitor comes back.
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/departments/%d", sales.ID), map[string]any{"name": "Sales EU"}, nil); st != 200 {
		t.Fatalf("rename department: %d", st)
	}
	if st := admin.do("POST", "/api/v1/departments", map[string]any{"site_id": site, "name": "Support"}, nil); st != 201 {
		t.Fatalf("create department: %d", st)
	}
	widgetReload(b) // the panel was open: it opens again by itself
	b.waitFor("the departments as they are now", `!q('.p').hidden && q('#sb-f-dept') && `+depts+` === 'Any department|Sales EU|Support' &&
		JSON.parse(localStorage.getItem('sb:demo:site')).departments.length === 2`)
	b.screenshot("16-stored-session-departments")
	var again string
	if err := b.evalPage(`localStorage.getItem('sb:demo:token')`, &again); err != nil || again != token {
		t.Fatalf("the session was not resumed: token %q, was %q (%v)", again, token, err)
	}

	// The site closes (today and tomorrow, UTC); the visitor comes back:
	// the after-hours form, not the pre-chat form the stored copy says.
	today := time.Now().UTC()
	reopen := time.Date(today.Year(), today.Month(), today.Day()+2, 0, 0, 0, 0, time.UTC)
	week := make([][]map[string]string, 7)
	for i := range week {
		week[i] = []map[string]string{{"start": "00:00", "end": "24:00"}}
	}
	const away = "We are away right now."
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{
		"routing": map[string]any{"after_hours_message": away},
		"hours": map[string]any{"time_zone": "UTC", "weekly": week, "exceptions": []map[string]any{
			{"date": today.Format("2006-01-02"), "intervals": []any{}},
			{"date": today.AddDate(0, 0, 1).Format("2006-01-02"), "intervals": []any{}},
		}},
	}, nil); st != 200 {
		t.Fatalf("set hours: %d", st)
	}
	widgetReload(b)
	b.waitFor("the after-hours form", `!q('.p').hidden && !q('form.fm').hidden && q('form.fm').textContent.includes(`+widgetQuote(away)+`) && !q('#sb-f-dept') &&
		q('form.fm time') && q('form.fm time').getAttribute('datetime') === `+widgetQuote(reopen.Format(time.RFC3339)))
}
