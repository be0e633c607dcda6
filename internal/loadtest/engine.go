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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
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
}

type engine struct {
	cfg     Config
	run     string
	prefix  string // "sb|<run>|"
	pad     string
	clients []*http.Client // one per source address (or one)

	visitors []atomic.Pointer[visitor] // set as they connect; read by agents' readers
	agents   []*agent
	c        counters
	v2a, a2v Histogram

	measureStart, measureEnd atomic.Int64 // unix ns; 0 = not set
	sending                  atomic.Bool
	closing                  atomic.Bool
	phase                    atomic.Value // string

	errMu sync.Mutex
	errs  map[string]int
}

type visitor struct {
	e     *engine
	idx   int
	s     *sock
	conv  int64
	ag    *agent
	ackCh chan struct{}

	inflight atomic.Int64

	mu                    sync.Mutex
	vSent, vAcked, vDeliv bitset
	aSent, aAcked, aDeliv bitset
}

type agent struct {
	e       *engine
	idx     int
	s       *sock
	replies chan replyJob
}

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
	e := &engine{cfg: cfg, errs: map[string]int{}}
	var rb [4]byte
	_, _ = rand.Read(rb[:])
	e.run = hex.EncodeToString(rb[:])
	e.prefix = "sb|" + e.run + "|"
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
		Idle: cfg.Idle, Rate: cfg.Rate, AgentReplies: cfg.AgentReplies, Size: cfg.Size,
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
	if err := e.connectAgents(ctx); err != nil {
		e.closeAll()
		return nil, err
	}
	e.connectVisitors(ctx)
	rep.Connections.ConnectSeconds = time.Since(connStart).Seconds()

	var rssUp []rssSample
	if len(cfg.ServerPIDs) > 0 {
		time.Sleep(time.Second) // let the server finish registering the last sockets
		rssUp = readRSSAll(cfg.ServerPIDs)
	}

	// Load.
	e.phase.Store("load")
	pingCtx, stopPing := context.WithCancel(ctx)
	pingDone := make(chan struct{})
	go e.pinger(pingCtx, pingDone)
	var cpuStart []rssSample
	if len(cfg.ServerPIDs) > 0 {
		cpuStart = readRSSAll(cfg.ServerPIDs)
	}
	loadStart := time.Now()
	e.measureStart.Store(loadStart.Add(cfg.Warmup).UnixNano())
	e.measureEnd.Store(loadStart.Add(cfg.Warmup + cfg.Duration).UnixNano())
	loadCtx, stopLoad := context.WithDeadline(ctx, loadStart.Add(cfg.Warmup+cfg.Duration))
	e.sending.Store(true)
	var wg sync.WaitGroup
	if !cfg.Idle {
		for _, a := range e.agents {
			if cfg.AgentReplies {
				wg.Add(1)
				go func() { defer wg.Done(); a.writer(loadCtx) }()
			}
		}
		for i := range e.visitors {
			if v := e.visitors[i].Load(); v != nil {
				wg.Add(1)
				go func() { defer wg.Done(); v.writer(loadCtx) }()
			}
		}
	}
	<-loadCtx.Done()
	e.sending.Store(false)
	stopLoad()
	wg.Wait()
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

	// Drain: wait for the acks and deliveries still on their way.
	e.phase.Store("drain")
	drainStart := time.Now()
	for time.Since(drainStart) < cfg.Drain && !e.settled() && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	rep.Drain = time.Since(drainStart).Seconds()
	stopPing()
	<-pingDone
	endProgress()
	e.closeAll()

	e.fill(rep)
	rep.ServerRSS = rssReport(rssBefore, rssUp, cpuStart, rssEnd, rep.Connections.HeldVisitors+rep.Connections.HeldAgents)
	rep.judge()
	return rep, nil
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
		socks = append(socks, a.s)
	}
	for i := range e.visitors {
		if v := e.visitors[i].Load(); v != nil {
			socks = append(socks, v.s)
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

func (e *engine) client(i int) *http.Client { return e.clients[i%len(e.clients)] }

func (e *engine) connectAgents(ctx context.Context) error {
	type key struct{ login, target int }
	signed := map[key]*http.Client{}
	for i := 0; i < e.cfg.Agents; i++ {
		k := key{i % len(e.cfg.Logins), i % len(e.cfg.Targets)}
		target := e.cfg.Targets[k.target]
		hc := signed[k]
		if hc == nil {
			l := e.cfg.Logins[k.login]
			jar, _ := cookiejar.New(nil)
			base := e.client(i)
			hc = &http.Client{Transport: base.Transport, Jar: jar, Timeout: e.cfg.ConnectTimeout}
			if err := postJSON(ctx, hc, target+"/api/v1/auth/login", map[string]string{"email": l.Email, "password": l.Password}, nil); err != nil {
				return fmt.Errorf("agent sign-in as %s on %s: %w", l.Email, target, err)
			}
			signed[k] = hc
		}
		dctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
		c, _, err := websocket.Dial(dctx, e.wsURL(target, "/ws/staff"), &websocket.DialOptions{HTTPClient: hc})
		cancel()
		if err != nil {
			return fmt.Errorf("agent socket %d on %s: %w", i, target, err)
		}
		a := &agent{e: e, idx: i, replies: make(chan replyJob, 1<<16)}
		a.s = newSock(c, a.handle, func(err error) {
			e.c.agentsUp.Add(-1)
			if !e.closing.Load() {
				e.c.dropped.Add(1)
				e.noteErr("agent socket closed", err)
			}
		})
		e.c.agentsUp.Add(1)
		e.agents = append(e.agents, a)
		cctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
		_, err = a.s.call(cctx, "availability", map[string]any{"availability": "available"})
		cancel()
		if err != nil {
			return fmt.Errorf("agent socket %d: availability: %w", i, err)
		}
	}
	return nil
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
	e.visitors = make([]atomic.Pointer[visitor], n)
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
	target := e.cfg.Targets[i%len(e.cfg.Targets)]
	hc := e.client(i)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.ConnectTimeout)
	defer cancel()
	var sess struct {
		Token string `json:"token"`
	}
	if err := postJSON(ctx, hc, target+"/api/v1/visitor/sessions", map[string]string{"site_key": e.cfg.Site}, &sess); err != nil {
		e.c.sessionFail.Add(1)
		e.noteErr("visitor session", err)
		return
	}
	c, _, err := websocket.Dial(ctx, e.wsURL(target, "/ws/visitor"), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		e.c.connectFail.Add(1)
		e.noteErr("visitor socket", err)
		return
	}
	v := &visitor{e: e, idx: i, ackCh: make(chan struct{}, 1)}
	var up atomic.Bool
	v.s = newSock(c, v.handle, func(err error) {
		if up.Load() {
			e.c.visitorsUp.Add(-1)
			if !e.closing.Load() {
				e.c.dropped.Add(1)
				e.noteErr("visitor socket closed", err)
			}
		}
	})
	if _, err := v.s.call(ctx, "auth", map[string]string{"token": sess.Token}); err != nil {
		e.c.authFail.Add(1)
		e.noteErr("visitor auth", err)
		v.s.closeNow()
		return
	}
	if !e.cfg.Idle {
		if err := v.setupChat(ctx); err != nil {
			e.c.setupFail.Add(1)
			e.noteErr("chat setup", err)
			v.s.closeNow()
			return
		}
	}
	up.Store(true)
	e.c.visitorsUp.Add(1)
	select {
	case <-v.s.done: // closed in between: onExit saw up=false
		e.c.visitorsUp.Add(-1)
		e.c.dropped.Add(1)
	default:
	}
	e.visitors[i].Store(v)
}

func (v *visitor) setupChat(ctx context.Context) error {
	res, err := v.s.call(ctx, "request_chat", map[string]any{})
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
	if _, err := v.s.call(ctx, "subscribe", map[string]any{"conversation_id": v.conv, "after_seq": 0}); err != nil {
		return fmt.Errorf("visitor subscribe: %w", err)
	}
	v.ag = v.e.agentFor(v.idx)
	if _, err := v.ag.s.call(ctx, "subscribe", map[string]any{"conversation_id": v.conv, "after_seq": 0}); err != nil {
		return fmt.Errorf("agent subscribe: %w", err)
	}
	if v.e.cfg.AgentReplies {
		if _, err := v.ag.s.call(ctx, "join", map[string]any{"conversation_id": v.conv}); err != nil {
			return fmt.Errorf("agent join: %w", err)
		}
	}
	return nil
}

// body builds a message body: prefix, direction, visitor, number, send time,
// then padding up to the configured size.
func (e *engine) body(dir byte, vis, n int, ts int64) string {
	var b strings.Builder
	b.Grow(max(e.cfg.Size, 64))
	b.WriteString(e.prefix)
	b.WriteByte(dir)
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(vis))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(n))
	b.WriteByte('|')
	b.WriteString(strconv.FormatInt(ts, 10))
	b.WriteByte('|')
	if pad := e.cfg.Size - b.Len(); pad > 0 {
		b.WriteString(e.pad[:pad])
	}
	return b.String()
}

// parseBody undoes body; ok is false for anything this run did not write.
func (e *engine) parseBody(body string) (dir byte, vis, n int, ts int64, ok bool) {
	rest, found := strings.CutPrefix(body, e.prefix)
	if !found || len(rest) < 2 || rest[1] != '|' {
		return 0, 0, 0, 0, false
	}
	dir = rest[0]
	parts := strings.SplitN(rest[2:], "|", 4)
	if len(parts) < 4 {
		return 0, 0, 0, 0, false
	}
	var err1, err2, err3 error
	vis, err1 = strconv.Atoi(parts[0])
	n, err2 = strconv.Atoi(parts[1])
	ts, err3 = strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || vis < 0 || vis >= len(e.visitors) || n <= 0 {
		return 0, 0, 0, 0, false
	}
	return dir, vis, n, ts, true
}

type messageData struct {
	Body string `json:"body"`
}

// writer sends this visitor's messages until ctx ends.
func (v *visitor) writer(ctx context.Context) {
	e := v.e
	if e.cfg.Rate == 0 {
		for n := 1; ctx.Err() == nil; n++ {
			if !v.send(n) {
				return
			}
			select {
			case <-v.ackCh:
			case <-ctx.Done():
				return
			case <-v.s.done:
				return
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
	// A random phase so the visitors do not all send at once.
	phase := time.Duration(mrand.Int64N(int64(interval)))
	select {
	case <-time.After(phase):
	case <-ctx.Done():
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 1; ; {
		if v.inflight.Load() >= int64(e.cfg.MaxInFlight) {
			e.c.skipped.Add(1)
		} else {
			if !v.send(n) {
				return
			}
			n++
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		case <-v.s.done:
			return
		}
	}
}

func (v *visitor) send(n int) bool {
	e := v.e
	ts := time.Now().UnixNano()
	body := e.body('v', v.idx, n, ts)
	v.mu.Lock()
	v.vSent.set(n)
	v.mu.Unlock()
	e.c.vSent.Add(1)
	if e.inWindow(ts) {
		e.c.wvSent.Add(1)
	}
	v.inflight.Add(1)
	err := v.s.write("s"+strconv.Itoa(n), "send",
		map[string]any{"conversation_id": v.conv, "client_id": "sb" + e.run + "-v" + strconv.Itoa(v.idx) + "-" + strconv.Itoa(n), "body": body}, 10*time.Second)
	if err != nil {
		v.inflight.Add(-1)
		e.c.vErr.Add(1)
		e.noteErr("visitor send", err)
		return false
	}
	return true
}

// handle runs on the visitor's reader goroutine.
func (v *visitor) handle(f *inFrame) {
	e := v.e
	switch f.Type {
	case "ack", "error":
		if len(f.ID) < 2 || f.ID[0] != 's' {
			return
		}
		n, err := strconv.Atoi(f.ID[1:])
		if err != nil {
			return
		}
		if f.Type == "ack" {
			v.mu.Lock()
			v.vAcked.set(n)
			v.mu.Unlock()
			e.c.vAcked.Add(1)
		} else {
			e.c.vErr.Add(1)
			e.noteErr("visitor send", f.Error)
		}
		v.inflight.Add(-1)
		select {
		case v.ackCh <- struct{}{}:
		default:
		}
	case "message":
		var m messageData
		if json.Unmarshal(f.Data, &m) != nil {
			return
		}
		dir, vis, n, ts, ok := e.parseBody(m.Body)
		if !ok || dir != 'a' || vis != v.idx {
			return
		}
		now := time.Now()
		v.mu.Lock()
		dup := v.aDeliv.set(n)
		v.mu.Unlock()
		if dup {
			e.c.aDup.Add(1)
			return
		}
		e.c.aDelivered.Add(1)
		if e.inWindow(ts) {
			e.c.waDelivered.Add(1)
			e.a2v.Record(now.Sub(time.Unix(0, ts)))
		}
	}
}

// handle runs on the agent's reader goroutine.
func (a *agent) handle(f *inFrame) {
	e := a.e
	switch f.Type {
	case "ack", "error":
		// reply ids: r<visitor>-<n>
		if len(f.ID) < 2 || f.ID[0] != 'r' {
			return
		}
		vs, ns, ok := strings.Cut(f.ID[1:], "-")
		if !ok {
			return
		}
		vi, err1 := strconv.Atoi(vs)
		n, err2 := strconv.Atoi(ns)
		if err1 != nil || err2 != nil || vi < 0 || vi >= len(e.visitors) || e.visitors[vi].Load() == nil {
			return
		}
		if f.Type == "ack" {
			v := e.visitors[vi].Load()
			v.mu.Lock()
			v.aAcked.set(n)
			v.mu.Unlock()
			e.c.aAcked.Add(1)
		} else {
			e.c.aErr.Add(1)
			e.noteErr("agent send", f.Error)
		}
	case "message":
		var m messageData
		if json.Unmarshal(f.Data, &m) != nil {
			return
		}
		dir, vi, n, ts, ok := e.parseBody(m.Body)
		if !ok || dir != 'v' {
			return
		}
		v := e.visitors[vi].Load()
		if v == nil || v.conv != f.ConversationID {
			return
		}
		now := time.Now()
		v.mu.Lock()
		dup := v.vDeliv.set(n)
		v.mu.Unlock()
		if dup {
			e.c.vDup.Add(1)
			return
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

// writer sends the agent's replies, in the order the visitor messages came.
func (a *agent) writer(ctx context.Context) {
	e := a.e
	next := map[int]int{} // visitor -> last reply number
	for {
		var j replyJob
		select {
		case j = <-a.replies:
		case <-ctx.Done():
			return
		case <-a.s.done:
			return
		}
		v := j.v
		next[v.idx]++
		n := next[v.idx]
		ts := time.Now().UnixNano()
		body := e.body('a', v.idx, n, ts)
		v.mu.Lock()
		v.aSent.set(n)
		v.mu.Unlock()
		e.c.aSent.Add(1)
		if e.inWindow(ts) {
			e.c.waSent.Add(1)
		}
		err := a.s.write("r"+strconv.Itoa(v.idx)+"-"+strconv.Itoa(n), "send",
			map[string]any{"conversation_id": v.conv, "client_id": "sb" + e.run + "-a" + strconv.Itoa(v.idx) + "-" + strconv.Itoa(n), "body": body}, 10*time.Second)
		if err != nil {
			e.c.aErr.Add(1)
			e.noteErr("agent send", err)
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
		for i, a := range e.agents {
			if i%slots == slot {
				_ = a.s.write("p", "ping", nil, 2*time.Second)
			}
		}
		for i := range e.visitors {
			if v := e.visitors[i].Load(); v != nil && i%slots == slot && ctx.Err() == nil {
				_ = v.s.write("p", "ping", nil, 2*time.Second)
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
		fails := e.c.sessionFail.Load() + e.c.connectFail.Load() + e.c.authFail.Load() + e.c.setupFail.Load()
		line := fmt.Sprintf("[%5.0fs] %-7s conns %d/%d (+%d agents) failed %d dropped %d",
			now.Sub(start).Seconds(), e.phase.Load(), e.c.visitorsUp.Load(), e.cfg.Visitors, e.c.agentsUp.Load(), fails, e.c.dropped.Load())
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
