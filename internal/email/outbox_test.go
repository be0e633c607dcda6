package email

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"switchboard/internal/clock"
	"switchboard/internal/model"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlstore"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// t0 is where fake clocks start (microseconds, as the store keeps them).
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const waitLong = 20 * time.Second // bounds waits for things that happen at once

func openStore(t testing.TB) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "switchboard.db"), sqlstore.Options{Logger: quietLog})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

type attemptResult struct {
	node string
	mail model.OutboxMail
	err  error
}

type claimResult struct {
	node string
	now  time.Time
	n    int
}

// harness is a SQLite store with one conversation, a fake clock and a test
// SMTP server; outboxes made with newOutbox report every claim and attempt.
type harness struct {
	t        testing.TB
	st       *sqlstore.Store
	clk      *clock.Fake
	srv      *testSMTP
	site     model.Site
	contact  model.Contact
	conv     model.Conversation
	attempts chan attemptResult
	claims   chan claimResult
	seq      atomic.Int64
}

func newHarness(t testing.TB, srvOpts testSMTPOptions) *harness {
	t.Helper()
	h := &harness{t: t, st: openStore(t), clk: clock.NewFake(t0), srv: newTestSMTP(t, srvOpts),
		attempts: make(chan attemptResult, 1<<16), claims: make(chan claimResult, 1<<16)}
	ctx := context.Background()
	err := h.st.InTx(ctx, func(tx store.Tx) error {
		h.site = model.Site{Key: "site-key", Name: "Acme", WidgetMode: model.ModeLive, CreatedAt: t0}
		if err := tx.CreateSite(ctx, &h.site); err != nil {
			return err
		}
		h.contact = model.Contact{SiteID: h.site.ID, Name: "Jane Doe", Email: "jane@example.org", CreatedAt: t0}
		if err := tx.CreateContact(ctx, &h.contact); err != nil {
			return err
		}
		h.conv = model.Conversation{SiteID: h.site.ID, ContactID: h.contact.ID, Channel: "widget",
			Status: model.StatusOpen, Priority: model.PriorityNormal, CreatedAt: t0, UpdatedAt: t0}
		return tx.CreateConversation(ctx, &h.conv)
	})
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return h
}

// newOutbox returns an outbox on the harness's store, clock and server,
// stopped at the end of the test.
func (h *harness) newOutbox(node string, s Sender, opts OutboxOptions) *Outbox {
	if s == nil {
		s = h.srv.sender(h.t, 5*time.Second)
	}
	o := NewOutbox(h.st, s, h.clk, quietLog, node, opts)
	o.afterAttempt = func(m model.OutboxMail, err error) {
		select {
		case h.attempts <- attemptResult{node, m, err}:
		default:
			panic("attempts channel full")
		}
	}
	o.afterClaim = func(now time.Time, n int) {
		select {
		case h.claims <- claimResult{node, now, n}:
		default:
			panic("claims channel full")
		}
	}
	h.t.Cleanup(o.Stop)
	return o
}

// enqueue queues n transcript mails to the conversation's customer.
func (h *harness) enqueue(n int) []model.OutboxMail {
	h.t.Helper()
	msgs := sampleTimeline(t0, 6)
	subject, text, html := Transcript(h.site, h.contact, msgs)
	out := make([]model.OutboxMail, 0, n)
	ctx := context.Background()
	for len(out) < n {
		batch := min(n-len(out), 200)
		err := h.st.InTx(ctx, func(tx store.Tx) error {
			for range batch {
				i := h.seq.Add(1)
				o := Outgoing{FromName: "Acme", From: "support@example.com", To: fmt.Sprintf("jane+%d@example.org", i),
					ReplyTo: ReplyAddress(testSecret, "example.com", h.conv.ID), Subject: subject,
					MessageID: NewMessageID("example.com"), InReplyTo: fmt.Sprintf("conversation-%d@example.com", h.conv.ID),
					Text: text, HTML: html, AutoSubmitted: true, Date: h.clk.Now()}
				raw, err := Build(o)
				if err != nil {
					return err
				}
				m := model.OutboxMail{ConversationID: h.conv.ID, Kind: "transcript", DedupeKey: fmt.Sprintf("transcript:%d", i),
					From: "bounces@example.com", To: o.To, MessageID: o.MessageID, Body: raw,
					NextAttemptAt: h.clk.Now(), CreatedAt: h.clk.Now()}
				if err := tx.EnqueueMail(ctx, &m); err != nil {
					return err
				}
				out = append(out, m)
			}
			return nil
		})
		if err != nil {
			h.t.Fatalf("enqueue: %v", err)
		}
	}
	return out
}

func sampleTimeline(at time.Time, n int) []model.Message {
	var msgs []model.Message
	for i := range n {
		m := model.Message{Seq: int64(i + 1), Kind: model.KindText, Visibility: model.Public, CreatedAt: at.Add(time.Duration(i) * time.Minute)}
		switch i % 3 {
		case 0:
			m.AuthorKind, m.Body = model.PartyVisitor, fmt.Sprintf("Question %d: where is my order? <b>urgent</b> — ça presse", i)
		case 1:
			m.AuthorKind, m.AuthorName, m.Body = model.PartyAgent, "Alice", fmt.Sprintf("Answer %d: it ships tomorrow.\nAnything else?", i)
		default:
			m.AuthorKind, m.Kind, m.Visibility, m.Body = model.PartyAgent, model.KindNote, model.Internal, "internal note"
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// attempt waits for the next recorded attempt.
func (h *harness) attempt() attemptResult {
	h.t.Helper()
	select {
	case a := <-h.attempts:
		return a
	case <-time.After(waitLong):
		h.t.Fatal("no attempt was recorded")
		return attemptResult{}
	}
}

// claimedNothingAt waits until a claim at or after at found nothing due.
func (h *harness) claimedNothingAt(at time.Time) {
	h.t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case c := <-h.claims:
			if c.n == 0 && !c.now.Before(at) {
				return
			}
		case <-deadline:
			h.t.Fatalf("no empty claim at or after %v", at)
		}
	}
}

func (h *harness) mails() []model.OutboxMail {
	h.t.Helper()
	ms, err := h.st.ListMail(context.Background(), h.conv.ID)
	if err != nil {
		h.t.Fatalf("ListMail: %v", err)
	}
	return ms
}

func (h *harness) onlyMail() model.OutboxMail {
	h.t.Helper()
	ms := h.mails()
	if len(ms) != 1 {
		h.t.Fatalf("%d mails in the store, want 1", len(ms))
	}
	return ms[0]
}

func TestOutboxDeliversOnceWithHeaders(t *testing.T) {
	h := newHarness(t, testSMTPOptions{TLS: tlsStartTLS, User: "relay", Pass: "pw"})
	queued := h.enqueue(3)
	o := h.newOutbox("node-a", nil, OutboxOptions{})
	o.Start()
	got := h.srv.waitFor(t, 3, waitLong)
	for range 3 {
		if a := h.attempt(); a.err != nil {
			t.Fatalf("attempt: %v", a.err)
		}
	}
	byID := map[string]model.OutboxMail{}
	for _, m := range queued {
		byID[m.MessageID] = m
	}
	seen := map[string]int{}
	for _, r := range got {
		mr, err := gomail.CreateReader(bytes.NewReader(r.Data))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := mr.Header.MessageID()
		seen[id]++
		q, ok := byID[id]
		if !ok {
			t.Fatalf("unknown Message-Id %q", id)
		}
		if r.From != q.From || len(r.To) != 1 || r.To[0] != q.To || !bytes.Equal(r.Data, q.Body) || !r.TLS || r.User != "relay" {
			t.Errorf("mail %s: envelope %q → %v, tls %v, user %q, same body %v", id, r.From, r.To, r.TLS, r.User, bytes.Equal(r.Data, q.Body))
		}
		subj, _ := mr.Header.Subject()
		rt, _ := mr.Header.AddressList("Reply-To")
		if !strings.Contains(subj, "Acme") || len(rt) != 1 || mr.Header.Get("Auto-Submitted") != "auto-generated" {
			t.Errorf("mail %s: subject %q, reply-to %v", id, subj, rt)
		}
		if conv, ok := ParseReplyAddress(testSecret, "example.com", rt[0].Address); !ok || conv != h.conv.ID {
			t.Errorf("Reply-To %q does not lead back to conversation %d", rt[0].Address, h.conv.ID)
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s received %d times", id, n)
		}
	}
	for _, m := range h.mails() {
		if m.State != model.MailSent || !m.SentAt.Equal(t0) || m.LeaseBy != "" || m.Attempts != 0 {
			t.Errorf("mail %d: state %s, sent at %v, lease %q, attempts %d", m.ID, m.State, m.SentAt, m.LeaseBy, m.Attempts)
		}
	}
	// Long after, with the backstop polling, nothing is sent again.
	h.clk.Advance(10 * time.Minute)
	h.claimedNothingAt(t0.Add(10 * time.Minute))
	if n := h.srv.dataAttempts(); n != 3 {
		t.Fatalf("%d transmissions, want 3", n)
	}
	if s := o.Stats(); s != (OutboxStats{Sent: 3}) {
		t.Fatalf("stats %+v", s)
	}
}

func TestOutboxServerDownThenBack(t *testing.T) {
	h := newHarness(t, testSMTPOptions{})
	h.srv.stop() // listener closed: connection refused
	h.enqueue(1)
	o := h.newOutbox("node-a", nil, OutboxOptions{})
	o.Start()
	a := h.attempt()
	if a.err == nil || IsPermanent(a.err) {
		t.Fatalf("attempt with the server down: %v", a.err)
	}
	m := h.onlyMail()
	if m.State != model.MailPending || m.Attempts != 1 || !m.NextAttemptAt.Equal(t0.Add(time.Minute)) || m.LastError == "" {
		t.Fatalf("after a failed attempt: %+v", m)
	}

	h.srv.start()
	h.clk.Advance(time.Minute) // the retry timer
	if a := h.attempt(); a.err != nil {
		t.Fatalf("retry: %v", a.err)
	}
	h.srv.waitFor(t, 1, waitLong)
	if m := h.onlyMail(); m.State != model.MailSent || !m.SentAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after the retry: %+v", m)
	}
	h.clk.Advance(time.Hour)
	h.claimedNothingAt(t0.Add(time.Hour + time.Minute))
	if got := h.srv.received(); len(got) != 1 {
		t.Fatalf("%d mails received, want 1", len(got))
	}
	if s := o.Stats(); s != (OutboxStats{Sent: 1, Retried: 1}) {
		t.Fatalf("stats %+v", s)
	}
}

func TestOutboxRetries451OnSchedule(t *testing.T) {
	h := newHarness(t, testSMTPOptions{})
	h.srv.failNext("data", 451, 2)
	h.enqueue(1)
	o := h.newOutbox("node-a", nil, OutboxOptions{})
	o.Start()

	if a := h.attempt(); a.err == nil || !strings.Contains(a.err.Error(), "451") || IsPermanent(a.err) {
		t.Fatalf("first attempt: %v", a.err)
	}
	if m := h.onlyMail(); m.Attempts != 1 || !m.NextAttemptAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after 1 failure: attempts %d, next %v", m.Attempts, m.NextAttemptAt)
	}
	// Not before it is due.
	h.clk.Advance(59 * time.Second)
	h.claimedNothingAt(t0.Add(30 * time.Second))
	if n := h.srv.dataAttempts(); n != 1 {
		t.Fatalf("%d transmissions before the retry was due", n)
	}
	h.clk.Advance(time.Second) // t0+1m: second attempt, 451 again
	if a := h.attempt(); a.err == nil || IsPermanent(a.err) {
		t.Fatalf("second attempt: %v", a.err)
	}
	if m := h.onlyMail(); m.Attempts != 2 || !m.NextAttemptAt.Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("after 2 failures: attempts %d, next %v (want +5m)", m.Attempts, m.NextAttemptAt)
	}
	h.clk.Advance(4 * time.Minute)
	h.claimedNothingAt(t0.Add(5 * time.Minute))
	h.clk.Advance(time.Minute) // t0+6m: third attempt succeeds
	if a := h.attempt(); a.err != nil {
		t.Fatalf("third attempt: %v", a.err)
	}
	h.srv.waitFor(t, 1, waitLong)
	if m := h.onlyMail(); m.State != model.MailSent || m.Attempts != 2 || !m.SentAt.Equal(t0.Add(6*time.Minute)) {
		t.Fatalf("finally: %+v", m)
	}
	if n, got := h.srv.dataAttempts(), len(h.srv.received()); n != 3 || got != 1 {
		t.Fatalf("%d transmissions, %d accepted; want 3, 1", n, got)
	}
	if s := o.Stats(); s != (OutboxStats{Sent: 1, Retried: 2}) {
		t.Fatalf("stats %+v", s)
	}
}

func TestOutbox550FailsAtOnce(t *testing.T) {
	h := newHarness(t, testSMTPOptions{})
	h.srv.failNext("rcpt", 550, 1)
	h.enqueue(1)
	o := h.newOutbox("node-a", nil, OutboxOptions{})
	o.Start()
	if a := h.attempt(); a.err == nil || !IsPermanent(a.err) {
		t.Fatalf("attempt: %v", a.err)
	}
	m := h.onlyMail()
	if m.State != model.MailFailed || m.Attempts != 1 || !strings.Contains(m.LastError, "550") {
		t.Fatalf("after a 550: %+v", m)
	}
	h.clk.Advance(12 * time.Hour)
	h.claimedNothingAt(t0.Add(12 * time.Hour))
	if n := len(h.srv.received()); n != 0 {
		t.Fatalf("%d mails accepted", n)
	}
	if s := o.Stats(); s != (OutboxStats{Failed: 1}) {
		t.Fatalf("stats %+v", s)
	}
}

func TestOutboxGivesUpAfterMaxAttempts(t *testing.T) {
	h := newHarness(t, testSMTPOptions{})
	h.srv.failNext("data", 421, 100)
	h.enqueue(1)
	o := h.newOutbox("node-a", nil, OutboxOptions{MaxAttempts: 3})
	o.Start()
	for i, wait := range []time.Duration{0, time.Minute, 5 * time.Minute} {
		h.clk.Advance(wait)
		if a := h.attempt(); a.err == nil {
			t.Fatalf("attempt %d succeeded", i+1)
		}
	}
	if m := h.onlyMail(); m.State != model.MailFailed || m.Attempts != 3 {
		t.Fatalf("after 3 attempts: %+v", m)
	}
	h.clk.Advance(24 * time.Hour)
	h.claimedNothingAt(t0.Add(24 * time.Hour))
	if s := o.Stats(); s != (OutboxStats{Failed: 1, Retried: 2}) {
		t.Fatalf("stats %+v", s)
	}
	if n := h.srv.dataAttempts(); n != 3 {
		t.Fatalf("%d transmissions", n)
	}
}

func TestOutboxDefaultBackoff(t *testing.T) {
	o := NewOutbox(nil, nil, clock.NewFake(t0), quietLog, "n", OutboxOptions{})
	want := []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 6 * time.Hour}
	for i, w := range want {
		if got := o.backoff(i + 1); got != w {
			t.Errorf("backoff after attempt %d = %v, want %v", i+1, got, w)
		}
	}
	if o.opts.MaxAttempts != 8 || o.opts.Concurrency != 4 || o.opts.Lease != 2*time.Minute || o.opts.Backstop != 30*time.Second || o.opts.SendTimeout != time.Minute {
		t.Errorf("defaults %+v", o.opts)
	}
	if o := NewOutbox(nil, nil, nil, nil, "n", OutboxOptions{Concurrency: 100, SendTimeout: time.Hour}); o.opts.Concurrency != 20 || o.opts.SendTimeout != time.Minute {
		t.Errorf("limits not applied: %+v", o.opts)
	}
}

func TestOutboxTwoNodesNeverBothSend(t *testing.T) {
	h := newHarness(t, testSMTPOptions{})
	const n = 120
	queued := h.enqueue(n)
	a := h.newOutbox("node-a", nil, OutboxOptions{Concurrency: 5})
	b := h.newOutbox("node-b", nil, OutboxOptions{Concurrency: 5})
	a.Start()
	b.Start()
	got := h.srv.waitFor(t, n, waitLong)
	perNode := map[string]int{}
	for range n {
		r := h.attempt()
		if r.err != nil {
			t.Fatalf("attempt: %v", r.err)
		}
		perNode[r.node]++
	}
	// Every mail is recorded as sent, so neither node can claim one again.
	for _, m := range h.mails() {
		if m.State != model.MailSent {
			t.Fatalf("mail %d: %s", m.ID, m.State)
		}
	}
	a.Stop()
	b.Stop()
	got = h.srv.received()
	if len(got) != n {
		t.Fatalf("%d mails received for %d queued", len(got), n)
	}
	seen := map[string]bool{}
	for _, r := range got {
		if seen[r.To[0]] {
			t.Fatalf("%s received twice", r.To[0])
		}
		seen[r.To[0]] = true
	}
	for _, m := range queued {
		if !seen[m.To] {
			t.Fatalf("%s never received", m.To)
		}
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.Sent+sb.Sent != n || sa.LeaseLost+sb.LeaseLost != 0 || sa.Failed+sb.Failed+sa.Retried+sb.Retried != 0 {
		t.Fatalf("stats a %+v, b %+v", sa, sb)
	}
	t.Logf("node-a sent %d, node-b sent %d", perNode["node-a"], perNode["node-b"])
}

func TestOutboxTakesOverAnExpiredLease(t *testing.T) {
	h := newHarness(t, testSMTPOptions{})
	h.enqueue(1)
	// A node claimed the mail, then died before recording anything.
	ctx := context.Background()
	err := h.st.InTx(ctx, func(tx store.Tx) error {
		ms, err := tx.ClaimDueMail(ctx, "email", "dead-node", t0, t0.Add(2*time.Minute), 20)
		if err == nil && len(ms) != 1 {
			err = fmt.Errorf("claimed %d", len(ms))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	o := h.newOutbox("node-a", nil, OutboxOptions{})
	o.Start()
	h.claimedNothingAt(t0) // leased by the dead node
	h.clk.Advance(90 * time.Second)
	h.claimedNothingAt(t0.Add(90 * time.Second))
	if n := h.srv.dataAttempts(); n != 0 {
		t.Fatalf("sent while another node held the lease")
	}
	h.clk.Advance(30 * time.Second) // t0+2m: the lease expires, the backstop finds it
	if a := h.attempt(); a.err != nil {
		t.Fatal(a.err)
	}
	h.srv.waitFor(t, 1, waitLong)
	if m := h.onlyMail(); m.State != model.MailSent {
		t.Fatalf("%+v", m)
	}
}

func TestOutboxBackstopFindsUnkickedMail(t *testing.T) {
	h := newHarness(t, testSMTPOptions{})
	o := h.newOutbox("node-a", nil, OutboxOptions{})
	o.Start()
	h.claimedNothingAt(t0)
	h.enqueue(1) // queued by another node: nobody kicks us
	h.clk.Advance(30 * time.Second)
	if a := h.attempt(); a.err != nil {
		t.Fatal(a.err)
	}
	h.srv.waitFor(t, 1, waitLong)
}

// gateSender blocks every send until released, and counts sends in flight.
type gateSender struct {
	release  chan struct{}
	started  chan struct{}
	inFlight atomic.Int64
	maxSeen  atomic.Int64
	sent     atomic.Int64
}

func (g *gateSender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	n := g.inFlight.Add(1)
	for {
		m := g.maxSeen.Load()
		if n <= m || g.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	g.started <- struct{}{}
	<-g.release
	g.inFlight.Add(-1)
	g.sent.Add(1)
	return nil
}

func TestOutboxConcurrencyAndStop(t *testing.T) {
	h := newHarness(t, testSMTPOptions{})
	h.enqueue(10)
	g := &gateSender{release: make(chan struct{}), started: make(chan struct{}, 100)}
	o := h.newOutbox("node-a", g, OutboxOptions{Concurrency: 3})
	o.Start()
	for range 3 {
		select {
		case <-g.started:
		case <-time.After(waitLong):
			t.Fatal("sends did not start")
		}
	}
	stopped := make(chan struct{})
	go func() {
		o.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("Stop returned with sends in flight")
	default:
	}
	close(g.release)
	select {
	case <-stopped:
	case <-time.After(waitLong):
		t.Fatal("Stop did not return")
	}
	if m := g.maxSeen.Load(); m > 3 {
		t.Fatalf("%d sends in parallel with Concurrency 3", m)
	}
	sent := 0
	for _, m := range h.mails() {
		if m.State == model.MailSent {
			sent++
		}
	}
	if int64(sent) != g.sent.Load() || sent < 3 {
		t.Fatalf("%d mails recorded sent, %d sends finished", sent, g.sent.Load())
	}
	o.Kick() // after Stop: no effect, no block
	o.Stop() // idempotent
}

func TestOutboxKickNeverBlocks(t *testing.T) {
	o := NewOutbox(nil, nil, clock.NewFake(t0), quietLog, "n", OutboxOptions{})
	for range 1000 {
		o.Kick() // not started: kicks coalesce
	}
	o.Stop() // never started
	o.Kick()
}

// BenchmarkOutboxTranscripts queues b.N transcripts, then measures the time
// until the local SMTP server (plain, on loopback) accepted them all.
func BenchmarkOutboxTranscripts(b *testing.B) {
	for _, conc := range []int{4, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			h := newHarness(b, testSMTPOptions{})
			h.enqueue(b.N)
			o := NewOutbox(h.st, h.srv.sender(b, 10*time.Second), clock.Real{}, quietLog, "bench", OutboxOptions{Concurrency: conc})
			var wg sync.WaitGroup
			wg.Add(b.N)
			o.afterAttempt = func(m model.OutboxMail, err error) {
				if err != nil {
					panic(err)
				}
				wg.Done()
			}
			b.ResetTimer()
			start := time.Now()
			o.Start()
			h.srv.waitFor(b, b.N, 5*time.Minute)
			elapsed := time.Since(start)
			b.StopTimer()
			wg.Wait()
			o.Stop()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "mails/s")
		})
	}
}
