package server_test

// Browser tests of tickets and email: the console's Tickets view (search,
// assign, reply by email, close, the Closed list grouped by agent) and the
// widget's "Email me the transcript", against a node whose mail goes to a
// real SMTP server in the test (startMailbox, email_e2e_test.go).

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-message/mail"

	"switchboard/internal/server"
)

// startMailNode starts a node that sends mail to mb and receives it on a
// loopback SMTP listener.
func startMailNode(t *testing.T, mb *mailbox) *node {
	t.Helper()
	return startNode(t, "", func(c *server.Config) {
		c.Mail.SMTP = "smtp+insecure://" + mb.addr
		c.Mail.From = "support@shop.test"
		c.Mail.Listen = "127.0.0.1:0"
		c.Mail.Secret = []byte("test-secret-of-at-least-16-bytes")
	})
}

// mailTo matches a mail to addr whose raw text contains every one of words.
func mailTo(addr string, words ...string) func(*mail.Reader, []byte) bool {
	return func(r *mail.Reader, raw []byte) bool {
		to, _ := r.Header.AddressList("To")
		if len(to) != 1 || to[0].Address != addr {
			return false
		}
		for _, w := range words {
			if !bytes.Contains(raw, []byte(w)) {
				return false
			}
		}
		return true
	}
}

// leaveMessage leaves an offline message as a visitor and returns its ticket.
func leaveMessage(t *testing.T, v *visitor, name, email, body, clientID string) int64 {
	t.Helper()
	var out struct {
		Conversation struct {
			ID int64 `json:"id"`
		} `json:"conversation"`
	}
	if st := v.do("POST", "/api/v1/visitor/tickets", map[string]any{"name": name, "email": email, "body": body, "client_id": clientID}, &out); st != 201 {
		t.Fatalf("leave a message: status %d", st)
	}
	return out.Conversation.ID
}

func TestTicketsConsoleBrowser(t *testing.T) {
	browser := consoleNewBrowser(t)
	mb := startMailbox(t)
	n := startMailNode(t, mb)
	n.seed()
	shots := consoleArtifacts(t)
	admin := n.login("admin@demo.test", "demo-admin-pass")
	aliceID := n.login("alice@demo.test", "demo-agent-pass").userID()

	// Olga wrote twice (her history), Pat once.
	olga := n.newVisitor("demo", "")
	older := leaveMessage(t, olga, "Olga", "olga@example.com", "Do you sell gift cards?", "o-1")
	tid := leaveMessage(t, olga, "Olga", "olga@example.com", "My parcel 4471 never arrived", "o-2")
	pat := leaveMessage(t, n.newVisitor("demo", ""), "Pat", "pat@example.com", "Do you ship to Norway?", "p-1")
	mb.wait(t, "olga's confirmation", mailTo("olga@example.com"))
	row := func(id int64) string {
		return fmt.Sprintf(`document.querySelector('#tickets-list .row[data-conv="%d"]')`, id)
	}

	alice := consolePage{t: t, ctx: browser, name: "alice"}
	alice.signIn(n.base, "alice@demo.test", "demo-agent-pass")
	alice.waitFor("the socket", `document.querySelector('#conn-banner') === null`)

	// --- Tickets → Unassigned lists the offline messages; a new one shows up live
	alice.do(chromedp.Click(chromedp.ID("nav-tickets")))
	alice.waitFor("Unassigned", `document.querySelector('#tab-unassigned[aria-selected=true]') && `+row(tid)+` && `+row(pat)+` && `+row(older))
	late := leaveMessage(t, n.newVisitor("demo", ""), "Lee", "lee@example.com", "Is the shop open on Sunday?", "l-1")
	alice.waitFor("a new ticket, live", row(late)+` && `+row(late)+`.textContent.includes('lee@example.com')`)
	alice.screenshot(shots, "tickets-unassigned")

	// --- the search finds Olga's parcel and nothing else
	alice.do(chromedp.SendKeys(chromedp.ID("tickets-q"), "parcel 4471"))
	alice.waitFor("the search result", `document.querySelector('#tickets-list[aria-busy=false]') && `+row(tid)+` && !`+row(pat)+` && !`+row(older)+` && !`+row(late))
	// a change from another console reaches the list
	if st := admin.do("PUT", fmt.Sprintf("/api/v1/conversations/%d/tags", tid), map[string]any{"tags": []string{"shipping"}}, nil); st != 200 {
		t.Fatalf("tag: %d", st)
	}
	alice.waitFor("the tag from another console", row(tid)+`.querySelector('.tag') && `+row(tid)+`.querySelector('.tag').textContent === 'shipping'`)

	// --- open it: the timeline, the mail log, the customer's history
	alice.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#tickets-list .row[data-conv="%d"] a`, tid))))
	alice.waitFor("the ticket", fmt.Sprintf(`location.pathname.endsWith('/t/%d')`, tid)+
		` && [...document.querySelectorAll('.entry.visitor .body-text')].some(e => e.textContent === 'My parcel 4471 never arrived')`+
		` && document.querySelector('#ticket-customer-email').textContent === 'olga@example.com'`+
		` && document.querySelector('#mail-log li[data-kind=confirmation][data-state=sent]')`+
		fmt.Sprintf(` && document.querySelector('#customer-history li[data-conv="%d"]')`, older)+
		fmt.Sprintf(` && !document.querySelector('#customer-history li[data-conv="%d"]')`, tid))

	// --- assign it to me: it leaves Unassigned for Assigned (mine only too)
	alice.do(chromedp.Click(chromedp.ID("assign-me")))
	alice.waitFor("assigned to Alice", `document.querySelector('#ticket-assignee-name').textContent.includes('Alice Agent') && !document.querySelector('#assign-me') && document.querySelector('#ticket-assignee').value === `+consoleJS(fmt.Sprint(aliceID)))
	alice.do(chromedp.Click(chromedp.ID("nav-tickets")))
	alice.waitFor("Unassigned without it, the search kept", `document.querySelector('#tickets-q').value === 'parcel 4471' && document.querySelector('#tab-unassigned[aria-selected=true]') && document.querySelector('#tickets-list[aria-busy=false]') && !`+row(tid))
	alice.do(chromedp.Click(chromedp.ID("tab-assigned")))
	alice.waitFor("in Assigned", `document.querySelector('#tickets-list[aria-busy=false]') && `+row(tid)+` && `+row(tid)+`.querySelector('.row-assignee').textContent === 'You'`)
	alice.do(chromedp.Click(chromedp.ID("mine-only")))
	alice.waitFor("in Assigned, mine only", `document.querySelector('#mine-only').checked && document.querySelector('#tickets-list[aria-busy=false]') && `+row(tid))
	alice.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#tickets-list .row[data-conv="%d"] a`, tid))))

	// --- an internal note, then a reply by email that reaches Olga's mailbox
	alice.waitFor("the reply box", `document.querySelector('#ticket-input') && !document.querySelector('#ticket-input').disabled`)
	alice.do(chromedp.Click(chromedp.ID("ticket-mode-note")))
	alice.do(chromedp.SendKeys(chromedp.ID("ticket-input"), "Carrier says depot 7"), chromedp.Click(chromedp.ID("ticket-send")))
	alice.waitFor("the note", `[...document.querySelectorAll('.entry.note')].some(e => e.textContent.includes('Internal note') && e.textContent.includes('Carrier says depot 7'))`)
	alice.do(chromedp.Click(chromedp.ID("ticket-mode-email")))
	reply := "We found it: it arrives tomorrow."
	alice.do(chromedp.SendKeys(chromedp.ID("ticket-input"), reply), chromedp.Click(chromedp.ID("ticket-send")))
	raw, h := mb.wait(t, "the reply", mailTo("olga@example.com", "arrives tomorrow"))
	if bytes.Contains(raw, []byte("depot 7")) {
		t.Fatal("the emailed reply contains the internal note")
	}
	alice.waitFor("the reply, sent", `document.querySelector('#ticket-sent') && document.querySelector('#ticket-sent').textContent.includes('olga@example.com')`+
		` && [...document.querySelectorAll('.entry.agent.by-email .body-text')].some(e => e.textContent === `+consoleJS(reply)+`)`+
		` && document.querySelector('#mail-log li[data-kind=reply][data-state=sent]')`)
	alice.screenshot(shots, "ticket")
	consoleEval[bool](alice, `(document.querySelector('.customer').scrollTop = 1e5, true)`)
	alice.screenshot(shots, "ticket-mail-log")

	// --- Olga answers by email: it shows up live, with the original mail
	replyTo, _ := h.AddressList("Reply-To")
	msgID, _ := h.MessageID()
	if len(replyTo) != 1 {
		t.Fatalf("Reply-To %v", replyTo)
	}
	in := "From: Olga <olga@example.com>\r\nTo: " + replyTo[0].Address + "\r\nSubject: Re: your parcel\r\n" +
		"Message-ID: <olga-1@example.com>\r\nIn-Reply-To: <" + msgID + ">\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGreat, thank you!\r\n"
	if err := sendMail(n.srv.MailAddr(), "olga@example.com", replyTo[0].Address, in); err != nil {
		t.Fatalf("deliver Olga's reply: %v", err)
	}
	alice.waitFor("Olga's emailed answer", `[...document.querySelectorAll('.entry.visitor.by-email')].some(e => e.querySelector('.body-text').textContent === 'Great, thank you!' && e.querySelector('a.raw-email'))`)
	href := consoleEval[string](alice, `[...document.querySelectorAll('.entry.visitor.by-email')].pop().querySelector('a.raw-email').getAttribute('href')`)
	staff := n.login("alice@demo.test", "demo-agent-pass")
	res, err := staff.http.Get(n.base + href)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(orig, []byte("Message-ID: <olga-1@example.com>")) {
		t.Fatalf("original email %s: %d %q", href, res.StatusCode, orig)
	}

	// --- another console changes the priority: the open ticket follows
	if st := admin.do("PUT", fmt.Sprintf("/api/v1/conversations/%d/priority", tid), map[string]any{"priority": "urgent"}, nil); st != 200 {
		t.Fatalf("priority: %d", st)
	}
	alice.waitFor("the priority from another console", `document.querySelector('#priority').value === 'urgent'`)

	// --- close it, then find it under Closed, grouped under Alice
	alice.do(chromedp.Click(chromedp.ID("ticket-close")))
	alice.waitFor("closed", `document.querySelector('#ticket-status').textContent === 'closed' && document.querySelector('#ticket-reopen')`)
	alice.do(chromedp.Click(chromedp.ID("nav-tickets")))
	alice.waitFor("the list", `document.querySelector('#tab-closed')`)
	alice.do(chromedp.Click(chromedp.ID("tab-closed")))
	alice.waitFor("under Closed, grouped under Alice", `document.querySelector('#tickets-q').value === 'parcel 4471' && [...document.querySelectorAll('.ticket-group')].some(g => g.querySelector('.group-head').textContent.includes('Alice Agent') && g.querySelector('.row[data-conv="`+fmt.Sprint(tid)+`"]'))`)
	alice.screenshot(shots, "tickets-closed")

	// --- a chat with a customer who gave no email, ended: the reply box says why it cannot email
	vw, _ := n.newVisitor("demo", "").ws()
	f := vw.send("request_chat", map[string]any{"name": "Nora", "body": "Just looking", "client_id": "n-1"})
	wantAck(t, "request_chat", f)
	nid := decode[struct {
		Conversation struct {
			ID int64 `json:"id"`
		} `json:"conversation"`
	}](t, f.Data).Conversation.ID
	bw := n.login("bob@demo.test", "demo-agent-pass").ws()
	wantAck(t, "available", bw.send("availability", map[string]any{"availability": "available"}))
	wantAck(t, "join", bw.send("join", map[string]any{"conversation_id": nid}))
	wantAck(t, "end", bw.send("end_chat", map[string]any{"conversation_id": nid}))
	alice.do(chromedp.Navigate(fmt.Sprintf("%s/console/t/%d", n.base, nid)))
	alice.waitFor("no email, no reply by email", `document.querySelector('#email-reply-hint') && document.querySelector('#email-reply-hint').textContent.includes('no email address') && document.querySelector('#ticket-input').disabled && document.querySelector('#ticket-send').disabled`)
	// notes still work there
	alice.do(chromedp.Click(chromedp.ID("ticket-mode-note")))
	alice.waitFor("the note box", `!document.querySelector('#ticket-input').disabled && !document.querySelector('#email-reply-hint')`)
}

// TestWidgetTranscriptByEmail: after a chat ends the widget offers "Email
// me the transcript"; the visitor gave no address, so it asks for one,
// refuses a bad one, then says where it went, and the transcript arrives.
func TestWidgetTranscriptByEmail(t *testing.T) {
	b := widgetNewBrowser(t)
	mb := startMailbox(t)
	n := startMailNode(t, mb)
	n.seed()
	host := widgetHostPage(t, n.base, "")
	widgetAllowOnly(t, n, host.URL)
	aw := widgetAgent(t, n)

	b.do(chromedp.Navigate(host.URL))
	widgetPrechat(b, "Vera", "", "", "Can I change my delivery address?")
	conv := aw.waitEvent("chat", func(f frame) bool { return decode[chatEvent](t, f.Data).Chat.State == "waiting" }).ConversationID
	widgetJoin(t, aw, conv)
	widgetAgentSay(t, aw, conv, "a-1", "Yes, send it to us")
	b.waitFor("the agent's answer", `qa('.ms .m.them .bu').some(e => e.textContent === 'Yes, send it to us')`)
	if b.evalBool(`!!q('.tr')`) {
		t.Fatal("the transcript is offered before the chat ended")
	}
	if f := aw.send("end_chat", map[string]any{"conversation_id": conv}); f.Type != "ack" {
		t.Fatalf("end_chat: %+v", f.Error)
	}
	b.waitFor("the offer", `q('.tr button.sd') && q('.tr button.sd').textContent === 'Email me the transcript'`)
	b.do(chromedp.Click(widgetEl(".tr button.sd")))
	b.waitFor("the address asked for", `q('.tr input[type=email]') && S.activeElement === q('.tr input[type=email]')`)
	b.screenshot("transcript-ask")
	b.do(chromedp.SendKeys(widgetEl(".tr input[type=email]"), "vera@"), chromedp.Click(widgetEl(".tr button.sd")))
	b.waitFor("a bad address refused", `q('.tr .rte') && q('.tr .rte').textContent.includes('valid email') && q('.tr input[type=email]').value === 'vera@'`)
	b.evalBool(`(q('.tr input[type=email]').value = '', true)`)
	b.do(chromedp.SendKeys(widgetEl(".tr input[type=email]"), "vera@example.com"), chromedp.Click(widgetEl(".tr button.sd")))
	b.waitFor("sent", `q('.tr [role=status]') && q('.tr [role=status]').textContent === 'Sent to vera@example.com' && !q('.tr .rte')`)
	b.screenshot("transcript-sent")
	raw, _ := mb.wait(t, "the transcript", mailTo("vera@example.com", "Yes, send it to us"))
	if !bytes.Contains(raw, []byte("delivery address")) {
		t.Fatal("the transcript lacks the visitor's question")
	}
	// it says so again after a reload, and asks nothing more
	b.do(chromedp.Reload())
	b.waitFor("sent, after a reload", `q('.tr [role=status]') && q('.tr [role=status]').textContent === 'Sent to vera@example.com'`)
	var mails struct {
		Mail []struct {
			Kind string `json:"kind"`
			To   string `json:"to"`
		} `json:"mail"`
	}
	n.login("alice@demo.test", "demo-agent-pass").do("GET", fmt.Sprintf("/api/v1/conversations/%d/mail", conv), nil, &mails)
	if len(mails.Mail) != 1 || mails.Mail[0].Kind != "transcript" || !strings.EqualFold(mails.Mail[0].To, "vera@example.com") {
		t.Fatalf("mail log %+v", mails.Mail)
	}
}

func (b *widgetBrowser) evalBool(expr string) bool {
	b.t.Helper()
	var v bool
	b.eval(expr, &v)
	return v
}
