package email

// Outgoing SMTP. One connection per mail: the outbox sends a few mails in
// parallel, and a fresh connection never inherits a half-broken state.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Sender hands a complete message to a mail server. A nil error means the
// server accepted it (250 after DATA). Errors say with IsPermanent whether
// trying again can help.
type Sender interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

type smtpMode int

const (
	modeStartTLS smtpMode = iota // smtp://: STARTTLS required
	modeTLS                      // smtps://: implicit TLS
	modePlain                    // smtp+insecure://: no TLS at all
)

// defaultSMTPTimeout bounds each network step when no timeout is given.
const defaultSMTPTimeout = 30 * time.Second

type smtpSender struct {
	mode      smtpMode
	addr      string // host:port
	host      string
	user      string
	pass      string
	auth      bool
	timeout   time.Duration
	tlsConfig *tls.Config
	localName string // EHLO name
}

// NewSMTPSender returns a Sender for a Config.SMTP URL:
//
//	smtp://user:pass@host:587      STARTTLS required (default port 587)
//	smtps://user:pass@host:465     implicit TLS (default port 465)
//	smtp+insecure://host:25        no TLS; only for a local relay or tests (default port 25)
//
// With user:pass (percent-encoded in the URL) it authenticates with AUTH
// PLAIN, which it only ever does over TLS unless the scheme is
// smtp+insecure. Certificates are verified against the system roots.
// timeout bounds connecting and each read or write on the connection
// (default 30 s); the caller's context bounds the whole send.
func NewSMTPSender(rawURL string, timeout time.Duration) (Sender, error) {
	return newSMTPSender(rawURL, timeout, nil)
}

// newSMTPSender is NewSMTPSender with a TLS configuration to start from
// (tests pass one trusting their own CA). ServerName is always set to the
// URL's host.
func newSMTPSender(rawURL string, timeout time.Duration, tlsConfig *tls.Config) (*smtpSender, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		// url's error repeats the URL, password included: say less.
		return nil, errors.New("email: the SMTP setting is not a valid URL (smtp://, smtps:// or smtp+insecure://)")
	}
	s := &smtpSender{timeout: timeout}
	if s.timeout <= 0 {
		s.timeout = defaultSMTPTimeout
	}
	var port string
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		s.mode, port = modeStartTLS, "587"
	case "smtps":
		s.mode, port = modeTLS, "465"
	case "smtp+insecure":
		s.mode, port = modePlain, "25"
	default:
		return nil, fmt.Errorf("email: SMTP URL scheme %q is not smtp, smtps or smtp+insecure", u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("email: the SMTP URL takes no path, query or fragment")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("email: the SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		s.auth = s.user != ""
	}
	if tlsConfig != nil {
		s.tlsConfig = tlsConfig.Clone()
	} else {
		s.tlsConfig = &tls.Config{}
	}
	s.tlsConfig.ServerName = s.host
	if s.tlsConfig.MinVersion == 0 {
		s.tlsConfig.MinVersion = tls.VersionTLS12
	}
	s.localName = "localhost"
	if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") && !strings.ContainsAny(h, " \r\n") {
		s.localName = h
	}
	return s, nil
}

// SendError is a failed send and the step it failed at: "connect",
// "hello", "starttls", "auth" (setting up the session), or "mail", "rcpt",
// "data" (the mail itself).
type SendError struct {
	Step string
	Err  error
}

func (e *SendError) Error() string { return "smtp " + e.Step + ": " + e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// setup reports whether the step is about the session rather than the mail.
func (e *SendError) setup() bool {
	switch e.Step {
	case "connect", "hello", "starttls", "auth":
		return true
	}
	return false
}

// errInvalidEnvelope is the cause of sends refused before connecting: they
// can never succeed.
var errInvalidEnvelope = errors.New("invalid envelope")

// IsPermanent reports whether a send failed for good: the server answered
// a 5xx reply about the mail (MAIL, RCPT or DATA: unknown recipient,
// message refused), or the envelope itself is invalid. Retrying cannot
// help, so the outbox gives up at once.
//
// Everything else is temporary: 4xx replies, network errors, timeouts,
// TLS failures, and 5xx replies while setting up the session or about
// authentication or encryption (530, 534, 535, 538): those say our
// configuration is wrong, which an operator fixes, after which the mail
// can still go.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errInvalidEnvelope) {
		return true
	}
	var se *SendError
	if errors.As(err, &se) && se.setup() {
		return false
	}
	var re *smtp.SMTPError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code {
	case 530, 534, 535, 538:
		return false
	}
	return re.Code >= 500 && re.Code <= 599
}

// Send delivers msg to the recipients over a new connection.
func (s *smtpSender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	if len(to) == 0 {
		return &SendError{Step: "mail", Err: fmt.Errorf("%w: no recipient", errInvalidEnvelope)}
	}
	for _, a := range append([]string{from}, to...) {
		if strings.ContainsAny(a, "\r\n<> ") {
			return &SendError{Step: "mail", Err: fmt.Errorf("%w: bad address %q", errInvalidEnvelope, a)}
		}
	}
	if err := ctx.Err(); err != nil {
		return &SendError{Step: "connect", Err: err}
	}
	d := net.Dialer{Timeout: s.timeout}
	raw, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return &SendError{Step: "connect", Err: err}
	}
	defer raw.Close()
	// Cancelling the context aborts whatever step is under way.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	err = s.session(&deadlineConn{Conn: raw, timeout: s.timeout}, from, to, msg)
	if err != nil && ctx.Err() != nil {
		var se *SendError
		step := "connect"
		if errors.As(err, &se) {
			step = se.Step
		}
		return &SendError{Step: step, Err: fmt.Errorf("%w (%v)", ctx.Err(), err)}
	}
	return err
}

func (s *smtpSender) session(conn net.Conn, from string, to []string, msg []byte) error {
	var c *smtp.Client
	switch s.mode {
	case modeTLS:
		tc := tls.Client(conn, s.tlsConfig)
		if err := tc.Handshake(); err != nil {
			return &SendError{Step: "connect", Err: err}
		}
		c = smtp.NewClient(tc)
	case modeStartTLS:
		var err error
		// NewClientStartTLS greets as "localhost", then upgrades; the
		// EHLO after the upgrade (Hello below) uses our name.
		if c, err = smtp.NewClientStartTLS(conn, s.tlsConfig); err != nil {
			return &SendError{Step: "starttls", Err: err}
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = s.timeout, s.timeout
	if err := c.Hello(s.localName); err != nil {
		return &SendError{Step: "hello", Err: err}
	}
	if s.auth {
		if _, isTLS := c.TLSConnectionState(); !isTLS && s.mode != modePlain {
			return &SendError{Step: "auth", Err: errors.New("refusing to authenticate without TLS")}
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return &SendError{Step: "auth", Err: errors.New("the server does not offer AUTH")}
		}
		if err := c.Auth(sasl.NewPlainClient("", s.user, s.pass)); err != nil {
			return &SendError{Step: "auth", Err: err}
		}
	}
	if err := c.Mail(from, nil); err != nil {
		return &SendError{Step: "mail", Err: err}
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return &SendError{Step: "rcpt", Err: err}
		}
	}
	w, err := c.Data()
	if err != nil {
		return &SendError{Step: "data", Err: err}
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return &SendError{Step: "data", Err: err}
	}
	if err := w.Close(); err != nil {
		return &SendError{Step: "data", Err: err}
	}
	_ = c.Quit() // the mail is accepted; a failed goodbye changes nothing
	return nil
}

// deadlineConn gives every read and write its own deadline, so a server
// that stops answering at any step (including in the middle of DATA,
// where go-smtp sets none) fails the send after timeout. The deadlines
// go-smtp and crypto/tls set are ignored in favour of these.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *deadlineConn) SetDeadline(time.Time) error      { return nil }
func (c *deadlineConn) SetReadDeadline(time.Time) error  { return nil }
func (c *deadlineConn) SetWriteDeadline(time.Time) error { return nil }
