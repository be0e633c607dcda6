package loadtest

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// stormState is what the reconnect storm records.
type stormState struct {
	started  atomic.Bool
	t0       time.Time    // when the sockets were dropped
	dropped  atomic.Int64 // sockets dropped (visitors + agents)
	resume   Histogram    // drop to resumed, per socket
	allTook  time.Duration
	allOK    bool
	finished atomic.Bool
}

// StormReport is the outcome of a reconnect storm (--reconnect-storm).
type StormReport struct {
	At              float64 `json:"at_s"`    // into the load phase (warmup included)
	Sockets         int     `json:"sockets"` // dropped at once: visitors + agents
	VisitorsResumed int     `json:"visitors_resumed"`
	AgentsResumed   int     `json:"agents_resumed"`
	Failed          int     `json:"failed"`          // sockets that did not resume within the storm timeout
	Attempts        int64   `json:"attempts"`        // connection attempts, retries included
	Unrecovered     int64   `json:"unrecovered"`     // subscribe acks with recovered:false
	ResentVisitor   int64   `json:"resent_visitor"`  // unacknowledged visitor sends resent with the same client_id
	ResentAgent     int64   `json:"resent_agent"`    // same, agent messages (replies or not)
	Resume          Latency `json:"resume_ms"`       // per socket: drop to re-authenticated, resubscribed and resending
	AllResumed      float64 `json:"all_resumed_s"`   // drop to the last socket resumed; -1 if some never did
	Timeout         float64 `json:"storm_timeout_s"` // how long each socket was given
	NextTarget      bool    `json:"next_target"`     // sockets reconnected to the next target
}

// runStorm drops every socket at once at `at`, and has each client
// reconnect, re-authenticate, resubscribe from its cursor and resend what
// was not acknowledged.
func (e *engine) runStorm(ctx context.Context, at time.Time) {
	defer close(e.stormDone)
	select {
	case <-time.After(time.Until(at)):
	case <-ctx.Done():
		return
	}
	st := &e.storm
	var vs []*visitor
	for i := range e.visitors {
		if v := e.visitors[i].Load(); v != nil {
			vs = append(vs, v)
		}
	}
	st.t0 = time.Now()
	st.started.Store(true)
	e.phase.Store("storm")
	// Drop all at once.
	olds := make([]*sock, 0, len(vs)+len(e.agents))
	for _, a := range e.agents {
		a.mu.Lock() // no reply goes out on a socket being dropped
		olds = append(olds, a.link.drop())
		a.mu.Unlock()
	}
	for _, v := range vs {
		v.mu.Lock()
		olds = append(olds, v.link.drop())
		v.mu.Unlock()
	}
	for _, s := range olds {
		if s != nil {
			s.closeNow()
		}
	}
	st.dropped.Store(int64(len(olds)))
	deadline := st.t0.Add(e.cfg.StormTimeout)
	sctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var wg sync.WaitGroup
	var lastMu sync.Mutex
	var last time.Duration
	ok := atomic.Bool{}
	ok.Store(true)
	done := func(good bool, okC, failC *atomic.Int64) {
		if !good {
			failC.Add(1)
			ok.Store(false)
			return
		}
		d := time.Since(st.t0)
		okC.Add(1)
		st.resume.Record(d)
		lastMu.Lock()
		last = max(last, d)
		lastMu.Unlock()
	}
	for k, a := range e.agents {
		old := olds[k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitDone(sctx, old)
			done(retry(sctx, e, func(ctx context.Context) error { return a.resume(ctx) }), &e.c.stormAgentsOK, &e.c.stormAgentsFail)
		}()
	}
	for k, v := range vs {
		old := olds[len(e.agents)+k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitDone(sctx, old)
			done(retry(sctx, e, func(ctx context.Context) error { return v.resume(ctx) }), &e.c.stormVisitorsOK, &e.c.stormVisitorsFail)
		}()
	}
	wg.Wait()
	st.allTook, st.allOK = last, ok.Load()
	st.finished.Store(true)
	if e.sending.Load() {
		e.phase.Store("load")
	}
}

func waitDone(ctx context.Context, s *sock) {
	if s == nil {
		return
	}
	select {
	case <-s.done:
	case <-ctx.Done():
	}
}

// retry runs f until it succeeds or ctx ends, backing off 50 ms to 1 s.
func retry(ctx context.Context, e *engine, f func(context.Context) error) bool {
	backoff := 50 * time.Millisecond
	for {
		e.c.stormAttempts.Add(1)
		actx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
		err := f(actx)
		cancel()
		if err == nil {
			return true
		}
		e.noteErr("storm: resume", err)
		sleep := backoff/2 + time.Duration(mrand.Int64N(int64(backoff)))
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return false
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (e *engine) nextTarget(t int) int {
	if e.cfg.StormNextTarget {
		return (t + 1) % len(e.cfg.Targets)
	}
	return t
}

// resume reconnects a visitor: socket, auth with its token, subscribe from
// its cursor and epoch, then resend its unacknowledged sends.
func (v *visitor) resume(ctx context.Context) error {
	e := v.e
	target := e.nextTarget(v.target)
	s, err := v.dial(ctx, target)
	if err != nil {
		return fmt.Errorf("visitor socket: %w", err)
	}
	if err := v.auth(ctx, s); err != nil {
		s.closeNow()
		return fmt.Errorf("visitor auth: %w", err)
	}
	if v.conv != 0 {
		v.mu.Lock()
		after := v.vSeq
		v.mu.Unlock()
		res, err := s.call(ctx, "subscribe", map[string]any{"conversation_id": v.conv, "after_seq": after, "epoch": e.epoch.Load().(string)})
		if err != nil {
			s.closeNow()
			return fmt.Errorf("visitor subscribe: %w", err)
		}
		if !e.noteEpoch(res) {
			e.c.stormUnrecovered.Add(1)
		}
	}
	v.target = target
	e.markUp(s, &e.c.visitorsUp)
	v.mu.Lock()
	pend := make([]int, 0, len(v.vPend))
	ts := make(map[int]int64, len(v.vPend))
	for n, t := range v.vPend {
		pend = append(pend, n)
		ts[n] = t
	}
	v.link.setLive(s)
	v.mu.Unlock()
	slices.Sort(pend)
	for _, n := range pend {
		if err := s.writeSend(e, 'v', v.idx, n, ts[n], v.conv); err != nil {
			return nil // the socket is up; its own failure is counted as a drop
		}
		e.c.vResent.Add(1)
	}
	return nil
}

// resume reconnects an agent: socket (signing in on a new target if
// needed), availability, subscribe to every followed conversation from its
// cursor, then resend unacknowledged replies.
func (a *agent) resume(ctx context.Context) error {
	e := a.e
	target := e.nextTarget(a.target)
	hc, err := e.signIn(ctx, a.login, target, a.idx)
	if err != nil {
		return err
	}
	s, err := a.dial(ctx, hc, target)
	if err != nil {
		return fmt.Errorf("agent socket: %w", err)
	}
	fail := func(err error) error { s.closeNow(); return err }
	if _, err := s.call(ctx, "availability", map[string]any{"availability": "available"}); err != nil {
		return fail(fmt.Errorf("agent availability: %w", err))
	}
	a.mu.Lock()
	follows := slices.Clone(a.follows)
	a.mu.Unlock()
	// Resubscribe, 32 commands in flight.
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	epoch := e.epoch.Load().(string)
	for _, v := range follows {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			v.mu.Lock()
			after := v.agSeq
			v.mu.Unlock()
			res, err := s.call(ctx, "subscribe", map[string]any{"conversation_id": v.conv, "after_seq": after, "epoch": epoch})
			if err != nil {
				err = fmt.Errorf("agent subscribe: %w", err)
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			if !e.noteEpoch(res) {
				e.c.stormUnrecovered.Add(1)
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return fail(*p)
	}
	a.target = target
	e.markUp(s, &e.c.agentsUp)
	a.mu.Lock()
	type pr struct {
		k  replyKey
		ts int64
	}
	pend := make([]pr, 0, len(a.pend))
	for k, t := range a.pend {
		pend = append(pend, pr{k, t})
	}
	a.link.setLive(s)
	a.mu.Unlock()
	slices.SortFunc(pend, func(x, y pr) int {
		if x.k.vis != y.k.vis {
			return x.k.vis - y.k.vis
		}
		return x.k.n - y.k.n
	})
	for _, p := range pend {
		v := e.visitors[p.k.vis].Load()
		if v == nil {
			continue
		}
		if err := s.writeSend(e, 'a', p.k.vis, p.k.n, p.ts, v.conv); err != nil {
			return nil
		}
		e.c.aResent.Add(1)
	}
	return nil
}

func (e *engine) fillStorm(r *Report) {
	if e.cfg.ReconnectStorm <= 0 {
		return
	}
	st := &e.storm
	sr := &StormReport{At: e.cfg.ReconnectStorm.Seconds(), Timeout: e.cfg.StormTimeout.Seconds(), NextTarget: e.cfg.StormNextTarget, AllResumed: -1}
	r.Storm = sr
	if !st.finished.Load() {
		return
	}
	c := &e.c
	sr.Sockets = int(st.dropped.Load())
	sr.VisitorsResumed = int(c.stormVisitorsOK.Load())
	sr.AgentsResumed = int(c.stormAgentsOK.Load())
	sr.Failed = int(c.stormVisitorsFail.Load() + c.stormAgentsFail.Load())
	sr.Attempts = c.stormAttempts.Load()
	sr.Unrecovered = c.stormUnrecovered.Load()
	sr.ResentVisitor = c.vResent.Load()
	sr.ResentAgent = c.aResent.Load()
	sr.Resume = latencyOf(&st.resume)
	if st.allOK {
		sr.AllResumed = st.allTook.Seconds()
	}
}

var errStormTooLate = errors.New("--reconnect-storm must fall inside the load phase (before --warmup + --duration)")
