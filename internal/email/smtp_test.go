package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func TestNewSMTPSenderURLs(t *testing.T) {
	good := []struct {
		url  string
		mode smtpMode
		addr string
		user string
		pass string
	}{
		{"smtp://user:p%40ss@mail.example.com", modeStartTLS, "mail.example.com:587", "user", "p@ss"},
		{"smtp://mail.example.com:2525", modeStartTLS, "mail.example.com:2525", "", ""},
		{"smtps://u:p@mail.example.com", modeTLS, "mail.example.com:465", "u", "p"},
		{"SMTPS://mail.example.com:4650/", modeTLS, "mail.example.com:4650", "", ""},
		{"smtp+insecure://localhost", modePlain, "localhost:25", "", ""},
		{"smtp+insecure://a:b@[::1]:1025", modePlain, "[::1]:1025", "a", "b"},
	}
	for _, c := range good {
		s, err := newSMTPSender(c.url, 0, nil)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if s.mode != c.mode || s.addr != c.addr || s.user != c.user || s.pass != c.pass || s.auth != (c.user != "") {
			t.Errorf("%s: got mode %v addr %q user %q pass %q", c.url, s.mode, s.addr, s.user, s.pass)
		}
		if s.timeout != defaultSMTPTimeout || s.tlsConfig.ServerName != strings.Trim(strings.Split(c.addr, "]")[0], "[") && s.tlsConfig.ServerName != strings.Split(c.addr, ":")[0] {
			t.Errorf("%s: timeout %v, server name %q", c.url, s.timeout, s.tlsConfig.ServerName)
		}
		if s.tlsConfig.InsecureSkipVerify {
			t.Errorf("%s: certificate verification off", c.url)
		}
	}
	for _, bad := range []string{
		"", "mail.example.com:25", "http://mail.example.com", "smtp://", "smtp:///x",
		"smtp://mail.example.com/path", "smtp://mail.example.com?x=1", "smtp://user:secret@mail.example.com:%zz",
	} {
		if _, err := NewSMTPSender(bad, time.Second); err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error reveals the password: %v", bad, err)
		}
	}
}

func testMessage(t *testing.T, to string) []byte {
	t.Helper()
	raw, err := Build(Outgoing{From: "support@example.com", To: to, Subject: "Hello ☕",
		Text: "Hi!\n.\n..leading dots survive\n", Date: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSMTPSenderModes(t *testing.T) {
	for _, c := range []struct {
		name string
		opts testSMTPOptions
	}{
		{"plain", testSMTPOptions{TLS: tlsNone}},
		{"plain auth", testSMTPOptions{TLS: tlsNone, User: "relay", Pass: "pw"}},
		{"starttls", testSMTPOptions{TLS: tlsStartTLS}},
		{"starttls auth", testSMTPOptions{TLS: tlsStartTLS, User: "me@example.com", Pass: "p@ss:word"}},
		{"implicit tls auth", testSMTPOptions{TLS: tlsImplicit, User: "me", Pass: "pw"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newTestSMTP(t, c.opts)
			u := srv.url()
			if c.opts.User != "" { // the password needs escaping in a URL
				u = strings.Replace(u, ":"+c.opts.Pass+"@", ":"+strings.NewReplacer("@", "%40", ":", "%3A").Replace(c.opts.Pass)+"@", 1)
				u = strings.Replace(u, c.opts.User+":", strings.ReplaceAll(c.opts.User, "@", "%40")+":", 1)
			}
			snd, err := newSMTPSender(u, 5*time.Second, clientTLS(t))
			if err != nil {
				t.Fatal(err)
			}
			msg := testMessage(t, "jane@example.org")
			if err := snd.Send(context.Background(), "bounces@example.com", []string{"jane@example.org", "cc@example.net"}, msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.waitFor(t, 1, 5*time.Second)[0]
			if got.From != "bounces@example.com" || strings.Join(got.To, ",") != "jane@example.org,cc@example.net" {
				t.Errorf("envelope %q → %v", got.From, got.To)
			}
			if !bytes.Equal(got.Data, msg) {
				t.Errorf("data differs:\n%q\nwant\n%q", got.Data, msg)
			}
			if got.TLS != (c.opts.TLS != tlsNone) {
				t.Errorf("TLS = %v", got.TLS)
			}
			if got.User != c.opts.User {
				t.Errorf("authenticated as %q, want %q", got.User, c.opts.User)
			}
		})
	}
}

func TestSMTPSenderRequiresTLS(t *testing.T) {
	// smtp:// against a server without STARTTLS: refused, credentials never sent.
	srv := newTestSMTP(t, testSMTPOptions{TLS: tlsNone, User: "u", Pass: "p"})
	snd, err := newSMTPSender("smtp://u:p@"+srv.addr, 5*time.Second, clientTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	err = snd.Send(context.Background(), "a@example.com", []string{"b@example.com"}, testMessage(t, "b@example.com"))
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") || IsPermanent(err) {
		t.Fatalf("Send = %v; want a temporary STARTTLS error", err)
	}
	if len(srv.received()) != 0 {
		t.Fatal("mail sent in the clear")
	}

	// The production constructor verifies certificates: a self-signed one fails.
	tlsSrv := newTestSMTP(t, testSMTPOptions{TLS: tlsStartTLS})
	prod, err := NewSMTPSender("smtp://"+tlsSrv.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	err = prod.Send(context.Background(), "a@example.com", []string{"b@example.com"}, testMessage(t, "b@example.com"))
	if err == nil || IsPermanent(err) {
		t.Fatalf("Send to an untrusted certificate = %v; want a temporary error", err)
	}
	if len(tlsSrv.received()) != 0 {
		t.Fatal("mail sent to an unverified server")
	}
}

func TestSMTPSenderErrors(t *testing.T) {
	srv := newTestSMTP(t, testSMTPOptions{TLS: tlsStartTLS, User: "u", Pass: "p"})
	snd := srv.sender(t, 5*time.Second)
	msg := testMessage(t, "b@example.com")
	send := func() error {
		return snd.Send(context.Background(), "a@example.com", []string{"b@example.com"}, msg)
	}
	for _, c := range []struct {
		step      string
		code      int
		permanent bool
	}{
		{"rcpt", 550, true},
		{"rcpt", 451, false},
		{"data", 552, true},
		{"data", 451, false},
		{"data", 421, false},
	} {
		srv.failNext(c.step, c.code, 1)
		err := send()
		var re *smtp.SMTPError
		if !errors.As(err, &re) || re.Code != c.code {
			t.Errorf("%s %d: Send = %v", c.step, c.code, err)
			continue
		}
		if IsPermanent(err) != c.permanent {
			t.Errorf("%s %d: IsPermanent = %v", c.step, c.code, !c.permanent)
		}
	}
	if n := len(srv.received()); n != 0 {
		t.Fatalf("%d refused mails recorded", n)
	}
	if err := send(); err != nil {
		t.Fatalf("after the failures: %v", err)
	}

	// Wrong password: a 535, but about our configuration: temporary.
	bad, err := newSMTPSender("smtp://u:wrong@"+srv.addr, 5*time.Second, clientTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Send(context.Background(), "a@example.com", []string{"b@example.com"}, msg)
	var re *smtp.SMTPError
	if !errors.As(err, &re) || re.Code != 535 || IsPermanent(err) {
		t.Fatalf("bad password: %v (permanent %v)", err, IsPermanent(err))
	}

	// An envelope that can never go is refused before connecting.
	for _, to := range [][]string{nil, {"b@example.com\r\nRCPT TO:<c@example.com>"}} {
		if err := snd.Send(context.Background(), "a@example.com", to, msg); !IsPermanent(err) {
			t.Errorf("envelope to %q: %v, want a permanent error", to, err)
		}
	}
}

func TestSMTPSenderServerDown(t *testing.T) {
	srv := newTestSMTP(t, testSMTPOptions{})
	snd := srv.sender(t, 5*time.Second)
	srv.stop()
	err := snd.Send(context.Background(), "a@example.com", []string{"b@example.com"}, testMessage(t, "b@example.com"))
	var se *SendError
	if err == nil || !errors.As(err, &se) || se.Step != "connect" || IsPermanent(err) {
		t.Fatalf("Send to a closed port = %v", err)
	}
	srv.start()
	if err := snd.Send(context.Background(), "a@example.com", []string{"b@example.com"}, testMessage(t, "b@example.com")); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestSMTPSenderTimeouts(t *testing.T) {
	addr := silentListener(t)
	snd, err := newSMTPSender("smtp+insecure://"+addr, 200*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = snd.Send(context.Background(), "a@example.com", []string{"b@example.com"}, []byte("x\r\n"))
	var ne net.Error
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() || IsPermanent(err) {
		t.Fatalf("Send to a silent server = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}

	// The context bounds the whole send, whatever the step timeout.
	slow, err := newSMTPSender("smtp+insecure://"+addr, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- slow.Send(ctx, "a@example.com", []string{"b@example.com"}, []byte("x\r\n")) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || IsPermanent(err) {
			t.Fatalf("cancelled Send = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send ignored its context")
	}
}

func TestIsPermanent(t *testing.T) {
	for err, want := range map[error]bool{
		nil:                            false,
		&smtp.SMTPError{Code: 550}:     true,
		&smtp.SMTPError{Code: 554}:     true,
		&smtp.SMTPError{Code: 451}:     false,
		&smtp.SMTPError{Code: 421}:     false,
		&smtp.SMTPError{Code: 535}:     false,
		&smtp.SMTPError{Code: 530}:     false,
		errors.New("connection reset"): false,
		context.DeadlineExceeded:       false,
		fmt.Errorf("wrapped: %w", &smtp.SMTPError{Code: 553}):                                  true,
		&SendError{Step: "hello", Err: &smtp.SMTPError{Code: 554}}:                             false,
		&SendError{Step: "rcpt", Err: &smtp.SMTPError{Code: 550}}:                              true,
		&SendError{Step: "connect", Err: &net.OpError{Op: "dial", Err: errors.New("refused")}}: false,
	} {
		if got := IsPermanent(err); got != want {
			t.Errorf("IsPermanent(%v) = %v, want %v", err, got, want)
		}
	}
}
