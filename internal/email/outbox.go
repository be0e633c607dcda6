package email

// The outbox sends the mails the domain queued (store.Tx.EnqueueMail) in
// the transactions that caused them.
//
// Guarantees:
//
//   - Not lost. A mail is a row in the store from the moment its cause
//     commits; a mail server that is down, a failed send or a crashed node
//     delays it (retries with backoff, leases that expire) but never drops
//     it. It is given up only after OutboxOptions.MaxAttempts attempts, or
//     at once when the server refuses it permanently (IsPermanent); it then
//     stays in the store with state failed and the last error.
//
//   - Sent once, as far as SMTP allows. A node claims a mail with a lease
//     (ClaimDueMail, FOR UPDATE SKIP LOCKED on PostgreSQL) and sends it
//     only while it holds the lease; the send is bounded well inside the
//     lease; MarkMailSent succeeds only for the lease holder. Two nodes
//     never send one mail on purpose. What SMTP itself cannot make atomic
//     remains: if a node dies (or loses the store) after the mail server's
//     250 and before MarkMailSent commits, the mail is sent again once the
//     lease expires (2 minutes). The copy carries the same Message-ID, so
//     mail clients thread it with, or dedupe it against, the first.
//
//   - Prompt. Kick (called after a commit that queued mail) wakes the
//     outbox at once; a timer on the injected clock wakes it when the
//     earliest retry it scheduled falls due; a backstop every 30 s picks up
//     mail queued on other nodes, or left behind by a node that died.

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/clock"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// OutboxOptions tune an Outbox. Zero values take the defaults.
type OutboxOptions struct {
	// MaxAttempts is how many times a mail is tried before it is given up
	// (default 8: the retries wait 1m, 5m, 15m, 1h, 3h, 6h, 6h).
	MaxAttempts int
	// Concurrency is how many mails are sent in parallel (default 4, at
	// most 20). A node claims only as many mails as it can send at once,
	// so a claimed mail never waits in a local queue while its lease runs.
	Concurrency int
	// Lease is how long a claimed mail belongs to this node (default 2 min).
	Lease time.Duration
	// SendTimeout bounds one send, connection to QUIT (default and at most
	// half the lease, so a send always ends while its lease lives).
	SendTimeout time.Duration
	// Backstop is how often the store is polled for mail nobody kicked us
	// about (default 30 s).
	Backstop time.Duration
	// Backoff is the wait after the first, second, ... failed attempt; the
	// last repeats (default 1m, 5m, 15m, 1h, 3h, 6h).
	Backoff []time.Duration
	// Transport is the outbox rows this Outbox sends (default "email"); the
	// SMS and WhatsApp senders run their own Outbox over the same table.
	Transport string
	// Permanent reports a refusal that no retry can change (default
	// IsPermanent, for SMTP replies).
	Permanent func(error) bool
}

// DefaultBackoff is the wait after each failed attempt.
var DefaultBackoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour}

const (
	maxClaimBatch = 20
	storeTimeout  = 30 * time.Second
)

func (o OutboxOptions) withDefaults() OutboxOptions {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	o.Concurrency = min(o.Concurrency, maxClaimBatch)
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.SendTimeout <= 0 || o.SendTimeout > o.Lease/2 {
		o.SendTimeout = o.Lease / 2
	}
	if o.Backstop <= 0 {
		o.Backstop = 30 * time.Second
	}
	if len(o.Backoff) == 0 {
		o.Backoff = DefaultBackoff
	}
	if o.Transport == "" {
		o.Transport = "email"
	}
	if o.Permanent == nil {
		o.Permanent = IsPermanent
	}
	return o
}

// OutboxStats counts what an Outbox did since it was created.
type OutboxStats struct {
	Sent    int64 // accepted by the mail server
	Failed  int64 // given up: refused permanently or out of attempts
	Retried int64 // failed attempts that will be tried again
	// LeaseLost counts mails sent whose MarkMailSent found the lease gone
	// (another node may send them again) or could not be recorded.
	LeaseLost int64
}

// Outbox sends queued mail. Create it with NewOutbox, then Start; Stop
// before closing the store.
type Outbox struct {
	st     store.Store
	sender Sender
	clk    clock.Clock
	log    *slog.Logger
	node   string
	opts   OutboxOptions

	wake     chan struct{} // capacity 1: a pending "look at the store"
	slots    chan struct{} // semaphore: one token per send in flight
	stopCh   chan struct{}
	loopDone chan struct{}
	sends    sync.WaitGroup
	more     atomic.Bool // the last claim was full: more may be due
	stopped  atomic.Bool

	mu         sync.Mutex
	started    bool
	retryAt    []time.Time // ascending: retries this node scheduled
	retryTimer clock.Timer
	backstop   clock.Timer

	sent, failed, retried, lost atomic.Int64

	// afterAttempt, when set (tests), is called after each attempt is
	// recorded, with the mail as claimed and the send's error.
	afterAttempt func(m model.OutboxMail, err error)
	// afterClaim, when set (tests), is called after each claim with the
	// time it claimed at and the number of mails claimed.
	afterClaim func(now time.Time, n int)
}

// NewOutbox returns an outbox that sends st's due mail through s. node
// names this process in leases: it must differ between processes (and
// between Outboxes) sharing a store.
func NewOutbox(st store.Store, s Sender, clk clock.Clock, log *slog.Logger, node string, opts OutboxOptions) *Outbox {
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.Default()
	}
	opts = opts.withDefaults()
	return &Outbox{st: st, sender: s, clk: clk, log: log.With("component", "outbox", "node", node), node: node, opts: opts,
		wake: make(chan struct{}, 1), slots: make(chan struct{}, opts.Concurrency),
		stopCh: make(chan struct{}), loopDone: make(chan struct{})}
}

// Start begins sending: at once (mail may have been queued while no node
// was running), then on Kick, on retry timers and on the backstop.
func (o *Outbox) Start() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.started || o.stopped.Load() {
		return
	}
	o.started = true
	o.armBackstopLocked()
	go o.loop()
	o.Kick()
}

// Stop stops claiming mail and waits for the sends in flight to finish and
// be recorded (each is bounded by SendTimeout). A stopped Outbox does not
// start again.
func (o *Outbox) Stop() {
	o.mu.Lock()
	if o.stopped.Swap(true) {
		o.mu.Unlock()
		return
	}
	started := o.started
	if o.retryTimer != nil {
		o.retryTimer.Stop()
		o.retryTimer = nil
	}
	if o.backstop != nil {
		o.backstop.Stop()
		o.backstop = nil
	}
	o.mu.Unlock()
	close(o.stopCh)
	if started {
		<-o.loopDone
	}
	o.sends.Wait()
}

// Kick says mail was just queued: look now. It never blocks; kicks that
// arrive while the outbox is busy coalesce.
func (o *Outbox) Kick() {
	if o.stopped.Load() {
		return
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counters (for logs, metrics and tests).
func (o *Outbox) Stats() OutboxStats {
	return OutboxStats{Sent: o.sent.Load(), Failed: o.failed.Load(), Retried: o.retried.Load(), LeaseLost: o.lost.Load()}
}

func (o *Outbox) loop() {
	defer close(o.loopDone)
	for {
		select {
		case <-o.stopCh:
			return
		case <-o.wake:
		}
		o.pump()
	}
}

// pump claims due mail as long as there are free send slots and mail to
// claim, and starts a send for each.
func (o *Outbox) pump() {
	for {
		select {
		case <-o.stopCh:
			return
		default:
		}
		n := 0
	reserve:
		for n < o.opts.Concurrency {
			select {
			case o.slots <- struct{}{}:
				n++
			default:
				break reserve
			}
		}
		if n == 0 {
			o.more.Store(true) // every slot is busy: the next to finish looks again
			return
		}
		now := o.clk.Now()
		mails, err := o.claim(now, n)
		for range n - len(mails) {
			<-o.slots
		}
		if err != nil {
			// The store is unavailable or closing: the backstop tries again.
			o.log.Error("outbox: claiming mail failed", "err", err)
			return
		}
		o.more.Store(len(mails) == n)
		for _, m := range mails {
			o.sends.Add(1)
			go o.deliver(m)
		}
		if o.afterClaim != nil {
			o.afterClaim(now, len(mails))
		}
		if len(mails) < n {
			return
		}
	}
}

func (o *Outbox) claim(now time.Time, n int) ([]model.OutboxMail, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	var out []model.OutboxMail
	err := o.st.InTx(ctx, func(tx store.Tx) error {
		var err error
		out, err = tx.ClaimDueMail(ctx, o.opts.Transport, o.node, now, now.Add(o.opts.Lease), n)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// deliver sends one claimed mail and records the outcome.
func (o *Outbox) deliver(m model.OutboxMail) {
	defer o.sends.Done()
	ctx, cancel := context.WithTimeout(context.Background(), o.opts.SendTimeout)
	err := o.sender.Send(ctx, m.From, []string{m.To}, m.Body)
	cancel()
	if err == nil {
		o.markSent(m)
	} else {
		o.markRetry(m, err)
	}
	if o.afterAttempt != nil {
		o.afterAttempt(m, err)
	}
	<-o.slots
	if o.more.Load() {
		o.Kick()
	}
}

func (o *Outbox) markSent(m model.OutboxMail) {
	o.sent.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	at := o.clk.Now()
	err := o.st.InTx(ctx, func(tx store.Tx) error { return tx.MarkMailSent(ctx, m.ID, o.node, at) })
	switch {
	case err == nil:
		o.log.Debug("outbox: mail sent", "mail", m.ID, "conversation", m.ConversationID, "kind", m.Kind, "attempt", m.Attempts+1)
	case apperr.IsNotFound(err):
		o.lost.Add(1)
		o.log.Warn("outbox: mail sent after its lease was lost; another node may send it again (same Message-ID)",
			"mail", m.ID, "conversation", m.ConversationID, "kind", m.Kind)
	default:
		o.lost.Add(1)
		o.log.Error("outbox: mail sent but not recorded; it will be sent again when the lease expires (same Message-ID)",
			"mail", m.ID, "conversation", m.ConversationID, "kind", m.Kind, "err", err)
	}
}

func (o *Outbox) markRetry(m model.OutboxMail, sendErr error) {
	attempt := m.Attempts + 1
	permanent := o.opts.Permanent(sendErr)
	giveUp := permanent || attempt >= o.opts.MaxAttempts
	now := o.clk.Now()
	next := now.Add(o.backoff(attempt))
	if giveUp {
		next = now
	}
	msg := truncateUTF8(sendErr.Error(), 1000)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	err := o.st.InTx(ctx, func(tx store.Tx) error {
		return tx.MarkMailRetry(ctx, m.ID, o.node, next, msg, giveUp)
	})
	if err != nil {
		// The lease expires and the mail is tried again; this attempt is
		// not counted.
		o.log.Error("outbox: recording a failed attempt failed", "mail", m.ID, "err", err, "send_err", msg)
		return
	}
	if giveUp {
		o.failed.Add(1)
		o.log.Warn("outbox: mail failed, giving up", "mail", m.ID, "conversation", m.ConversationID, "kind", m.Kind,
			"attempt", attempt, "permanent", permanent, "err", msg)
		return
	}
	o.retried.Add(1)
	o.log.Info("outbox: mail not sent, will retry", "mail", m.ID, "conversation", m.ConversationID, "kind", m.Kind,
		"attempt", attempt, "next", next, "err", msg)
	o.scheduleRetry(next)
}

// backoff is the wait after the attempt-th failed attempt (1-based).
func (o *Outbox) backoff(attempt int) time.Duration {
	i := min(max(attempt-1, 0), len(o.opts.Backoff)-1)
	return o.opts.Backoff[i]
}

// scheduleRetry makes sure the outbox wakes at t.
func (o *Outbox) scheduleRetry(t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped.Load() {
		return
	}
	i, found := slices.BinarySearchFunc(o.retryAt, t, func(a, b time.Time) int { return a.Compare(b) })
	if found {
		return
	}
	o.retryAt = slices.Insert(o.retryAt, i, t)
	if i == 0 {
		o.armRetryLocked()
	}
}

// armRetryLocked (re)sets the retry timer to the earliest scheduled retry.
func (o *Outbox) armRetryLocked() {
	if o.retryTimer != nil {
		o.retryTimer.Stop()
		o.retryTimer = nil
	}
	if len(o.retryAt) == 0 || o.stopped.Load() {
		return
	}
	o.retryTimer = o.clk.AfterFunc(max(o.retryAt[0].Sub(o.clk.Now()), 0), o.onRetryTimer)
}

func (o *Outbox) onRetryTimer() {
	o.mu.Lock()
	now := o.clk.Now()
	i := 0
	for i < len(o.retryAt) && !o.retryAt[i].After(now) {
		i++
	}
	o.retryAt = o.retryAt[i:]
	o.retryTimer = nil
	o.armRetryLocked()
	o.mu.Unlock()
	o.Kick()
}

func (o *Outbox) armBackstopLocked() {
	if o.stopped.Load() {
		return
	}
	o.backstop = o.clk.AfterFunc(o.opts.Backstop, func() {
		o.Kick()
		o.mu.Lock()
		o.armBackstopLocked()
		o.mu.Unlock()
	})
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
