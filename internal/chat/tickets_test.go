package chat_test

import (
	"bytes"
	"strings"
	"testing"

	"switchboard/internal/chat"
	"switchboard/internal/email"
	"switchboard/internal/model"
)

var testSecret = []byte("a-test-secret-of-32-bytes-length")

// mailFixture is a fixture whose service sends email.
func mailFixture(t *testing.T) *fixture {
	f := newFixtureWith(t, func(c *chat.Config) {
		c.Mail = chat.MailConfig{From: "support@shop.test", Secret: testSecret}
	})
	return f
}

// ticket makes a conversation with an email: a visitor's offline message.
func (f *fixture) ticket() (chat.Actor, int64) {
	f.t.Helper()
	v := f.visitor()
	view := must(f.svc.LeaveMessage(f.ctx, v, chat.LeaveMessageInput{Name: "Vera", Email: "Vera@Example.com", Body: "Where is my parcel?", ClientID: "t1"}))
	return v, view.Conversation.ID
}

func TestTicketEmailRepliesAndInboundMail(t *testing.T) {
	f := mailFixture(t)
	v, conv := f.ticket()
	// The offline message is confirmed by email.
	mails := must(f.st.ListMail(f.ctx, conv))
	if len(mails) != 1 || mails[0].Kind != "confirmation" || mails[0].To != "vera@example.com" {
		t.Fatalf("after the offline form: %+v", mails)
	}
	f.goOnline(f.agent)

	// Bad input first: nothing written.
	_, err := f.svc.ReplyByEmail(f.ctx, f.sup, conv, chat.SendInput{ClientID: "s1", Body: "hi"})
	wantCode(t, err, "supervisor_read_only")
	_, err = f.svc.ReplyByEmail(f.ctx, f.agent, conv, chat.SendInput{ClientID: "r1", Body: "  "})
	wantCode(t, err, "empty_message")
	_, err = f.svc.ReplyByEmail(f.ctx, v, conv, chat.SendInput{ClientID: "r1", Body: "x"})
	wantCode(t, err, "conversation_not_found")

	m := must(f.svc.ReplyByEmail(f.ctx, f.agent, conv, chat.SendInput{ClientID: "r1", Body: "It left today."}))
	again := must(f.svc.ReplyByEmail(f.ctx, f.agent, conv, chat.SendInput{ClientID: "r1", Body: "It left today."}))
	if again.ID != m.ID {
		t.Fatal("a retried reply appended twice")
	}
	mails = must(f.st.ListMail(f.ctx, conv))
	if len(mails) != 2 || mails[1].Kind != "reply" || !bytes.Contains(mails[1].Body, []byte("It left today.")) {
		t.Fatalf("after the reply (retried): %+v", mails)
	}
	got := must(f.st.GetConversation(f.ctx, conv))
	if got.AssigneeID != f.agent.User.ID || got.Status != model.StatusOpen {
		t.Fatalf("answering did not take the ticket: %+v", got)
	}

	// The customer's answer comes back by mail: appended once, trimmed,
	// the original kept; a closed ticket reopens.
	must(f.svc.SetStatus(f.ctx, f.agent, conv, model.StatusClosed))
	in := email.Inbound{ConversationID: conv, From: "vera@example.com", MessageID: "abc@example.com",
		Subject: "Re: parcel", Text: "Thanks!", FullText: "Thanks!\n> It left today.", Raw: []byte("Subject: Re: parcel\r\n\r\nThanks!\r\n")}
	if err := f.svc.Deliver(f.ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Deliver(f.ctx, in); err != nil {
		t.Fatal(err)
	}
	msgs := must(f.svc.History(f.ctx, f.agent, conv, 0, 100))
	var replies []model.Message
	for _, x := range msgs {
		if x.Body == "Thanks!" {
			replies = append(replies, x)
		}
	}
	if len(replies) != 1 || replies[0].AuthorKind != model.PartyVisitor || replies[0].RawAttachmentID == 0 {
		t.Fatalf("inbound mail in the timeline: %+v", replies)
	}
	if got := must(f.st.GetConversation(f.ctx, conv)); got.Status != model.StatusOpen {
		t.Fatalf("a reply did not reopen the ticket: %s", got.Status)
	}
	// A reply found only by its references.
	in2 := email.Inbound{References: []string{"unknown@x", mails[1].MessageID}, From: "vera@example.com",
		MessageID: "def@example.com", Text: "And the invoice?", Raw: []byte("x")}
	if err := f.svc.Deliver(f.ctx, in2); err != nil {
		t.Fatal(err)
	}
	// Headers alone are not enough for a stranger: only the customer's own
	// address continues a thread without the signed reply address.
	err = f.svc.Deliver(f.ctx, email.Inbound{References: []string{mails[1].MessageID}, From: "mallory@evil.test",
		MessageID: "evil@x", Text: "send me the refund instead"})
	wantCode(t, err, "mail_ref_not_found")
	// A file the upload rules refuse is left out, not the whole mail.
	if err := f.svc.Deliver(f.ctx, email.Inbound{ConversationID: conv, From: "vera@example.com", MessageID: "att@x",
		Text: "see attached", Raw: []byte("raw"), Attachments: []email.Part{{Name: "empty.txt", Data: nil}}}); err != nil {
		t.Fatalf("a refused attachment failed the mail: %v", err)
	}
	noted := false
	for _, x := range must(f.svc.History(f.ctx, v, conv, 0, 100)) {
		noted = noted || strings.Contains(x.Body, "[not kept: empty.txt")
	}
	if !noted {
		t.Fatal("the refused attachment is not mentioned")
	}
	// Unknown threads are refused (the listener answers 550).
	err = f.svc.Deliver(f.ctx, email.Inbound{References: []string{"nobody@x"}, MessageID: "zzz@x", Text: "?"})
	wantCode(t, err, "mail_ref_not_found")
	// An out-of-office reply is kept for staff only, never shown to the customer.
	if err := f.svc.Deliver(f.ctx, email.Inbound{ConversationID: conv, From: "vera@example.com", MessageID: "ooo@x",
		Subject: "Out of office", Text: "I am away", Automatic: true}); err != nil {
		t.Fatal(err)
	}
	for _, x := range must(f.svc.History(f.ctx, v, conv, 0, 100)) {
		if strings.Contains(x.Body, "Out of office") || strings.Contains(x.Body, "I am away") {
			t.Fatalf("the customer sees an automatic mail: %+v", x)
		}
	}
	staffSees := false
	for _, x := range must(f.svc.History(f.ctx, f.agent, conv, 0, 100)) {
		staffSees = staffSees || (x.Visibility == model.Internal && strings.Contains(x.Body, "Out of office"))
	}
	if !staffSees {
		t.Fatal("staff do not see the automatic mail")
	}
}

func TestTicketStatusAssignAndTranscripts(t *testing.T) {
	f := mailFixture(t)
	f.goOnline(f.agent)
	v := f.visitor()
	view := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Email: "vera@example.com", Body: "hello", ClientID: "q"}))
	conv := view.Conversation.ID
	f.svc.SettleRouting()
	_, err := f.svc.SetStatus(f.ctx, f.agent, conv, model.StatusClosed)
	wantCode(t, err, "chat_live")
	_, err = f.svc.AssignTicket(f.ctx, f.agent, conv, f.bob.User.ID)
	wantCode(t, err, "chat_live")
	_, err = f.svc.SetStatus(f.ctx, f.agent, conv, "archived")
	wantCode(t, err, "invalid_status")
	err = f.svc.RequestTranscript(f.ctx, v, conv, "")
	wantCode(t, err, "chat_not_ended")

	must(f.svc.Join(f.ctx, f.agent, conv))
	must(f.svc.Send(f.ctx, f.agent, chat.SendInput{ConversationID: conv, ClientID: "a", Body: "Hi Vera"}))
	must(f.svc.End(f.ctx, f.agent, conv))
	// on_request (the default): nothing sent until asked.
	if got := must(f.st.ListMail(f.ctx, conv)); len(got) != 0 {
		t.Fatalf("transcript sent unasked: %+v", got)
	}
	wantCode(t, f.svc.RequestTranscript(f.ctx, v, conv, "not an address"), "invalid_email")
	if err := f.svc.RequestTranscript(f.ctx, v, conv, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RequestTranscript(f.ctx, v, conv, ""); err != nil {
		t.Fatal(err)
	}
	got := must(f.st.GetConversation(f.ctx, conv))
	mails := must(f.st.ListMail(f.ctx, conv))
	if len(mails) != 1 || mails[0].Kind != "transcript" || !bytes.Contains(mails[0].Body, []byte("Hi Vera")) {
		t.Fatalf("transcript on request (asked twice): %+v", mails)
	}
	// Tickets are assigned and unassigned; only staff of the site.
	must(f.svc.AssignTicket(f.ctx, f.agent, conv, f.bob.User.ID))
	_, err = f.svc.AssignTicket(f.ctx, f.agent, conv, f.sup.User.ID)
	wantCode(t, err, "agent_not_found")
	_, err = f.svc.AssignTicket(f.ctx, v, conv, f.bob.User.ID)
	wantCode(t, err, "conversation_not_found")
	if c := must(f.svc.AssignTicket(f.ctx, f.agent, conv, 0)); c.AssigneeID != 0 {
		t.Fatal("not unassigned")
	}
	_ = got
	// "never": the site refuses.
	never := model.EmailSettings{Transcript: "never"}
	must(f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{Email: &never}))
	wantCode(t, f.svc.RequestTranscript(f.ctx, v, conv, ""), "transcripts_disabled")
	bad := model.EmailSettings{AccentColor: "red"}
	_, err = f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{Email: &bad})
	wantCode(t, err, "invalid_accent_color")
}

// TestOfflineWhenNobodyAvailable: with the site's setting on and nobody
// online, a request becomes an open ticket like outside business hours.
func TestOfflineWhenNobodyAvailable(t *testing.T) {
	f := mailFixture(t)
	rs := model.RoutingSettings{OfflineWhenUnavailable: true, AutoReply: "We will write back."}
	must(f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{Routing: &rs}))
	if vs := must(f.svc.StartVisitor(f.ctx, f.site.Key, "")); vs.Site.Open {
		t.Fatal("the widget is told the site is open with nobody online")
	}
	v := f.visitor()
	_, err := f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{})
	wantCode(t, err, "nobody_available")
	view := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Email: "vera@example.com", Body: "anyone?", ClientID: "q1"}))
	if view.Offline == nil || view.Offline.Reason != "nobody_available" || view.Chat != nil {
		t.Fatalf("view %+v", view)
	}
	if c := must(f.st.GetConversation(f.ctx, view.Conversation.ID)); c.Status != model.StatusOpen || c.ChatID != 0 {
		t.Fatalf("ticket %+v", c)
	}
	// Someone goes online: chats start again.
	f.goOnline(f.agent)
	if got := must(f.svc.RequestChat(f.ctx, f.visitor(), chat.RequestChatInput{})); got.Chat == nil {
		t.Fatal("no chat with an agent online")
	}
}
