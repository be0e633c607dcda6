package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// pingEvery keeps idle sockets open: the server closes a socket that sent
// nothing for 75 s.
const pingEvery = 25 * time.Second

type counters struct {
	vSent, vAcked, vErr, vDelivered, vDup atomic.Int64
	aSent, aAcked, aErr, aDelivered, aDup atomic.Int64
	// in the measured window (by send time)
	wvSent, wvDelivered, waSent, waDelivered atomic.Int64
	skipped                                  atomic.Int64

	sessionFail, connectFail, authFail, setupFail atomic.Int64
	visitorsUp, agentsUp, dropped                 atomic.Int64
	attempted                                     atomic.Int64

	// reconnect storm
	vResent, aResent                   atomic.Int64
	stormAttempts, stormUnrecovered    atomic.Int64
	stormVisitorsOK, stormAgentsOK     atomic.Int64
	stormVisitorsFail, stormAgentsFail atomic.Int64
}

type engine struct {
	cfg     Config
	run     string
	prefix  string // "sb|<run>|"
	prefixB []byte // prefix as bytes
	pad     string
	clients []*http.Client // one per source address (or one)

	visitors []atomic.Pointer[visitor] // set as they connect; read by agents' readers
	agents   []*agent
	c        counters
	v2a, a2v Histogram

	measureStart, measureEnd atomic.Int64 // unix ns; 0 = not set
	sending                  atomic.Bool
	agentsReady              atomic.Bool // e.agents is complete
	closing                  atomic.Bool
	phase                    atomic.Value // string

	errMu sync.Mutex
	errs  map[string]int

	epoch     atomic.Value // string: the store's epoch, from auth and subscribe acks
	signMu    sync.Mutex
	signed    map[signKey]*http.Client
	storm     stormState
	stormDone chan struct{} // closed when the storm (if any) is over
}

type signKey struct{ login, target int }

type visitor struct {
	e      *engine
	idx    int
	link   link
	target int    // index in Targets of the current socket
	token  string // the visitor's identity, reused on reconnect
	conv   int64
	ag     *agent
	ackCh  chan struct{}

	inflight atomic.Int64 // visitor sends awaiting their answer

	// The agent's messages to this chat (Direction agent or both) awaiting
	// their answer, and the signal of one answered (closed loop).
	aInflight atomic.Int64
	aAckCh    chan struct{}

	mu                    sync.Mutex
	vSent, vAcked, vDeliv bitset
	aSent, aAcked, aDeliv bitset
	vPend                 map[int]int64 // unacknowledged sends: n -> send time (resent after a reconnect)
	vSeq, agSeq           int64         // highest seq of this run's messages seen by the visitor / its agent
}

type agent struct {
	e       *engine
	idx     int
	link    link
	target  int
	login   int
	replies chan replyJob

	mu      sync.Mutex
	follows []*visitor
	pend    map[replyKey]int64 // unacknowledged messages (replies or not) -> send time
}

type replyKey struct{ vis, n int }

type replyJob struct {
	v *visitor
}

// Run connects, loads, drains and reports. It returns an error only when the
// run could not start (bad configuration, unreachable target, agent sign-in
// refused); a run with failures returns a report whose OK is false.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	limit, err := RaiseFileLimit()
	need := uint64(cfg.Visitors + cfg.Agents + 64)
	if err == nil && limit < need {
		return nil, fmt.Errorf("%d sockets need about %d open files but this process may open %d: raise the limit (ulimit -n) or use fewer visitors", cfg.Visitors+cfg.Agents, need, limit)
	}
	e := &engine{cfg: cfg, errs: map[string]int{}, signed: map[signKey]*http.Client{}, stormDone: make(chan struct{})}
	e.epoch.Store("")
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	e.run = hex.EncodeToString(rb[:])
	e.prefix = "sb|" + e.run + "|"
	e.prefixB = []byte(e.prefix)
	e.pad = strings.Repeat("x", MaxBody)
	e.phase.Store("start")
	e.clients = buildClients(cfg)
	defer func() {
		for _, c := range e.clients {
			c.CloseIdleConnections()
		}
	}()
	if err := e.preflight(ctx); err != nil {
		return nil, err
	}
	return e.execute(ctx)
}

func buildClients(cfg Config) []*http.Client {
	mk := func(local net.Addr) *http.Client {
		d := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second, LocalAddr: local}
		tr := &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
			TLSHandshakeTimeout: cfg.ConnectTimeout,
			ForceAttemptHTTP2:   false,
		}
		return &http.Client{Transport: tr, Timeout: cfg.ConnectTimeout}
	}
	if len(cfg.SourceIPs) == 0 {
		return []*http.Client{mk(nil)}
	}
	out := make([]*http.Client, len(cfg.SourceIPs))
	for i, a := range cfg.SourceIPs {
		out[i] = mk(&net.TCPAddr{IP: a.AsSlice()})
	}
	return out
}

// preflight checks every target answers /healthz, so a wrong address fails
// in seconds with a clear message instead of thousands of failed sockets.
func (e *engine) preflight(ctx context.Context) error {
	for _, t := range e.cfg.Targets {
		ctx, cancel := context.WithTimeout(ctx, min(e.cfg.ConnectTimeout, 5*time.Second))
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t+"/healthz", nil)
		res, err := e.clients[0].Do(req)
		cancel()
		if err != nil {
			return fmt.Errorf("target %s is not answering (is a Switchboard node running there?): %w", t, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("target %s: GET /healthz answered %s; is it a Switchboard node?", t, res.Status)
		}
	}
	return nil
}

func (e *engine) noteErr(what string, err error) {
	if err == nil {
		return
	}
	var fe *frameError
	key := what + ": "
	if errors.As(err, &fe) {
		key += fe.Code
	} else {
		msg := err.Error()
		if len(msg) > 160 {
			msg = msg[:160]
		}
		key += msg
	}
	e.errMu.Lock()
	if _, ok := e.errs[key]; ok || len(e.errs) < 20 {
		e.errs[key]++
	}
	e.errMu.Unlock()
}

func (e *engine) inWindow(ts int64) bool {
	s, en := e.measureStart.Load(), e.measureEnd.Load()
	return s != 0 && ts >= s && ts < en
}

func (e *engine) wsURL(target, path string) string {
	if rest, ok := strings.CutPrefix(target, "https://"); ok {
		return "wss://" + rest + path
	}
	return "ws://" + strings.TrimPrefix(target, "http://") + path
}

func (e *engine) execute(ctx context.Context) (*Report, error) {
	cfg := e.cfg
	rep := &Report{Run: e.run, Targets: cfg.Targets, Site: cfg.Site, Visitors: cfg.Visitors, Agents: cfg.Agents,
		Idle: cfg.Idle, Rate: cfg.Rate, Direction: cfg.Direction, AgentReplies: cfg.AgentReplies, Size: cfg.Size,
		Duration: cfg.Duration.Seconds(), Warmup: cfg.Warmup.Seconds(), SourceIPs: len(cfg.SourceIPs)}
	rssBefore := readRSSAll(cfg.ServerPIDs)

	progressDone := make(chan struct{})
	stopProgress := make(chan struct{})
	go e.progress(stopProgress, progressDone)
	var progressOnce sync.Once
	endProgress := func() { progressOnce.Do(func() { close(stopProgress); <-progressDone }) }
	defer endProgress()

	// Agents first: visitors' chats are handed to them as they connect.
	e.phase.Store("connect")
	connStart := time.Now()
	e.visitors = make([]atomic.Pointer[visitor], cfg.Visitors)
	// Ping from the start: connecting tens of thousands of sockets can take
	// longer than the server's 75 s idle timeout.
	pingCtx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	pingDone := make(chan struct{})
	go e.pinger(pingCtx, pingDone)
	if err := e.connectAgents(ctx); err != nil {
		stopPing()
		<-pingDone
		e.closeAll()
		return nil, err
	}
	e.agentsReady.Store(true)
	e.connectVisitors(ctx)
	rep.Connections.ConnectSeconds = time.Since(connStart).Seconds()

	var rssUp []rssSample
	if len(cfg.ServerPIDs) > 0 {
		time.Sleep(time.Second) // let the server finish registering the last sockets
		rssUp = readRSSAll(cfg.ServerPIDs)
	}

	// Load.
	e.phase.Store("load")
	var cpuStart []rssSample
	if len(cfg.ServerPIDs) > 0 {
		cpuStart = readRSSAll(cfg.ServerPIDs)
	}
	cpu0, cpuOK := selfCPU()
	loadStart := time.Now()
	e.measureStart.Store(loadStart.Add(cfg.Warmup).UnixNano())
	e.measureEnd.Store(loadStart.Add(cfg.Warmup + cfg.Duration).UnixNano())
	loadCtx, stopLoad := context.WithDeadline(ctx, loadStart.Add(cfg.Warmup+cfg.Duration))
	e.sending.Store(true)
	if cfg.ReconnectStorm > 0 {
		go e.runStorm(ctx, loadStart.Add(cfg.ReconnectStorm))
	} else {
		close(e.stormDone)
	}
	var wg sync.WaitGroup
	if !cfg.Idle {
		for _, a := range e.agents {
			if cfg.AgentReplies {
				wg.Add(1)
				go func() { defer wg.Done(); a.writer(loadCtx) }()
			}
		}
		for i := range e.visitors {
			v := e.visitors[i].Load()
			if v == nil {
				continue
			}
			if cfg.visitorsSend() {
				wg.Add(1)
				go func() { defer wg.Done(); v.writer(loadCtx) }()
			}
			if cfg.agentsSend() {
				wg.Add(1)
				go func() { defer wg.Done(); v.agentWriter(loadCtx) }()
			}
		}
	}
	<-loadCtx.Done()
	e.sending.Store(false)
	stopLoad()
	wg.Wait()
	<-e.stormDone // bounded by StormTimeout
	loadEnd := time.Now()
	measured := time.Duration(min(loadEnd.UnixNano(), e.measureEnd.Load()) - e.measureStart.Load())
	if measured < 0 {
		measured = 0
	}
	rep.Measured = measured.Seconds()
	rep.Connections.HeldVisitors = int(e.c.visitorsUp.Load())
	rep.Connections.HeldAgents = int(e.c.agentsUp.Load())
	var rssEnd []rssSample
	if len(cfg.ServerPIDs) > 0 {
		rssEnd = readRSSAll(cfg.ServerPIDs)
	}
	if cfg.Idle {
		e.phase.Store("reach")
		start := time.Now()
		rep.Connections.Reachable, rep.Connections.Unreachable = e.pingAll(ctx)
		rep.Connections.ReachSeconds = time.Since(start).Seconds()
	}

	// Drain: wait for the acks and deliveries still on their way.
	e.phase.Store("drain")
	drainStart := time.Now()
	for time.Since(drainStart) < cfg.Drain && !e.settled() && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	rep.Drain = time.Since(drainStart).Seconds()
	if cpu1, ok := selfCPU(); ok && cpuOK && !cfg.Idle {
		rep.Tool = &ToolCPU{Seconds: (cpu1 - cpu0).Seconds()}
	}
	stopPing()
	<-pingDone
	endProgress()
	e.closeAll()

	e.fill(rep)
	e.fillStorm(rep)
	rep.ServerRSS = rssReport(rssBefore, rssUp, cpuStart, rssEnd, rep.Connections.HeldVisitors+rep.Connections.HeldAgents)
	rep.judge()
	return rep, nil
}

// pingAll sends a ping on every held visitor socket and waits for its
// answer: a socket held open but no longer served (a server that stopped
// reading it) shows here, not in the connection counts.
func (e *engine) pingAll(ctx context.Context) (ok, failed int) {
	var okN, failN atomic.Int64
	sem := make(chan struct{}, 512)
	var wg sync.WaitGroup
	for i := range e.visitors {
		v := e.visitors[i].Load()
		if v == nil {
			continue
		}
		s := v.link.current()
		if s == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			if _, err := s.call(cctx, "ping", nil); err != nil {
				failN.Add(1)
				e.noteErr("idle ping", err)
				return
			}
			okN.Add(1)
		}()
	}
	wg.Wait()
	return int(okN.Load()), int(failN.Load())
}

// settled: every send has its ack or error, and every acked message has
// been delivered.
func (e *engine) settled() bool {
	c := &e.c
	return c.vSent.Load() == c.vAcked.Load()+c.vErr.Load() && c.vDelivered.Load() >= c.vAcked.Load() &&
		c.aSent.Load() == c.aAcked.Load()+c.aErr.Load() && c.aDelivered.Load() >= c.aAcked.Load()
}

func (e *engine) closeAll() {
	e.closing.Store(true)
	var socks []*sock
	for _, a := range e.agents {
		if s := a.link.latest(); s != nil {
			socks = append(socks, s)
		}
	}
	for i := range e.visitors {
		if v := e.visitors[i].Load(); v != nil {
			if s := v.link.latest(); s != nil {
				socks = append(socks, s)
			}
		}
	}
	for _, s := range socks {
		s.closeNow()
	}
	deadline := time.After(10 * time.Second)
	for _, s := range socks {
		select {
		case <-s.done:
		case <-deadline:
			return
		}
	}
}

// agentList is e.agents once it is complete (nil before).
func (e *engine) agentList() []*agent {
	if !e.agentsReady.Load() {
		return nil
	}
	return e.agents
}

func (e *engine) client(i int) *http.Client { return e.clients[i%len(e.clients)] }

// localAddr is the address socket i binds to (round-robin over SourceIPs;
// nil: the system chooses), the same as e.client(i)'s.
func (e *engine) localAddr(i int) net.Addr {
	if len(e.cfg.SourceIPs) == 0 {
		return nil
	}
	return &net.TCPAddr{IP: e.cfg.SourceIPs[i%len(e.cfg.SourceIPs)].AsSlice()}
}

// Read buffers: a frame up to this size is read in place. Agent sockets
// receive many frames at once; tens of thousands of visitor sockets should
// stay small.
const (
	visitorReadBuf = 4 << 10
	agentReadBuf   = 32 << 10
)

// cookieHeader is the Cookie header hc's jar holds for target.
func cookieHeader(hc *http.Client, target string) string {
	if hc.Jar == nil {
		return ""
	}
	u, err := url.Parse(target + "/ws/staff")
	if err != nil {
		return ""
	}
	var b strings.Builder
	for i, c := range hc.Jar.Cookies(u) {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.Name + "=" + c.Value)
	}
	return b.String()
}

func (e *engine) connectAgents(ctx context.Context) error {
	for i := 0; i < e.cfg.Agents; i++ {
		a := &agent{e: e, idx: i, login: i % len(e.cfg.Logins), target: i % len(e.cfg.Targets),
			replies: make(chan replyJob, 1<<16), pend: map[replyKey]int64{}}
		hc, err := e.signIn(ctx, a.login, a.target, i)
		if err != nil {
			return err
		}
		s, err := a.dial(ctx, hc, a.target)
		if err != nil {
			return fmt.Errorf("agent socket %d on %s: %w", i, e.cfg.Targets[a.target], err)
		}
		e.markUp(s, &e.c.agentsUp)
		a.link.setLive(s)
		e.agents = append(e.agents, a)
		cctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
		_, err = s.call(cctx, "availability", map[string]any{"availability": "available"})
		cancel()
		if err != nil {
			return fmt.Errorf("agent socket %d: availability: %w", i, err)
		}
	}
	return nil
}

// signIn signs a login in on a target once and returns the client holding
// its session cookie.
func (e *engine) signIn(ctx context.Context, login, target, clientIdx int) (*http.Client, error) {
	e.signMu.Lock()
	defer e.signMu.Unlock()
	k := signKey{login, target}
	if hc := e.signed[k]; hc != nil {
		return hc, nil
	}
	l := e.cfg.Logins[login]
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Transport: e.client(clientIdx).Transport, Jar: jar, Timeout: e.cfg.ConnectTimeout}
	url := e.cfg.Targets[target]
	if err := postJSON(ctx, hc, url+"/api/v1/auth/login", map[string]string{"email": l.Email, "password": l.Password}, nil); err != nil {
		return nil, fmt.Errorf("agent sign-in as %s on %s: %w", l.Email, url, err)
	}
	e.signed[k] = hc
	return hc, nil
}

// dial opens an agent socket on a target.
func (a *agent) dial(ctx context.Context, hc *http.Client, target int) (*sock, error) {
	e := a.e
	dctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
	defer cancel()
	c, err := dialWS(dctx, e.wsURL(e.cfg.Targets[target], "/ws/staff"), e.localAddr(a.idx), cookieHeader(hc, e.cfg.Targets[target]), agentReadBuf)
	if err != nil {
		return nil, err
	}
	return newSock(c, a.handle, func(s *sock, err error) { e.sockExit(s, err, &e.c.agentsUp, "agent socket closed") }), nil
}

// markUp counts a socket as held (once; sockExit uncounts it).
func (e *engine) markUp(s *sock, up *atomic.Int64) {
	up.Add(1)
	s.counted.Store(true)
	select {
	case <-s.done: // closed in between: sockExit may have run before counted was set
		if s.counted.CompareAndSwap(true, false) {
			up.Add(-1)
			if !e.closing.Load() && !s.dropping.Load() {
				e.c.dropped.Add(1)
			}
		}
	default:
	}
}

func (e *engine) sockExit(s *sock, err error, up *atomic.Int64, what string) {
	if !s.counted.CompareAndSwap(true, false) {
		return
	}
	up.Add(-1)
	if !e.closing.Load() && !s.dropping.Load() {
		e.c.dropped.Add(1)
		e.noteErr(what, err)
	}
}

// agentFor picks the agent socket that follows visitor i's chat. With several
// targets it is one on the next target (round-robin among them), so messages
// cross nodes; with one target, agent i mod agents.
func (e *engine) agentFor(i int) *agent {
	t := len(e.cfg.Targets)
	want := (i%t + 1) % t
	var on []*agent
	for _, a := range e.agents {
		if a.idx%t == want {
			on = append(on, a)
		}
	}
	if len(on) == 0 {
		return e.agents[i%len(e.agents)]
	}
	return on[(i/t)%len(on)]
}

func (e *engine) connectVisitors(ctx context.Context) {
	n := e.cfg.Visitors
	burst := max(1, int(e.cfg.ConnectRate/20))
	lim := rate.NewLimiter(rate.Limit(e.cfg.ConnectRate), burst)
	jobs := make(chan int)
	workers := min(n, max(8, min(512, int(e.cfg.ConnectRate/4))))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if lim.Wait(ctx) != nil {
					continue
				}
				e.c.attempted.Add(1)
				e.connectVisitor(ctx, i)
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

func (e *engine) connectVisitor(ctx context.Context, i int) {
	target := i % len(e.cfg.Targets)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
	defer cancel()
	var sess struct {
		Token string `json:"token"`
	}
	if err := postJSON(ctx, e.client(i), e.cfg.Targets[target]+"/api/v1/visitor/sessions", map[string]string{"site_key": e.cfg.Site}, &sess); err != nil {
		e.c.sessionFail.Add(1)
		e.noteErr("visitor session", err)
		return
	}
	v := &visitor{e: e, idx: i, target: target, token: sess.Token, ackCh: make(chan struct{}, 1), aAckCh: make(chan struct{}, 1), vPend: map[int]int64{}}
	s, err := v.dial(ctx, target)
	if err != nil {
		e.c.connectFail.Add(1)
		e.noteErr("visitor socket", err)
		return
	}
	if err := v.auth(ctx, s); err != nil {
		e.c.authFail.Add(1)
		e.noteErr("visitor auth", err)
		s.closeNow()
		return
	}
	if !e.cfg.Idle {
		if err := v.setupChat(ctx, s); err != nil {
			e.c.setupFail.Add(1)
			e.noteErr("chat setup", err)
			s.closeNow()
			return
		}
	}
	e.markUp(s, &e.c.visitorsUp)
	v.link.setLive(s)
	e.visitors[i].Store(v)
}

func (v *visitor) dial(ctx context.Context, target int) (*sock, error) {
	e := v.e
	c, err := dialWS(ctx, e.wsURL(e.cfg.Targets[target], "/ws/visitor"), e.localAddr(v.idx), "", visitorReadBuf)
	if err != nil {
		return nil, err
	}
	return newSock(c, v.handle, func(s *sock, err error) { e.sockExit(s, err, &e.c.visitorsUp, "visitor socket closed") }), nil
}

func (v *visitor) auth(ctx context.Context, s *sock) error {
	res, err := s.call(ctx, "auth", map[string]string{"token": v.token})
	if err != nil {
		return err
	}
	v.e.noteEpoch(res)
	return nil
}

// noteEpoch keeps the store's epoch from an auth or subscribe ack.
func (e *engine) noteEpoch(res json.RawMessage) (recovered bool) {
	var a struct {
		Epoch     string `json:"epoch"`
		Recovered *bool  `json:"recovered"`
	}
	if json.Unmarshal(res, &a) == nil && a.Epoch != "" {
		e.epoch.Store(a.Epoch)
	}
	return a.Recovered == nil || *a.Recovered
}

func (v *visitor) setupChat(ctx context.Context, s *sock) error {
	res, err := s.call(ctx, "request_chat", map[string]any{})
	if err != nil {
		return fmt.Errorf("request_chat: %w", err)
	}
	var view struct {
		Conversation struct {
			ID int64 `json:"id"`
		} `json:"conversation"`
	}
	if err := json.Unmarshal(res, &view); err != nil || view.Conversation.ID == 0 {
		return errors.New("request_chat: no conversation in the ack")
	}
	v.conv = view.Conversation.ID
	if res, err = s.call(ctx, "subscribe", map[string]any{"conversation_id": v.conv, "after_seq": 0}); err != nil {
		return fmt.Errorf("visitor subscribe: %w", err)
	}
	v.e.noteEpoch(res)
	v.ag = v.e.agentFor(v.idx)
	as := v.ag.link.wait(ctx)
	if as == nil {
		return errors.New("agent socket closed")
	}
	v.ag.mu.Lock()
	v.ag.follows = append(v.ag.follows, v)
	v.ag.mu.Unlock()
	if _, err := as.call(ctx, "subscribe", map[string]any{"conversation_id": v.conv, "after_seq": 0}); err != nil {
		return fmt.Errorf("agent subscribe: %w", err)
	}
	if v.e.cfg.agentsJoin() {
		if _, err := as.call(ctx, "join", map[string]any{"conversation_id": v.conv}); err != nil {
			return fmt.Errorf("agent join: %w", err)
		}
	}
	return nil
}

// sendLoop sends messages 1, 2, … with send(n) until ctx ends (or send
// fails). Rate 0: closed loop, each message waits for the answer to the
// previous one (inflight back to 0, signalled on ackCh). Otherwise open loop:
// one message every interval (chats/rate), a beat skipped while
// MaxInFlight are unanswered. l is the link the messages go out on: during a
// reconnect storm a closed loop waits for it, an open loop keeps its
// schedule (the sends wait for the new socket).
func (e *engine) sendLoop(ctx context.Context, l *link, inflight *atomic.Int64, ackCh chan struct{}, send func(n int) bool) {
	if e.cfg.Rate == 0 {
		for n := 1; ctx.Err() == nil; n++ {
			if l.wait(ctx) == nil || !send(n) {
				return
			}
			for inflight.Load() > 0 {
				s := l.wait(ctx)
				if s == nil {
					return
				}
				select {
				case <-ackCh:
				case <-ctx.Done():
					return
				case <-s.done:
				}
			}
		}
		return
	}
	active := 0
	for i := range e.visitors {
		if e.visitors[i].Load() != nil {
			active++
		}
	}
	interval := time.Duration(float64(active) / e.cfg.Rate * float64(time.Second))
	if interval <= 0 {
		interval = time.Microsecond
	}
	// A random phase so the senders do not all send at once.
	phase := time.Duration(mrand.Int64N(int64(interval)))
	select {
	case <-time.After(phase):
	case <-ctx.Done():
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 1; ; {
		if inflight.Load() >= int64(e.cfg.MaxInFlight) {
			e.c.skipped.Add(1)
		} else {
			if !send(n) {
				return
			}
			n++
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// writer sends this visitor's messages until ctx ends.
func (v *visitor) writer(ctx context.Context) {
	v.e.sendLoop(ctx, &v.link, &v.inflight, v.ackCh, v.send)
}

// agentWriter sends the agent's messages to this visitor's chat until ctx
// ends (Direction agent or both).
func (v *visitor) agentWriter(ctx context.Context) {
	a := v.ag
	v.e.sendLoop(ctx, &a.link, &v.aInflight, v.aAckCh, func(n int) bool { return a.send(v, n) })
}

// send sends message n, or keeps it for the next socket while the visitor
// reconnects. False when the socket failed by itself.
func (v *visitor) send(n int) bool {
	e := v.e
	ts := time.Now().UnixNano()
	v.mu.Lock()
	v.vSent.set(n)
	v.vPend[n] = ts
	s := v.link.current()
	v.mu.Unlock()
	e.c.vSent.Add(1)
	if e.inWindow(ts) {
		e.c.wvSent.Add(1)
	}
	v.inflight.Add(1)
	if s == nil {
		return true // resent by resume
	}
	if err := s.writeSend(e, 'v', v.idx, n, ts, v.conv); err != nil {
		if s.dropping.Load() {
			return true // resent by resume
		}
		v.mu.Lock()
		delete(v.vPend, n)
		v.mu.Unlock()
		v.inflight.Add(-1)
		e.c.vErr.Add(1)
		e.noteErr("visitor send", err)
		return false
	}
	return true
}

// deliveries is how many times a delivered message is counted: once, or
// what the test hook says (0 loses it, 2 duplicates it).
func (e *engine) deliveries(dir byte, vis, n int) int {
	if e.cfg.testDeliver == nil {
		return 1
	}
	return e.cfg.testDeliver(dir, vis, n)
}

// handle runs on the visitor's reader goroutine.
func (v *visitor) handle(f *inFrame) {
	e := v.e
	switch string(f.Type) {
	case "ack", "error":
		if len(f.ID) < 2 || f.ID[0] != 's' {
			return
		}
		n, ok := atoi(f.ID[1:])
		if !ok {
			return
		}
		isAck := string(f.Type) == "ack"
		v.mu.Lock()
		_, pending := v.vPend[n]
		delete(v.vPend, n)
		if pending && isAck {
			v.vAcked.set(n)
		}
		v.mu.Unlock()
		if !pending {
			return // a second answer to a resent send
		}
		if isAck {
			e.c.vAcked.Add(1)
		} else {
			e.c.vErr.Add(1)
			e.noteErr("visitor send", f.err())
		}
		v.inflight.Add(-1)
		select {
		case v.ackCh <- struct{}{}:
		default:
		}
	case "message":
		body, ok := jsonString(f.Data, "body")
		if !ok {
			return
		}
		dir, vis, n, ts, ok := e.parseBody(body)
		if !ok || vis != v.idx {
			return
		}
		v.mu.Lock()
		v.vSeq = max(v.vSeq, f.Seq)
		v.mu.Unlock()
		if dir != 'a' {
			return
		}
		now := time.Now()
		for k := e.deliveries(dir, vis, n); k > 0; k-- {
			v.mu.Lock()
			dup := v.aDeliv.set(n)
			v.mu.Unlock()
			if dup {
				e.c.aDup.Add(1)
				continue
			}
			e.c.aDelivered.Add(1)
			if e.inWindow(ts) {
				e.c.waDelivered.Add(1)
				e.a2v.Record(now.Sub(time.Unix(0, ts)))
			}
		}
	}
}

// handle runs on the agent's reader goroutine.
func (a *agent) handle(f *inFrame) {
	e := a.e
	switch string(f.Type) {
	case "ack", "error":
		// agent message ids: r<visitor>-<n>
		if len(f.ID) < 2 || f.ID[0] != 'r' {
			return
		}
		i := bytes.IndexByte(f.ID, '-')
		if i < 0 {
			return
		}
		vi, ok1 := atoi(f.ID[1:i])
		n, ok2 := atoi(f.ID[i+1:])
		if !ok1 || !ok2 || vi >= len(e.visitors) {
			return
		}
		v := e.visitors[vi].Load()
		if v == nil {
			return
		}
		a.mu.Lock()
		_, pending := a.pend[replyKey{vi, n}]
		delete(a.pend, replyKey{vi, n})
		a.mu.Unlock()
		if !pending {
			return // a second answer to a resent message
		}
		if string(f.Type) == "ack" {
			v.mu.Lock()
			v.aAcked.set(n)
			v.mu.Unlock()
			e.c.aAcked.Add(1)
		} else {
			e.c.aErr.Add(1)
			e.noteErr("agent send", f.err())
		}
		v.aInflight.Add(-1)
		select {
		case v.aAckCh <- struct{}{}:
		default:
		}
	case "message":
		body, ok := jsonString(f.Data, "body")
		if !ok {
			return
		}
		dir, vi, n, ts, ok := e.parseBody(body)
		if !ok {
			return
		}
		v := e.visitors[vi].Load()
		if v == nil || v.conv != f.ConversationID {
			return
		}
		if dir != 'v' {
			// the agent's own message: only its cursor moves
			v.mu.Lock()
			v.agSeq = max(v.agSeq, f.Seq)
			v.mu.Unlock()
			return
		}
		now := time.Now()
		k := e.deliveries(dir, vi, n)
		v.mu.Lock()
		v.agSeq = max(v.agSeq, f.Seq)
		v.mu.Unlock()
		for ; k > 0; k-- {
			v.mu.Lock()
			dup := v.vDeliv.set(n)
			v.mu.Unlock()
			if dup {
				e.c.vDup.Add(1)
				continue
			}
			e.c.vDelivered.Add(1)
			if e.inWindow(ts) {
				e.c.wvDelivered.Add(1)
				e.v2a.Record(now.Sub(time.Unix(0, ts)))
			}
			if e.cfg.AgentReplies && e.sending.Load() {
				a.replies <- replyJob{v: v}
			}
		}
	}
}

// send sends the agent's message n to v's chat, or keeps it for the next
// socket while the agent reconnects. False when the socket failed by itself.
func (a *agent) send(v *visitor, n int) bool {
	e := a.e
	ts := time.Now().UnixNano()
	v.mu.Lock()
	v.aSent.set(n)
	v.mu.Unlock()
	a.mu.Lock()
	a.pend[replyKey{v.idx, n}] = ts
	s := a.link.current()
	a.mu.Unlock()
	e.c.aSent.Add(1)
	if e.inWindow(ts) {
		e.c.waSent.Add(1)
	}
	v.aInflight.Add(1)
	if s == nil {
		return true // resent by resume
	}
	if err := s.writeSend(e, 'a', v.idx, n, ts, v.conv); err != nil {
		if s.dropping.Load() {
			return true
		}
		a.mu.Lock()
		delete(a.pend, replyKey{v.idx, n})
		a.mu.Unlock()
		v.aInflight.Add(-1)
		e.c.aErr.Add(1)
		e.noteErr("agent send", err)
		return false
	}
	return true
}

// writer sends the agent's replies, in the order the visitor messages came.
// While the agent reconnects, replies wait for the new socket.
func (a *agent) writer(ctx context.Context) {
	next := map[int]int{} // visitor -> last reply number
	for {
		var j replyJob
		select {
		case j = <-a.replies:
		case <-ctx.Done():
			return
		}
		v := j.v
		next[v.idx]++
		if !a.send(v, next[v.idx]) {
			return
		}
	}
}

// pinger sends a ping on every socket every pingEvery, spread over the
// interval, so idle sockets stay open.
func (e *engine) pinger(ctx context.Context, done chan struct{}) {
	defer close(done)
	const slots = int(pingEvery / time.Second)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for k := 0; ; k++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		slot := k % slots
		for i, a := range e.agentList() {
			if s := a.link.current(); s != nil && i%slots == slot {
				_ = s.ping(2 * time.Second)
			}
		}
		for i := range e.visitors {
			if v := e.visitors[i].Load(); v != nil && i%slots == slot && ctx.Err() == nil {
				if s := v.link.current(); s != nil {
					_ = s.ping(2 * time.Second)
				}
			}
		}
	}
}

func (e *engine) progress(stop, done chan struct{}) {
	defer close(done)
	w := e.cfg.Progress
	if w == nil {
		<-stop
		return
	}
	start := time.Now()
	t := time.NewTicker(e.cfg.ProgressEvery)
	defer t.Stop()
	var lastV, lastVD, lastAD int64
	last := time.Now()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		dt := now.Sub(last).Seconds()
		last = now
		vs, vd, ad := e.c.vSent.Load(), e.c.vDelivered.Load(), e.c.aDelivered.Load()
		if e.cfg.agentsSend() {
			vs += e.c.aSent.Load() // agents' own messages (not replies, which answer visitor sends)
		}
		fails := e.c.sessionFail.Load() + e.c.connectFail.Load() + e.c.authFail.Load() + e.c.setupFail.Load()
		line := fmt.Sprintf("[%5.0fs] %-7s conns %d/%d (+%d agents) failed %d dropped %d",
			now.Sub(start).Seconds(), e.phase.Load(), e.c.visitorsUp.Load(), e.cfg.Visitors, e.c.agentsUp.Load(), fails, e.c.dropped.Load())
		if e.storm.started.Load() && !e.storm.finished.Load() {
			line += fmt.Sprintf(" | storm resumed %d/%d", e.c.stormVisitorsOK.Load()+e.c.stormAgentsOK.Load(), e.storm.dropped.Load())
		}
		if !e.cfg.Idle {
			line += fmt.Sprintf(" | sent %s/s  v→a %s/s  a→v %s/s | p99 v→a %s  a→v %s",
				si(float64(vs-lastV)/dt), si(float64(vd-lastVD)/dt), si(float64(ad-lastAD)/dt),
				fmtDur(e.v2a.Quantile(0.99), e.v2a.Count()), fmtDur(e.a2v.Quantile(0.99), e.a2v.Count()))
		}
		lastV, lastVD, lastAD = vs, vd, ad
		fmt.Fprintln(w, line)
	}
}

func fmtDur(d time.Duration, n uint64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func si(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "-"
	case x >= 10000:
		return fmt.Sprintf("%.1fk", x/1000)
	default:
		return fmt.Sprintf("%.0f", x)
	}
}

// postJSON POSTs a JSON body and decodes a JSON answer; any non-2xx status is
// an error carrying the problem's text.
func postJSON(ctx context.Context, hc *http.Client, url string, body, out any) error {
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if res.StatusCode == http.StatusTooManyRequests {
			return fmt.Errorf("HTTP 429 rate_limited (start the server with a large --visitor-session-burst): %s", msg)
		}
		return fmt.Errorf("HTTP %s: %s", res.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("bad JSON answer: %w", err)
		}
	}
	return nil
}
