package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// procLog collects a child process's output (stdout and stderr) and
// reports the address from its JSON "switchboard listening" log line.
type procLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	addr    chan string
	found   bool
}

func (l *procLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := l.partial[:i]
		l.partial = l.partial[i+1:]
		if l.found {
			continue
		}
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "switchboard listening" && rec.Addr != "" {
			l.found = true
			l.addr <- rec.Addr
		}
	}
	return len(p), nil
}

func (l *procLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// serveProc is a real `switchboard serve` process.
type serveProc struct {
	name   string
	cmd    *exec.Cmd
	log    *procLog
	base   string
	exited chan struct{}
}

// buildSwitchboard builds the real binary (a normal build, not -race).
func buildSwitchboard(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "switchboard")
	out, err := exec.Command("go", "build", "-o", bin, "switchboard/cmd/switchboard").CombinedOutput()
	if err != nil {
		t.Fatalf("go build switchboard/cmd/switchboard: %v\n%s", err, out)
	}
	return bin
}

// startServe starts `switchboard serve` on a free loopback port in its own
// process group, waits until /readyz answers 200, and makes sure the
// process is gone when the test ends.
func startServe(t *testing.T, bin, name string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{name: name, log: &procLog{addr: make(chan string, 1)}, exited: make(chan struct{})}
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--node-id", name}, args...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", name, p.cmd.Process.Pid)
		}
		if t.Failed() {
			out := p.log.String()
			if len(out) > 8000 {
				out = "...\n" + out[len(out)-8000:]
			}
			t.Logf("%s output:\n%s", name, out)
		}
	})
	select {
	case addr := <-p.log.addr:
		p.base = "http://" + addr
	case <-p.exited:
		t.Fatalf("%s exited before listening: %v\n%s", name, p.cmd.ProcessState, p.log.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not log its address within 20s\n%s", name, p.log.String())
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := hc.Get(p.base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before ready: %v\n%s", name, p.cmd.ProcessState, p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 20s (last: %v)\n%s", name, err, p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// timeline records the message events one socket receives, in order.
type timeline struct {
	w    *wsClient
	msgs []frame
}

func (tl *timeline) add(f frame) {
	if f.Type == "message" {
		tl.msgs = append(tl.msgs, f)
	}
}

// waitSeq reads events until a message with seq ≥ seq has arrived.
func (tl *timeline) waitSeq(t *testing.T, seq int64, timeout time.Duration) {
	t.Helper()
	if tl.last() >= seq {
		return
	}
	deadline := time.After(timeout)
	for {
		select {
		case f := <-tl.w.events:
			tl.add(f)
			if f.Type == "message" && f.Seq >= seq {
				return
			}
		case <-deadline:
			t.Fatalf("no message with seq ≥ %d within %s (last seen %d)", seq, timeout, tl.last())
		}
	}
}

// waitFor reads events until a message matching pred has arrived (or had).
func (tl *timeline) waitFor(t *testing.T, pred func(frame) bool, timeout time.Duration) frame {
	t.Helper()
	for _, f := range tl.msgs {
		if pred(f) {
			return f
		}
	}
	deadline := time.After(timeout)
	for {
		select {
		case f := <-tl.w.events:
			tl.add(f)
			if f.Type == "message" && pred(f) {
				return f
			}
		case <-deadline:
			t.Fatalf("no matching message within %s (last seen seq %d)", timeout, tl.last())
			return frame{}
		}
	}
}

func msgClientID(f frame) string {
	var m struct {
		ClientID string `json:"client_id"`
	}
	_ = json.Unmarshal(f.Data, &m)
	return m.ClientID
}

// drainNow takes the events already received, without waiting.
func (tl *timeline) drainNow() {
	for {
		select {
		case f := <-tl.w.events:
			tl.add(f)
		default:
			return
		}
	}
}

func (tl *timeline) last() int64 {
	var m int64
	for _, f := range tl.msgs {
		m = max(m, f.Seq)
	}
	return m
}

func (tl *timeline) seqs() []int64 {
	out := make([]int64, len(tl.msgs))
	for i, f := range tl.msgs {
		out[i] = f.Seq
	}
	return out
}

// pending is one visitor message sent while node A is killed.
type pending struct {
	clientID string
	body     string
	acked    bool
	seq      int64
}

// TestSIGKILLNodeLosesNothing: two real `switchboard serve` processes share
// one PostgreSQL and one NATS. A visitor on node A chats with an agent on
// node B; node A is killed with SIGKILL while the visitor keeps sending.
// The visitor reconnects to node B, resumes from its cursor and resends
// what was not acknowledged with the same client ids: nothing acknowledged
// is lost, nothing is duplicated, the timeline has no gaps, and the agent
// sees every message exactly once, in order.
func TestSIGKILLNodeLosesNothing(t *testing.T) {
	dsn := postgresDB(t)
	natsURL := startNATS(t)
	bin := buildSwitchboard(t)
	subject := fmt.Sprintf("sbtest.sigkill.%d", time.Now().UnixNano())
	common := []string{"--store", dsn, "--bus", natsURL, "--bus-subject", subject}

	procA := startServe(t, bin, "node-a", append([]string{"--data", t.TempDir(), "--demo"}, common...)...)
	procB := startServe(t, bin, "node-b", append([]string{"--data", t.TempDir()}, common...)...)
	nodeA := &node{t: t, base: procA.base}
	nodeB := &node{t: t, base: procB.base}

	// The agent lives on node B for the whole test.
	alice := nodeB.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	if f := aw.send("availability", map[string]any{"availability": "available"}); f.Type != "ack" {
		t.Fatalf("availability: %+v", f.Error)
	}

	// The visitor starts on node A.
	v := nodeA.newVisitor("demo", "")
	vw, auth := v.ws()
	epoch, _ := auth["epoch"].(string)
	if epoch == "" {
		t.Fatalf("auth ack on node A has no epoch: %v", auth)
	}
	conv := requestChat(t, vw, "hello from node A")
	aw.waitEvent("chat", func(f frame) bool { return f.ConversationID == conv })
	if f := aw.send("join", map[string]any{"conversation_id": conv}); f.Type != "ack" {
		t.Fatalf("join on node B: %+v", f.Error)
	}
	agentTL := &timeline{w: aw}
	if f := aw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}); f.Type != "ack" {
		t.Fatalf("agent subscribe: %+v", f.Error)
	}
	visTL := &timeline{w: vw}
	if f := vw.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": 0}); f.Type != "ack" {
		t.Fatalf("visitor subscribe: %+v", f.Error)
	}

	// Cross-node delivery works both ways before the fault.
	for i := 0; i < 3; i++ {
		m := sendMsg(t, vw, conv, fmt.Sprintf("warm-v%d", i), fmt.Sprintf("visitor warm-up %d", i))
		agentTL.waitSeq(t, m.Seq, 10*time.Second)
		r := sendMsg(t, aw, conv, fmt.Sprintf("warm-a%d", i), fmt.Sprintf("agent warm-up %d", i))
		visTL.waitSeq(t, r.Seq, 10*time.Second)
	}

	// The visitor keeps sending (up to 8 messages in flight, like a fast
	// typist on a slow link) while node A is killed.
	const inFlight, killAfter, maxSends = 8, 20, 5000
	var (
		mu       sync.Mutex
		sent     []*pending
		acked    int
		errFrame []string
	)
	reached := make(chan struct{})
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		var wg sync.WaitGroup
		defer wg.Wait()
		sem := make(chan struct{}, inFlight)
		for i := 0; i < maxSends; i++ {
			select {
			case <-vw.closed:
				return
			case sem <- struct{}{}:
			}
			select {
			case <-vw.closed:
				return
			default:
			}
			p := &pending{clientID: fmt.Sprintf("kill-%04d", i), body: fmt.Sprintf("numbered %04d", i)}
			mu.Lock()
			sent = append(sent, p)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				f, err := vw.trySend("send", map[string]any{"conversation_id": conv, "client_id": p.clientID, "body": p.body}, 5*time.Second)
				if err != nil {
					return // no answer: the widget resends it after reconnecting
				}
				mu.Lock()
				defer mu.Unlock()
				if f.Type != "ack" {
					code := "?"
					if f.Error != nil {
						code = f.Error.Code
					}
					errFrame = append(errFrame, p.clientID+": "+code)
					return
				}
				var m message
				if json.Unmarshal(f.Data, &m) != nil || m.Seq <= 0 {
					errFrame = append(errFrame, p.clientID+": bad ack "+string(f.Data))
					return
				}
				p.acked, p.seq = true, m.Seq
				acked++
				if acked == killAfter {
					close(reached)
				}
			}()
		}
	}()
	select {
	case <-reached:
	case <-senderDone:
		t.Fatalf("the sender stopped before %d acks (errors: %v)", killAfter, errFrame)
	case <-time.After(15 * time.Second):
		t.Fatalf("fewer than %d sends acknowledged within 15s", killAfter)
	}

	// One more message is committed on node A but its ack never reaches the
	// widget (as when the node dies between commit and write): it is sent
	// with a frame id the client does not wait for, and node A is killed
	// only once the agent on node B has seen it, so it is in the store.
	lost := &pending{clientID: "kill-lost-ack", body: "committed, ack lost"}
	lostFrame, _ := json.Marshal(map[string]any{"id": "lost-ack", "type": "send",
		"data": map[string]any{"conversation_id": conv, "client_id": lost.clientID, "body": lost.body}})
	if err := vw.raw(lostFrame); err != nil {
		t.Fatalf("send the lost-ack message: %v", err)
	}
	lostSeq := agentTL.waitFor(t, func(f frame) bool { return msgClientID(f) == lost.clientID }, 10*time.Second).Seq

	// SIGKILL node A mid-conversation: no graceful stop, no goodbye frames.
	if err := syscall.Kill(procA.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill node A: %v", err)
	}
	select {
	case <-procA.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("node A did not die")
	}
	if ws, ok := procA.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("node A ended with %v, not by SIGKILL", procA.cmd.ProcessState)
	}
	select {
	case <-vw.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the visitor's socket to the killed node did not close")
	}
	select {
	case <-senderDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the sender did not stop after node A died")
	}
	mu.Lock()
	if len(errFrame) > 0 {
		t.Errorf("sends answered with errors before the kill: %v", errFrame)
	}
	var ackedMsgs, unacked []*pending
	for _, p := range sent {
		if p.acked {
			ackedMsgs = append(ackedMsgs, p)
		} else {
			unacked = append(unacked, p)
		}
	}
	unacked = append(unacked, lost)
	mu.Unlock()
	visTL.drainNow() // everything node A wrote before it died
	cursor := visTL.last()
	t.Logf("before the kill: %d sends, %d acknowledged, %d unanswered; visitor cursor at seq %d", len(ackedMsgs)+len(unacked), len(ackedMsgs), len(unacked), cursor)

	// The visitor reconnects to node B with the same token and resumes.
	v.n = nodeB
	vw2, auth2 := v.ws()
	if auth2["epoch"] != epoch {
		t.Fatalf("epoch on node B %v, node A said %q", auth2["epoch"], epoch)
	}
	visTL2 := &timeline{w: vw2}
	res := vw2.send("subscribe", map[string]any{"conversation_id": conv, "after_seq": cursor, "epoch": epoch})
	if res.Type != "ack" {
		t.Fatalf("resume subscribe on node B: %+v", res.Error)
	}
	sub := decode[struct {
		Recovered bool  `json:"recovered"`
		LastSeq   int64 `json:"last_seq"`
	}](t, res.Data)
	if !sub.Recovered {
		t.Fatalf("resume on node B after_seq=%d: recovered=false (last_seq %d)", cursor, sub.LastSeq)
	}
	// Resend everything that was not answered, with the same client ids.
	for _, p := range unacked {
		m := sendMsg(t, vw2, conv, p.clientID, p.body)
		p.seq = m.Seq
	}
	// The conversation goes on, on node B, and the agent answers last.
	var after []*pending
	for i := 0; i < 3; i++ {
		p := &pending{clientID: fmt.Sprintf("after-%d", i), body: fmt.Sprintf("after the kill %d", i)}
		p.seq = sendMsg(t, vw2, conv, p.clientID, p.body).Seq
		after = append(after, p)
	}
	final := sendMsg(t, aw, conv, "agent-final", "all received")
	visTL2.waitSeq(t, final.Seq, 10*time.Second)
	agentTL.waitSeq(t, final.Seq, 10*time.Second)

	// The store (through node B's REST API) is the truth.
	var hist struct {
		Messages []message `json:"messages"`
	}
	if st := alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d/messages?limit=1000", conv), nil, &hist); st != 200 {
		t.Fatalf("history on node B: status %d", st)
	}
	msgs := hist.Messages
	n := int64(len(msgs))
	for i, m := range msgs {
		if m.Seq != int64(i+1) {
			t.Fatalf("history seqs are not 1..%d without gaps: position %d has seq %d (seqs %v)", n, i, m.Seq, histSeqs(msgs))
		}
	}
	if n == 0 || msgs[n-1].Seq != final.Seq || msgs[n-1].ClientID != "agent-final" {
		t.Fatalf("the agent's last message (seq %d) is not the end of the history (%d messages)", final.Seq, n)
	}
	byClientID := map[string][]message{}
	for _, m := range msgs {
		if m.ClientID != "" {
			byClientID[m.ClientID] = append(byClientID[m.ClientID], m)
		}
	}
	for cid, ms := range byClientID {
		if len(ms) > 1 {
			t.Errorf("client id %q appears %d times: seqs %v", cid, len(ms), histSeqs(ms))
		}
	}
	check := func(what string, ps []*pending) {
		for _, p := range ps {
			ms := byClientID[p.clientID]
			switch {
			case len(ms) == 0:
				t.Errorf("%s message %q (seq %d) is missing from the store", what, p.clientID, p.seq)
			case len(ms) > 1:
				// reported above
			case ms[0].Seq != p.seq || ms[0].Body != p.body || ms[0].AuthorKind != "visitor":
				t.Errorf("%s message %q: acked seq %d body %q, stored %+v", what, p.clientID, p.seq, p.body, ms[0])
			}
		}
	}
	check("acknowledged", ackedMsgs)
	check("resubmitted", unacked)
	check("post-resume", after)
	if lost.seq != lostSeq {
		t.Errorf("resubmitting %q on node B acked seq %d, but it was committed on node A as seq %d", lost.clientID, lost.seq, lostSeq)
	}
	var committedBeforeKill int
	for _, p := range unacked {
		if p.seq <= sub.LastSeq {
			committedBeforeKill++ // committed on node A, its ack lost with the node
		}
	}
	t.Logf("after the resume: %d resubmitted (%d had been committed before the kill), history of %d messages", len(unacked), committedBeforeKill, n)

	// The agent on node B received the whole timeline once, in order.
	agentTL.drainNow()
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if got := agentTL.seqs(); !slices.Equal(got, want) {
		t.Errorf("agent received seqs %v, want 1..%d exactly once in order", got, n)
	}
	// The resumed visitor received what it had missed (and what followed)
	// once, in order: every public message after its cursor.
	visTL2.drainNow()
	var wantVis []int64
	for _, m := range msgs {
		if m.Seq > cursor && m.Visibility != "internal" {
			wantVis = append(wantVis, m.Seq)
		}
	}
	if got := visTL2.seqs(); !slices.Equal(got, wantVis) {
		t.Errorf("resumed visitor received seqs %v, want %v", got, wantVis)
	}
	// Before the kill, the visitor's socket never saw a seq twice either.
	if s := visTL.seqs(); !slices.IsSorted(s) || hasDup(s) {
		t.Errorf("visitor on node A received seqs %v: not strictly increasing", s)
	}
}

func histSeqs(ms []message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func hasDup(s []int64) bool {
	seen := map[int64]bool{}
	for _, x := range s {
		if seen[x] {
			return true
		}
		seen[x] = true
	}
	return false
}
