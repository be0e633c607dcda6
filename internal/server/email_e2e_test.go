package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"switchboard/internal/server"
)

// mailbox is a real SMTP server (go-smtp) standing in for the customer's
// mail provider: it accepts everything and keeps what it got.
type mailbox struct {
	mu    sync.Mutex
	mails []inboxMail
	addr  string
}

type inboxMail struct {
	From string
	To   []string
	Data []byte
}

type mbBackend struct{ mb *mailbox }

func (b mbBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &mbSession{mb: b.mb}, nil }

type mbSession struct {
	mb   *mailbox
	from string
	to   []string
}

func (s *mbSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *mbSession) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = append(s.to, to); return nil }
func (s *mbSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.mails = append(s.mb.mails, inboxMail{From: s.from, To: s.to, Data: b})
	s.mb.mu.Unlock()
	return nil
}
func (s *mbSession) Reset()        { s.from, s.to = "", nil }
func (s *mbSession) Logout() error { return nil }

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{}
	srv := smtp.NewServer(mbBackend{mb})
	srv.Domain = "mx.customer.test"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return mb
}

// wait returns the first mail (after skip of them) that match accepts.
func (mb *mailbox) wait(t *testing.T, what string, match func(*mail.Reader, []byte) bool) ([]byte, *mail.Header) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		mb.mu.Lock()
		mails := append([]inboxMail(nil), mb.mails...)
		mb.mu.Unlock()
		for _, m := range mails {
			r, err := mail.CreateReader(bytes.NewReader(m.Data))
			if err != nil {
				t.Fatalf("%s: unreadable mail: %v", what, err)
			}
			if match(r, m.Data) {
				r2, _ := mail.CreateReader(bytes.NewReader(m.Data))
				return m.Data, &r2.Header
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: no such mail arrived", what)
	return nil, nil
}

// sendMail delivers raw to the node's inbound listener as a mail server would.
func sendMail(addr, from, to string, raw string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("mx.customer.test"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// TestTicketEmailEndToEnd: a chat ends → the ticket is closed, assigned to
// the agent, tagged → the transcript reaches the customer's mailbox over
// SMTP → the customer's reply, sent to the node's SMTP listener, shows up in
// the agent's console in real time, quoted history trimmed, reopening the
// ticket → the agent answers by email → the customer receives it threaded.
func TestTicketEmailEndToEnd(t *testing.T) {
	mb := startMailbox(t)
	n := startNode(t, "", func(c *server.Config) {
		c.Mail.SMTP = "smtp+insecure://" + mb.addr
		c.Mail.From = "support@shop.test"
		c.Mail.Listen = "127.0.0.1:0"
		c.Mail.Secret = []byte("test-secret-of-at-least-16-bytes")
	})
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	site := demoSiteID(t, admin)
	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"email": map[string]any{"transcript": "always", "accent_color": "#0a7d5a"}}, nil); st != 200 {
		t.Fatalf("email settings: %d", st)
	}
	admin.doProblem("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"email": map[string]any{"transcript": "sometimes"}}, 400, "invalid_transcript_setting")

	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	wantAck(t, "online", aw.send("availability", map[string]any{"availability": "available"}))
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "my order is late") // as vera@example.com
	wantAck(t, "join", aw.send("join", map[string]any{"conversation_id": conv}))
	wantAck(t, "subscribe", aw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}))
	sendMsg(t, aw, conv, "a1", "Sorry about that, it ships today.")
	wantAck(t, "note", aw.send("note", map[string]any{"conversation_id": conv, "client_id": "n1", "body": "SECRET internal note"}))
	if st := alice.do("PUT", fmt.Sprintf("/api/v1/conversations/%d/tags", conv), map[string]any{"tags": []string{"shipping"}}, nil); st != 200 {
		t.Fatalf("tags: %d", st)
	}
	wantAck(t, "end", aw.send("end_chat", map[string]any{"conversation_id": conv}))

	// The ticket: closed, alice's, tagged.
	var view struct {
		Conversation struct {
			Status     string   `json:"status"`
			AssigneeID int64    `json:"assignee_id"`
			Tags       []string `json:"tags"`
		} `json:"conversation"`
	}
	alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), nil, &view)
	if view.Conversation.Status != "closed" || view.Conversation.AssigneeID != alice.userID() || len(view.Conversation.Tags) != 1 {
		t.Fatalf("ticket after the chat: %+v", view.Conversation)
	}

	// The transcript arrives: HTML and text, never the note, a signed Reply-To.
	raw, h := mb.wait(t, "transcript", func(r *mail.Reader, raw []byte) bool {
		to, _ := r.Header.AddressList("To")
		return len(to) == 1 && to[0].Address == "vera@example.com" && bytes.Contains(raw, []byte("ships today"))
	})
	if bytes.Contains(raw, []byte("SECRET")) {
		t.Fatal("the transcript contains an internal note")
	}
	if !bytes.Contains(raw, []byte("text/html")) || !bytes.Contains(raw, []byte("text/plain")) {
		t.Fatal("the transcript is not multipart text and HTML")
	}
	replyTo, _ := h.AddressList("Reply-To")
	if len(replyTo) != 1 || !strings.HasPrefix(replyTo[0].Address, fmt.Sprintf("reply+%d-", conv)) || !strings.HasSuffix(replyTo[0].Address, "@shop.test") {
		t.Fatalf("Reply-To %v", replyTo)
	}
	transcriptID, _ := h.MessageID()

	// A forged reply address is refused at SMTP time.
	forged := strings.Replace(replyTo[0].Address, fmt.Sprintf("reply+%d-", conv), fmt.Sprintf("reply+%d-", conv+1), 1)
	if err := sendMail(n.srv.MailAddr(), "vera@example.com", forged, "Subject: x\r\n\r\nhello\r\n"); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("forged reply address: %v, want 550", err)
	}

	// The customer replies (Gmail style, quoting the transcript).
	reply := "From: Vera <vera@example.com>\r\nTo: " + replyTo[0].Address + "\r\n" +
		"Subject: Re: your conversation\r\nMessage-ID: <vera-reply-1@example.com>\r\n" +
		"In-Reply-To: <" + transcriptID + ">\r\nReferences: <" + transcriptID + ">\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Thanks! When will it arrive?\r\n\r\nOn Mon, 3 Nov 2026 at 10:02, Demo <support@shop.test> wrote:\r\n> Sorry about that, it ships today.\r\n"
	if err := sendMail(n.srv.MailAddr(), "vera@example.com", replyTo[0].Address, reply); err != nil {
		t.Fatalf("deliver the reply: %v", err)
	}
	f := aw.waitEvent("message", func(f frame) bool {
		return f.ConversationID == conv && decode[message](t, f.Data).Body == "Thanks! When will it arrive?"
	})
	_ = f
	aw.waitEvent("conversation", func(f frame) bool {
		return f.ConversationID == conv && strings.Contains(string(f.Data), `"status":"open"`)
	})
	// Delivered twice (a sender retrying): stored once.
	if err := sendMail(n.srv.MailAddr(), "vera@example.com", replyTo[0].Address, reply); err != nil {
		t.Fatalf("redeliver: %v", err)
	}

	// The agent answers by email; it arrives threaded.
	var sent map[string]any
	if st := alice.do("POST", fmt.Sprintf("/api/v1/conversations/%d/email-reply", conv), map[string]any{"client_id": "r1", "body": "Tomorrow morning."}, &sent); st != 201 {
		t.Fatalf("email reply: %d %v", st, sent)
	}
	_, rh := mb.wait(t, "reply", func(r *mail.Reader, raw []byte) bool { return bytes.Contains(raw, []byte("Tomorrow morning")) })
	refs, _ := rh.MsgIDList("References")
	inReplyTo, _ := rh.MsgIDList("In-Reply-To")
	if len(refs) == 0 || len(inReplyTo) == 0 {
		t.Fatalf("reply not threaded: References %v In-Reply-To %v", refs, inReplyTo)
	}
	th, _ := h.MsgIDList("References")
	if len(th) == 0 || th[0] != refs[0] {
		t.Fatalf("transcript and reply are not one thread: %v vs %v", th, refs)
	}
	// The timeline holds the customer's reply once.
	var hist struct {
		Messages []message `json:"messages"`
	}
	alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), nil, &hist)
	count := 0
	for _, m := range hist.Messages {
		if m.Body == "Thanks! When will it arrive?" {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("the customer's reply is in the timeline %d times", count)
	}
	var mails struct {
		Mail []struct {
			Kind  string `json:"kind"`
			State string `json:"state"`
		} `json:"mail"`
	}
	alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d/mail", conv), nil, &mails)
	if len(mails.Mail) != 2 || mails.Mail[0].Kind != "transcript" || mails.Mail[1].Kind != "reply" {
		t.Fatalf("mail log %+v", mails.Mail)
	}
}
