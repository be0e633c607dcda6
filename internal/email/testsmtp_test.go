package email

// A real SMTP server (go-smtp's server package) on 127.0.0.1 for tests: it
// records envelopes and raw data, can refuse the next mails with a given
// reply, can be stopped (listener and connections closed) and started
// again on the same address, and speaks STARTTLS or implicit TLS with a
// self-signed certificate made here.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

type testTLSMode int

const (
	tlsNone     testTLSMode = iota // plain only (smtp+insecure://)
	tlsStartTLS                    // offers STARTTLS (smtp://)
	tlsImplicit                    // TLS from the first byte (smtps://)
)

type testSMTPOptions struct {
	TLS        testTLSMode
	User, Pass string // non-empty: AUTH PLAIN required before MAIL
}

// receivedMail is one mail the test server accepted.
type receivedMail struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	User string
}

type testSMTP struct {
	t    testing.TB
	opts testSMTPOptions
	addr string

	mu       sync.Mutex
	srv      *smtp.Server
	ln       net.Listener
	done     chan struct{} // closed when srv's Serve returns
	mails    []receivedMail
	attempts int // DATA commands seen, accepted or not
	failStep string
	failCode int
	failN    int
	notify   chan struct{} // capacity 1: something was received
}

var (
	testCertOnce sync.Once
	testCert     tls.Certificate
	testCAPool   *x509.CertPool
)

// testCertificate returns a self-signed certificate for 127.0.0.1 and
// localhost, and a pool that trusts it.
func testCertificate(t testing.TB) (tls.Certificate, *x509.CertPool) {
	testCertOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "switchboard test SMTP"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:              []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		testCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}
		testCAPool = x509.NewCertPool()
		testCAPool.AddCert(cert)
	})
	return testCert, testCAPool
}

// clientTLS is the TLS configuration a sender needs to trust the test server.
func clientTLS(t testing.TB) *tls.Config {
	_, pool := testCertificate(t)
	return &tls.Config{RootCAs: pool}
}

// newTestSMTP starts a server on 127.0.0.1:0; it stops at the end of the test.
func newTestSMTP(t testing.TB, opts testSMTPOptions) *testSMTP {
	t.Helper()
	s := &testSMTP{t: t, opts: opts, addr: "127.0.0.1:0", notify: make(chan struct{}, 1)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start (re)starts the server on its address.
func (s *testSMTP) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	for range 50 { // the port of a just-closed listener is normally free at once
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("test SMTP: listen %s: %v", s.addr, err)
	}
	s.addr = ln.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{srv: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 32 << 20
	srv.MaxRecipients = 50
	srv.AllowInsecureAuth = s.opts.TLS == tlsNone
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if s.opts.TLS != tlsNone {
		cert, _ := testCertificate(s.t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		if s.opts.TLS == tlsImplicit {
			ln = tls.NewListener(ln, srv.TLSConfig)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	s.srv, s.ln, s.done = srv, ln, done
}

// stop closes the listener and every connection: the server is down.
func (s *testSMTP) stop() {
	s.mu.Lock()
	srv, ln, done := s.srv, s.ln, s.done
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv != nil {
		srv.Close() // the connections (and the listener if Serve has registered it)
		ln.Close()  // in case Serve has not started yet
		<-done
	}
}

// url is the sender URL for this server.
func (s *testSMTP) url() string {
	scheme := map[testTLSMode]string{tlsNone: "smtp+insecure", tlsStartTLS: "smtp", tlsImplicit: "smtps"}[s.opts.TLS]
	user := ""
	if s.opts.User != "" {
		user = s.opts.User + ":" + s.opts.Pass + "@"
	}
	return scheme + "://" + user + s.addr
}

// sender returns a Sender for this server that trusts its certificate.
func (s *testSMTP) sender(t testing.TB, timeout time.Duration) Sender {
	t.Helper()
	snd, err := newSMTPSender(s.url(), timeout, clientTLS(t))
	if err != nil {
		t.Fatalf("newSMTPSender: %v", err)
	}
	return snd
}

// failNext makes the next n mails fail with code at step ("rcpt" or
// "data": after the whole message was read).
func (s *testSMTP) failNext(step string, code, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStep, s.failCode, s.failN = step, code, n
}

// takeFailure reports the reply to give at step, if one is due.
func (s *testSMTP) takeFailure(step string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN == 0 || s.failStep != step {
		return nil
	}
	s.failN--
	ec := smtp.EnhancedCode{s.failCode / 100, 0, 0}
	return &smtp.SMTPError{Code: s.failCode, EnhancedCode: ec, Message: fmt.Sprintf("test failure %d", s.failCode)}
}

// received returns a copy of the mails accepted so far.
func (s *testSMTP) received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.mails...)
}

// dataAttempts is how many messages were transmitted, accepted or not.
func (s *testSMTP) dataAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// waitFor waits until at least n mails were accepted and returns them.
func (s *testSMTP) waitFor(t testing.TB, n int, timeout time.Duration) []receivedMail {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if got := s.received(); len(got) >= n {
			return got
		}
		select {
		case <-s.notify:
		case <-deadline.C:
			t.Fatalf("test SMTP: %d mails accepted after %v, want %d", len(s.received()), timeout, n)
		}
	}
}

type testSession struct {
	srv  *testSMTP
	conn *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*testSession)(nil)

func (s *testSession) AuthMechanisms() []string {
	if s.srv.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || s.srv.opts.User == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.srv.opts.User || password != s.srv.opts.Pass {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.opts.User != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.srv.takeFailure("rcpt"); err != nil {
		return err
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	s.srv.attempts++
	s.srv.mu.Unlock()
	if err := s.srv.takeFailure("data"); err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, receivedMail{From: s.from, To: append([]string(nil), s.to...), Data: data, TLS: isTLS, User: s.user})
	s.srv.mu.Unlock()
	select {
	case s.srv.notify <- struct{}{}:
	default:
	}
	return nil
}

func (s *testSession) Reset()        { s.from, s.to = "", nil }
func (s *testSession) Logout() error { return nil }

// silentListener accepts connections and never says a word: a server that
// hangs. It closes at the end of the test.
func silentListener(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
