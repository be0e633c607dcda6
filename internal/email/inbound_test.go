package email

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"switchboard/internal/apperr"
)

var inboundSecret = []byte("inbound-test-secret")

const inboundFrom = "support@example.com"

// recordingInbox is a test double of Inbox: it records deliveries and
// answers with err.
type recordingInbox struct {
	mu   sync.Mutex
	got  []Inbound
	ctxs []context.Context
	err  error
}

func (r *recordingInbox) Deliver(ctx context.Context, in Inbound) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, in)
	r.ctxs = append(r.ctxs, ctx)
	return r.err
}

func (r *recordingInbox) delivered() []Inbound {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Inbound(nil), r.got...)
}

// lockedBuffer collects log output from concurrent SMTP sessions.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type inboundServer struct {
	addr  string
	inbox *recordingInbox
	logs  *lockedBuffer
}

// startInbound runs a Listener on 127.0.0.1:0 until the test ends.
func startInbound(t *testing.T, inbox *recordingInbox, maxBytes int64) *inboundServer {
	t.Helper()
	if inbox == nil {
		inbox = &recordingInbox{}
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := Config{From: inboundFrom, Secret: inboundSecret, MaxMessageBytes: maxBytes, Timeout: 10 * time.Second}
	l, err := NewListener(cfg, inbox, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve(ln) }()
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		// Info logs carry neither bodies nor full addresses.
		out := logs.String()
		for _, secret := range []string{"reply+", "@gmail.com", "jane.doe", "support@example.com", "Hello Jane", "export works"} {
			if strings.Contains(out, secret) {
				t.Errorf("info log contains %q:\n%s", secret, out)
			}
		}
	})
	return &inboundServer{addr: ln.Addr().String(), inbox: inbox, logs: logs}
}

// send runs one SMTP transaction and returns the first error and the
// stage it happened at ("mail", "rcpt", "data"), or "" and nil on 250.
func (s *inboundServer) send(t *testing.T, from string, opts *smtp.MailOptions, rcpts []string, msg []byte) (string, error) {
	t.Helper()
	c, err := smtp.Dial(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mx.sender.example"); err != nil {
		t.Fatal(err)
	}
	stage, err := func() (string, error) {
		if err := c.Mail(from, opts); err != nil {
			return "mail", err
		}
		for _, r := range rcpts {
			if err := c.Rcpt(r, nil); err != nil {
				return "rcpt", err
			}
		}
		w, err := c.Data()
		if err != nil {
			return "data", err
		}
		if _, err := w.Write(msg); err != nil {
			return "data", err
		}
		return "data", w.Close()
	}()
	if err == nil {
		stage = ""
	}
	if qerr := c.Quit(); qerr != nil {
		t.Errorf("QUIT: %v", qerr)
	}
	return stage, err
}

// wantSMTPError checks an SMTP reply code and enhanced code.
func wantSMTPError(t *testing.T, err error, code int, enhanced smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want SMTP %d", err, code)
	}
	if se.Code != code || se.EnhancedCode != enhanced {
		t.Fatalf("got %d %v %q, want %d %v", se.Code, se.EnhancedCode, se.Message, code, enhanced)
	}
}

func replyTo(id int64) string { return ReplyAddress(inboundSecret, "example.com", id) }

func TestListenerDeliversReply(t *testing.T) {
	srv := startInbound(t, nil, 0)
	raw := readSample(t, "gmail_reply.eml")
	// Mail systems may upper-case the domain; the address still matches.
	rcpt := strings.Replace(replyTo(42), "@example.com", "@Example.COM", 1)
	if stage, err := srv.send(t, "jane.doe@gmail.com", nil, []string{rcpt}, raw); err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	got := srv.inbox.delivered()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	in := got[0]
	if in.ConversationID != 42 {
		t.Errorf("ConversationID = %d, want 42", in.ConversationID)
	}
	if want := "Hi,\n\nThanks! The export works now — one more question: can I schedule it weekly?\n\nJane"; in.Text != want {
		t.Errorf("Text = %q, want %q", in.Text, want)
	}
	if in.From != "jane.doe@gmail.com" || in.MessageID != "CAJ8xQ7Ue1Lr+9mZsV2k3Gd0=hPqWn4eYt5cA@mail.gmail.com" || in.Automatic {
		t.Errorf("From %q MessageID %q Automatic %v", in.From, in.MessageID, in.Automatic)
	}
	if !bytes.Equal(in.Raw, crlf(raw)) {
		t.Errorf("Raw is not the message as received (%d bytes, want %d)", len(in.Raw), len(crlf(raw)))
	}
	if _, ok := srv.inbox.ctxs[0].Deadline(); !ok {
		t.Error("Deliver's context has no deadline")
	}
}

func TestListenerRefusesUnknownRecipients(t *testing.T) {
	srv := startInbound(t, nil, 0)
	good := replyTo(42)
	local, _, _ := strings.Cut(good, "@")
	sig := local[strings.LastIndexByte(local, '-')+1:]
	flipped := []byte(sig)
	if flipped[0] == 'a' {
		flipped[0] = 'b'
	} else {
		flipped[0] = 'a'
	}
	tests := map[string]string{
		"forged signature":       "reply+42-" + string(flipped) + "@example.com",
		"altered conversation":   "reply+43-" + sig + "@example.com",
		"other secret":           ReplyAddress([]byte("someone else's secret"), "example.com", 42),
		"other domain":           ReplyAddress(inboundSecret, "other.example", 42),
		"subdomain":              "reply+42-" + sig + "@mail.example.com",
		"unknown local part":     "sales@example.com",
		"From at another domain": "support@other.example",
		"no signature":           "reply+42@example.com",
	}
	for name, rcpt := range tests {
		t.Run(name, func(t *testing.T) {
			stage, err := srv.send(t, "jane.doe@gmail.com", nil, []string{rcpt}, readSample(t, "gmail_reply.eml"))
			if stage != "rcpt" {
				t.Fatalf("refused at %q (%v), want rcpt", stage, err)
			}
			wantSMTPError(t, err, 550, smtp.EnhancedCode{5, 1, 1})
		})
	}
	if got := srv.inbox.delivered(); len(got) != 0 {
		t.Fatalf("%d mails delivered, want none", len(got))
	}
}

func TestListenerRefusesOversizedMail(t *testing.T) {
	srv := startInbound(t, nil, 32<<10)
	big := append(readSample(t, "gmail_reply.eml"), bytes.Repeat([]byte(strings.Repeat("x", 70)+"\n"), 1000)...)

	// Streamed without SIZE: refused at the end of DATA.
	stage, err := srv.send(t, "jane.doe@gmail.com", nil, []string{replyTo(42)}, big)
	if stage != "data" {
		t.Fatalf("refused at %q (%v), want data", stage, err)
	}
	wantSMTPError(t, err, 552, smtp.EnhancedCode{5, 3, 4})

	// Announced with SIZE: refused at MAIL.
	stage, err = srv.send(t, "jane.doe@gmail.com", &smtp.MailOptions{Size: int64(len(big))}, []string{replyTo(42)}, big)
	if stage != "mail" {
		t.Fatalf("refused at %q (%v), want mail", stage, err)
	}
	wantSMTPError(t, err, 552, smtp.EnhancedCode{5, 3, 4})

	if got := srv.inbox.delivered(); len(got) != 0 {
		t.Fatalf("%d mails delivered, want none", len(got))
	}
}

func TestListenerThreadsMailToFromByReferences(t *testing.T) {
	srv := startInbound(t, nil, 0)
	raw := readSample(t, "outlook_reply.eml") // sent to support@example.com
	if stage, err := srv.send(t, "tom.becker@acme.example", nil, []string{"Support@Example.com"}, raw); err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	got := srv.inbox.delivered()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	if got[0].ConversationID != 0 {
		t.Errorf("ConversationID = %d, want 0", got[0].ConversationID)
	}
	if len(got[0].References) != 4 || got[0].References[0] != "outbox-2020.77@example.com" {
		t.Errorf("References = %q", got[0].References)
	}
	if got[0].Text != "Hello,\n\nThe invoice still shows the old address. Could you correct it?\n\nBest regards\nTom Becker\nAcme GmbH" {
		t.Errorf("Text = %q", got[0].Text)
	}
}

func TestListenerMapsInboxErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     int
		enhanced smtp.EnhancedCode
	}{
		{"no thread by references", apperr.NotFound("mail_ref"), 550, smtp.EnhancedCode{5, 1, 1}},
		{"conversation gone", apperr.NotFound("conversation"), 550, smtp.EnhancedCode{5, 1, 1}},
		{"temporary", errors.New("database is locked"), 451, smtp.EnhancedCode{4, 3, 0}},
		{"typed temporary", apperr.New(apperr.KindUnavailable, "store_unavailable", "try later"), 451, smtp.EnhancedCode{4, 3, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inbox := &recordingInbox{err: tt.err}
			srv := startInbound(t, inbox, 0)
			stage, err := srv.send(t, "tom.becker@acme.example", nil, []string{inboundFrom}, readSample(t, "outlook_reply.eml"))
			if stage != "data" {
				t.Fatalf("refused at %q (%v), want data", stage, err)
			}
			wantSMTPError(t, err, tt.code, tt.enhanced)
			if len(inbox.delivered()) != 1 {
				t.Fatal("the inbox was not asked")
			}
		})
	}
}

func TestListenerRefusesMalformedMail(t *testing.T) {
	srv := startInbound(t, nil, 0)
	stage, err := srv.send(t, "noreply@webform.example", nil, []string{replyTo(42)}, readSample(t, "malformed.eml"))
	if stage != "data" {
		t.Fatalf("refused at %q (%v), want data", stage, err)
	}
	wantSMTPError(t, err, 554, smtp.EnhancedCode{5, 6, 0})
	if got := srv.inbox.delivered(); len(got) != 0 {
		t.Fatalf("%d mails delivered, want none", len(got))
	}
}

func TestListenerBounceIsAutomatic(t *testing.T) {
	srv := startInbound(t, nil, 0)
	// A null sender marks even a mail without robot headers.
	plain := []byte("From: Someone <someone@example.org>\nSubject: hi\nMessage-ID: <plain-1@example.org>\n\nJust text.\n")
	if stage, err := srv.send(t, "", nil, []string{replyTo(7)}, plain); err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	// A real bounce to From threads by the returned message's id.
	if stage, err := srv.send(t, "", nil, []string{inboundFrom}, readSample(t, "bounce.eml")); err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	// The envelope flag does not leak into the next transaction.
	if stage, err := srv.send(t, "someone@example.org", nil, []string{replyTo(7)}, plain); err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	got := srv.inbox.delivered()
	if len(got) != 3 {
		t.Fatalf("%d deliveries, want 3", len(got))
	}
	if !got[0].Automatic || got[0].ConversationID != 7 || got[0].Text != "Just text." {
		t.Errorf("null-sender mail: Automatic %v ConversationID %d Text %q", got[0].Automatic, got[0].ConversationID, got[0].Text)
	}
	if !got[1].Automatic || got[1].ConversationID != 0 || len(got[1].References) != 1 || got[1].References[0] != "outbox-1751.42@example.com" {
		t.Errorf("bounce: Automatic %v ConversationID %d References %q", got[1].Automatic, got[1].ConversationID, got[1].References)
	}
	if got[2].Automatic {
		t.Error("a mail with a sender after a bounce on the same connection is marked Automatic")
	}
}

func TestListenerOneConversationPerTransaction(t *testing.T) {
	srv := startInbound(t, nil, 0)
	raw := readSample(t, "gmail_reply.eml")
	// The same conversation twice, and From besides: one delivery.
	if stage, err := srv.send(t, "jane.doe@gmail.com", nil, []string{replyTo(42), replyTo(42), inboundFrom}, raw); err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	// Another conversation in the same transaction: deferred, so the
	// sending server retries it on its own.
	stage, err := srv.send(t, "jane.doe@gmail.com", nil, []string{replyTo(42), replyTo(43)}, raw)
	if stage != "rcpt" {
		t.Fatalf("refused at %q (%v), want rcpt", stage, err)
	}
	wantSMTPError(t, err, 452, smtp.EnhancedCode{4, 5, 3})
	got := srv.inbox.delivered()
	if len(got) != 1 || got[0].ConversationID != 42 {
		t.Fatalf("deliveries = %d (%+v), want one to 42", len(got), got)
	}
}

func TestListenerConfig(t *testing.T) {
	inbox := &recordingInbox{}
	for name, cfg := range map[string]Config{
		"no secret":       {From: inboundFrom},
		"no From":         {Secret: inboundSecret},
		"From w/o domain": {From: "support", Secret: inboundSecret},
	} {
		if _, err := NewListener(cfg, inbox, nil); err == nil {
			t.Errorf("%s: NewListener succeeded", name)
		}
	}
	if _, err := NewListener(Config{From: inboundFrom, Secret: inboundSecret}, nil, nil); err == nil {
		t.Error("nil inbox: NewListener succeeded")
	}
	l, err := NewListener(Config{From: "Support <Support@Example.com>", Secret: inboundSecret}, inbox, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.domain != "example.com" || l.from != "support@example.com" {
		t.Errorf("domain %q from %q", l.domain, l.from)
	}
	if l.srv.MaxMessageBytes != defaultMaxMessageBytes || l.srv.ReadTimeout != defaultTimeout || l.srv.WriteTimeout != defaultTimeout {
		t.Errorf("defaults: max %d read %v write %v", l.srv.MaxMessageBytes, l.srv.ReadTimeout, l.srv.WriteTimeout)
	}
	if l.Addr() != nil {
		t.Error("Addr before Serve")
	}
	// Shutdown before Serve and a second Close are harmless.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close after Shutdown: %v", err)
	}
}

func TestListenerShutdownWaitsForSession(t *testing.T) {
	inbox := &recordingInbox{}
	l, err := NewListener(Config{From: inboundFrom, Secret: inboundSecret}, inbox, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve(ln) }()

	c, err := smtp.Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("mx.sender.example"); err != nil {
		t.Fatal(err)
	}
	if l.Addr() == nil || l.Addr().String() != ln.Addr().String() {
		t.Errorf("Addr = %v, want %v", l.Addr(), ln.Addr())
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- l.Shutdown(ctx)
	}()
	// Once the listener is closed to new connections...
	for deadline := time.Now().Add(10 * time.Second); ; {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("Shutdown did not close the listener")
		}
		runtime.Gosched()
	}
	// ...the open session still completes its mail.
	if err := c.Mail("jane.doe@gmail.com", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(replyTo(42), nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(readSample(t, "gmail_reply.eml")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if len(inbox.delivered()) != 1 {
		t.Fatal("mail in flight during Shutdown was not delivered")
	}
}
