package email

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"switchboard/internal/apperr"
)

// Inbound SMTP defaults.
const (
	defaultMaxMessageBytes = 25 << 20
	defaultTimeout         = 30 * time.Second
	maxRecipients          = 10
	// RFC 5321 allows 1000 octets a line, but real mailers (HTML in 8bit,
	// long base64 lines) exceed it; refusing them loses replies for no gain.
	maxLineLength = 64 << 10
)

// SMTP replies of the listener.
var (
	errNoSuchUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errNoThread   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such conversation"}
	errMalformedS = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Malformed message"}
	errTempFail   = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
	errOneThread  = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "One conversation per message, send the rest separately"}
)

// Listener receives replies by SMTP: an MX-style receiver (no AUTH, no
// relaying) that accepts mail only for the signed reply addresses of
// Config.From's domain and for Config.From itself, parses it, and hands it
// to the Inbox. Refusals happen during the SMTP dialogue (at RCPT, or at
// the end of DATA), so the sending server, not us, tells the sender; nothing
// is ever bounced by us.
type Listener struct {
	inbox   Inbox
	log     *slog.Logger
	secret  []byte
	domain  string // lower-cased domain of cfg.From
	from    string // lower-cased cfg.From address
	timeout time.Duration
	srv     *smtp.Server

	ctx    context.Context // cancelled by Close/Shutdown: aborts deliveries
	cancel context.CancelFunc

	mu sync.Mutex
	ln net.Listener
}

// NewListener returns a listener for cfg. cfg.From and cfg.Secret are
// required: without them no reply address can be checked.
func NewListener(cfg Config, inbox Inbox, log *slog.Logger) (*Listener, error) {
	if inbox == nil {
		return nil, errors.New("email: listener needs an inbox")
	}
	if len(cfg.Secret) == 0 {
		return nil, errors.New("email: listener needs Config.Secret")
	}
	from := envelopeAddress(cfg.From)
	domain := Domain(from)
	if domain == "" || !strings.Contains(from, "@") {
		return nil, fmt.Errorf("email: listener needs Config.From with a domain, got %q", cfg.From)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxBytes := cfg.MaxMessageBytes
	if maxBytes <= 0 {
		maxBytes = defaultMaxMessageBytes
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	l := &Listener{
		inbox:   inbox,
		log:     log.With("component", "email.inbound"),
		secret:  append([]byte(nil), cfg.Secret...),
		domain:  domain,
		from:    strings.ToLower(from),
		timeout: timeout,
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())

	srv := smtp.NewServer(smtp.BackendFunc(l.newSession))
	srv.Domain = domain
	srv.MaxMessageBytes = maxBytes
	srv.MaxRecipients = maxRecipients
	srv.MaxLineLength = maxLineLength
	srv.ReadTimeout = timeout
	srv.WriteTimeout = timeout
	srv.ErrorLog = slogPrinter{l.log}
	l.srv = srv
	return l, nil
}

// envelopeAddress returns the address of "Name <addr>" or addr.
func envelopeAddress(s string) string {
	s = strings.TrimSpace(s)
	if i, j := strings.LastIndexByte(s, '<'), strings.LastIndexByte(s, '>'); i >= 0 && j > i {
		s = s[i+1 : j]
	}
	return strings.TrimSpace(s)
}

// ListenAndServe listens on addr (Config.Listen) and serves until Close.
func (l *Listener) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Serve(ln)
}

// Serve accepts SMTP connections on ln until Close or Shutdown, then
// returns nil; any other accept failure is returned.
func (l *Listener) Serve(ln net.Listener) error {
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	l.log.Info("inbound smtp listening", "addr", ln.Addr().String(), "domain", l.domain)
	err := l.srv.Serve(ln)
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Addr is the address Serve listens on, nil before Serve.
func (l *Listener) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return nil
	}
	return l.ln.Addr()
}

// Close stops listening and drops open connections at once; a mail in
// the middle of DATA gets no 250 and its sender retries.
func (l *Listener) Close() error {
	l.cancel()
	err := l.srv.Close()
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops listening and waits for open SMTP conversations to end,
// at most until ctx is done; then it closes what is left.
func (l *Listener) Shutdown(ctx context.Context) error {
	err := l.srv.Shutdown(ctx)
	l.cancel()
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	if ctx.Err() != nil {
		_ = l.srv.Close()
	}
	return err
}

func (l *Listener) newSession(c *smtp.Conn) (smtp.Session, error) {
	remote := ""
	if c != nil && c.Conn() != nil {
		if host, _, err := net.SplitHostPort(c.Conn().RemoteAddr().String()); err == nil {
			remote = host
		}
	}
	return &inboundSession{l: l, remote: remote}, nil
}

// inboundSession is one SMTP connection's state for the current transaction.
type inboundSession struct {
	l      *Listener
	remote string

	nullSender bool  // MAIL FROM:<>: a bounce
	convID     int64 // from a signed reply address; 0 when none
	toFrom     bool  // addressed to Config.From: thread by References
}

func (s *inboundSession) Reset() {
	s.nullSender, s.convID, s.toFrom = false, 0, false
}

func (s *inboundSession) Logout() error { return nil }

func (s *inboundSession) Mail(from string, _ *smtp.MailOptions) error {
	s.Reset()
	s.nullSender = strings.TrimSpace(from) == ""
	return nil
}

func (s *inboundSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if id, ok := ParseReplyAddress(s.l.secret, s.l.domain, to); ok {
		if s.convID != 0 && s.convID != id {
			// Each transaction goes to one conversation; the sending
			// server retries the other recipient in a new one.
			return errOneThread
		}
		s.convID = id
		return nil
	}
	if strings.EqualFold(strings.TrimSpace(to), s.l.from) {
		s.toFrom = true
		return nil
	}
	s.l.log.Info("inbound smtp: recipient refused", "remote", s.remote, "rcpt_domain", Domain(to))
	return errNoSuchUser
}

func (s *inboundSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			// go-smtp's own limits (552 for an oversized message):
			// returned as is, so the client sees the right code.
			s.l.log.Info("inbound smtp: message refused", "remote", s.remote, "code", se.Code)
			return se
		}
		return err
	}
	in, err := Parse(raw)
	if err != nil {
		// The cause may quote a header line (addresses): debug only.
		s.l.log.Info("inbound smtp: malformed message", "remote", s.remote, "size", len(raw), "reason", apperr.As(err).Message)
		s.l.log.Debug("inbound smtp: malformed message detail", "remote", s.remote, "err", err)
		if apperr.CodeOf(err) == "malformed_mail" {
			return errMalformedS
		}
		return errTempFail
	}
	in.ConversationID = s.convID
	in.Raw = raw
	if s.nullSender {
		in.Automatic = true
	}

	ctx, cancel := context.WithTimeout(s.l.ctx, s.l.timeout)
	defer cancel()
	err = s.l.inbox.Deliver(ctx, in)
	attrs := []any{
		"remote", s.remote, "conversation", in.ConversationID, "size", len(raw),
		"attachments", len(in.Attachments), "automatic", in.Automatic, "sender_domain", Domain(in.From),
	}
	switch code := apperr.CodeOf(err); code {
	case "":
		s.l.log.Info("inbound mail delivered", attrs...)
		return nil
	case "mail_ref_not_found", "conversation_not_found":
		s.l.log.Info("inbound mail refused: no such conversation", append(attrs, "code", code)...)
		return errNoThread
	case "malformed_mail":
		s.l.log.Info("inbound mail refused: malformed", attrs...)
		return errMalformedS
	default:
		s.l.log.Warn("inbound mail deferred", append(attrs, "err", err)...)
		return errTempFail
	}
}

// slogPrinter lets go-smtp report its internal errors through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) {
	p.log.Warn("inbound smtp: " + strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("inbound smtp: " + strings.TrimSpace(fmt.Sprintln(v...)))
}
