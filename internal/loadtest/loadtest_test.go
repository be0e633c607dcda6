package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"switchboard/internal/server"
)

// startNode boots a real node on loopback with the demo data.
func startNode(t *testing.T) string {
	t.Helper()
	srv, err := server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), BcryptCost: 4,
		VisitorStartBurst: 100000, Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SeedDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv.BaseURL()
}

var demoAgent = []Login{{Email: "alice@demo.test", Password: "demo-agent-pass"}}

func TestChatWithAgentReplies(t *testing.T) {
	t.Parallel() // each has its own node
	base := startNode(t)
	var progress bytes.Buffer
	// A paced rate, not "as fast as possible": this test is about nothing
	// lost or duplicated both ways. Saturating the server (each agent socket
	// runs its replies one after another) is the benchmarks' business, and
	// on a loaded CI machine it left replies unanswered at the end of the drain.
	rep, err := Run(context.Background(), Config{Targets: []string{base}, Logins: demoAgent, Agents: 2, Visitors: 20,
		Rate: 100, AgentReplies: true, Size: 100, Duration: 2 * time.Second, Drain: 15 * time.Second,
		Progress: &progress, ProgressEvery: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_ = rep.WriteTable(&out)
	t.Log("\n" + out.String())
	if !rep.OK {
		t.Fatalf("run not OK: %v", rep.Problems)
	}
	if rep.Connections.HeldVisitors != 20 || rep.Connections.HeldAgents != 2 {
		t.Fatalf("held %d visitors, %d agents", rep.Connections.HeldVisitors, rep.Connections.HeldAgents)
	}
	for name, d := range map[string]Direction{"v→a": rep.VisitorToAgent, "a→v": rep.AgentToVisitor} {
		if d.Sent == 0 || d.Acked != d.Sent || d.Delivered != d.Acked || d.Lost != 0 || d.Duplicated != 0 {
			t.Errorf("%s: %+v", name, d)
		}
		if d.Latency.Count == 0 || d.Latency.P50 <= 0 || d.Latency.P99 < d.Latency.P50 || d.Latency.Max < d.Latency.P99 {
			t.Errorf("%s latency: %+v", name, d.Latency)
		}
		if d.SentPerSec <= 0 || d.DelivPerS <= 0 {
			t.Errorf("%s rates: %+v", name, d)
		}
	}
	// JSON is well-formed and carries the figures.
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, js.String())
	}
	v2a := back["visitor_to_agent"].(map[string]any)
	if v2a["lost"].(float64) != 0 || v2a["latency_ms"].(map[string]any)["p99"].(float64) <= 0 || back["ok"] != true {
		t.Fatalf("JSON: %s", js.String())
	}
	if !strings.Contains(progress.String(), "conns 20/20") || !strings.Contains(progress.String(), "p99 v→a") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

func TestRateOpenLoop(t *testing.T) {
	base := startNode(t)
	// The same node twice stands for two nodes: the round-robin and the
	// cross-target pairing of visitors with agents are exercised.
	logins := []Login{demoAgent[0], {Email: "bob@demo.test", Password: "demo-agent-pass"}}
	rep, err := Run(context.Background(), Config{Targets: []string{base, base + "/"}, Logins: logins, Agents: 3, Visitors: 10,
		Rate: 200, Duration: 1500 * time.Millisecond, Drain: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("run not OK: %v", rep.Problems)
	}
	// 200/s for 1.5 s: about 300 sends (timer jitter under -race aside).
	if s := rep.VisitorToAgent.Sent; s < 150 || s > 330 {
		t.Fatalf("sent %d at 200/s for 1.5 s", s)
	}
	if rep.AgentToVisitor.Sent != 0 {
		t.Fatalf("agent sent %d without --agent-replies", rep.AgentToVisitor.Sent)
	}
}

func TestIdleSockets(t *testing.T) {
	t.Parallel() // each has its own node
	base := startNode(t)
	rep, err := Run(context.Background(), Config{Targets: []string{base}, Visitors: 200, Idle: true,
		Duration: 500 * time.Millisecond, ServerPIDs: []int{os.Getpid()}, SourceIPs: mustIPs(t, "127.0.0.1-127.0.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Connections.HeldVisitors != 200 || rep.Connections.Attempted != 200 {
		t.Fatalf("idle run: ok=%v held=%d problems=%v errors=%v", rep.OK, rep.Connections.HeldVisitors, rep.Problems, rep.Errors)
	}
	if rep.VisitorToAgent.Sent != 0 {
		t.Fatalf("idle visitors sent %d messages", rep.VisitorToAgent.Sent)
	}
	if rep.Connections.Reachable != 200 || rep.Connections.Unreachable != 0 {
		t.Fatalf("reachable %d, unreachable %d, want 200 and 0", rep.Connections.Reachable, rep.Connections.Unreachable)
	}
	if len(rep.ServerRSS) != 1 || rep.ServerRSS[0].BeforeKB <= 0 || rep.ServerRSS[0].UpKB <= 0 || rep.ServerRSS[0].Connections != 200 {
		t.Fatalf("RSS: %+v", rep.ServerRSS)
	}
	var out bytes.Buffer
	_ = rep.WriteTable(&out)
	if !strings.Contains(out.String(), "held 200/200 visitors") || !strings.Contains(out.String(), "per connection") {
		t.Fatalf("table:\n%s", out.String())
	}
}

func mustIPs(t *testing.T, s string) []netip.Addr {
	t.Helper()
	ips, err := ParseSourceIPs(s)
	if err != nil {
		t.Fatal(err)
	}
	return ips
}

func TestWrongTargetFailsFast(t *testing.T) {
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = Run(context.Background(), Config{Targets: []string{"http://" + addr}, Logins: demoAgent, Agents: 1, Visitors: 10, Duration: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "not answering") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

func TestWrongAgentPassword(t *testing.T) {
	t.Parallel() // each has its own node
	base := startNode(t)
	_, err := Run(context.Background(), Config{Targets: []string{base}, Logins: []Login{{"alice@demo.test", "nope"}}, Agents: 1, Visitors: 1, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "agent sign-in as alice@demo.test") {
		t.Fatalf("err = %v", err)
	}
}

func TestBadConfig(t *testing.T) {
	ok := Config{Targets: []string{"http://127.0.0.1:8080"}, Logins: demoAgent, Agents: 1, Visitors: 1, Duration: time.Second}
	for name, mut := range map[string]func(*Config){
		"no target":        func(c *Config) { c.Targets = nil },
		"bad target":       func(c *Config) { c.Targets = []string{"127.0.0.1:8080"} },
		"ftp target":       func(c *Config) { c.Targets = []string{"ftp://x"} },
		"no visitors":      func(c *Config) { c.Visitors = 0 },
		"no agents":        func(c *Config) { c.Agents = 0 },
		"negative rate":    func(c *Config) { c.Rate = -1 },
		"huge body":        func(c *Config) { c.Size = 9000 },
		"no duration":      func(c *Config) { c.Duration = 0 },
		"no login":         func(c *Config) { c.Logins = nil },
		"idle and replies": func(c *Config) { c.Idle = true; c.AgentReplies = true },
		"bad direction":    func(c *Config) { c.Direction = "sideways" },
		"idle and agent":   func(c *Config) { c.Idle = true; c.Direction = DirAgent },
		"agent replies":    func(c *Config) { c.Direction = DirAgent; c.AgentReplies = true },
		"both and replies": func(c *Config) { c.Direction = DirBoth; c.AgentReplies = true },
		"storm too late":   func(c *Config) { c.ReconnectStorm = 2 * time.Second },
	} {
		c := ok
		c.Targets = append([]string(nil), ok.Targets...)
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%s: Run started", name)
		}
	}
	c := ok
	if err := c.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	idle := Config{Targets: []string{"http://127.0.0.1:8080/"}, Visitors: 5, Idle: true, Duration: time.Second}
	if err := idle.Validate(); err != nil || idle.Targets[0] != "http://127.0.0.1:8080" {
		t.Fatalf("idle without agents: %v %v", err, idle.Targets)
	}
}

func TestParsers(t *testing.T) {
	ips, err := ParseSourceIPs("127.0.0.1-127.0.0.4, 127.0.1.1")
	if err != nil || len(ips) != 5 || ips[3].String() != "127.0.0.4" || ips[4].String() != "127.0.1.1" {
		t.Fatalf("%v %v", ips, err)
	}
	for _, bad := range []string{"127.0.0.5-127.0.0.1", "x", "127.0.0.1-y", "10.0.0.0-10.1.0.0"} {
		if _, err := ParseSourceIPs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	ls, err := ParseLogins("a@x,b@x", "pw")
	if err != nil || len(ls) != 2 || ls[1].Password != "pw" {
		t.Fatalf("%v %v", ls, err)
	}
	if _, err := ParseLogins("a@x,b@x,c@x", "p1,p2"); err == nil {
		t.Fatal("3 emails, 2 passwords accepted")
	}
	if _, err := ParsePIDs("12,x"); err == nil {
		t.Fatal("bad pid accepted")
	}
	if got := ParseTargets(" http://a:1 ,,http://b:2"); len(got) != 2 || got[1] != "http://b:2" {
		t.Fatalf("%v", got)
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond) // 1 µs .. 10 ms, uniform
	}
	check := func(q float64, want time.Duration) {
		got := h.Quantile(q)
		if d := float64(got-want) / float64(want); d < -0.02 || d > 0.02 {
			t.Errorf("q%.2f = %v, want %v ±2%%", q, got, want)
		}
	}
	check(0.5, 5*time.Millisecond)
	check(0.9, 9*time.Millisecond)
	check(0.99, 9900*time.Microsecond)
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Fatalf("max %v count %d", h.Max(), h.Count())
	}
	h.Record(2 * time.Hour) // clamped, not a panic
	for i := 0; i < histBuckets; i++ {
		if bucketOf(bucketHigh(i)) != i {
			t.Fatalf("bucket %d: high %d maps to %d", i, bucketHigh(i), bucketOf(bucketHigh(i)))
		}
	}
}

func TestJudge(t *testing.T) {
	r := &Report{Visitors: 2}
	r.Connections.Attempted = 2
	r.VisitorToAgent = Direction{Sent: 10, Acked: 10, Delivered: 9, Lost: 1}
	r.AgentToVisitor = Direction{Sent: 5, Acked: 5, Delivered: 5, Duplicated: 2}
	r.judge()
	if r.OK || len(r.Problems) != 2 {
		t.Fatalf("ok=%v problems=%v", r.OK, r.Problems)
	}
	var out bytes.Buffer
	_ = r.WriteTable(&out)
	if !strings.Contains(out.String(), "result: FAILED") {
		t.Fatal(out.String())
	}
}

func TestBitset(t *testing.T) {
	var a, b bitset
	for _, n := range []int{1, 2, 63, 64, 65, 1000} {
		if a.set(n) {
			t.Fatalf("%d already set", n)
		}
	}
	if !a.set(64) || !a.has(1000) || a.has(999) {
		t.Fatal("set/has")
	}
	b.set(1)
	b.set(1000)
	if got := a.andNotCount(b); got != 4 {
		t.Fatalf("andNotCount = %d", got)
	}
}

func TestReconnectStorm(t *testing.T) {
	t.Parallel() // each has its own node
	base := startNode(t)
	var progress bytes.Buffer
	// 100 msgs/s with replies keeps the two agent sockets well below
	// saturation on a loaded machine; the storm is what is under test.
	rep, err := Run(context.Background(), Config{Targets: []string{base}, Logins: demoAgent, Agents: 2, Visitors: 50,
		Rate: 100, AgentReplies: true, Duration: 3 * time.Second, ReconnectStorm: 1200 * time.Millisecond,
		Drain: 15 * time.Second, Progress: &progress, ProgressEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_ = rep.WriteTable(&out)
	t.Log("\n" + out.String())
	if !rep.OK {
		t.Fatalf("run not OK: %v %v", rep.Problems, rep.Errors)
	}
	s := rep.Storm
	if s == nil || s.Sockets != 52 || s.VisitorsResumed != 50 || s.AgentsResumed != 2 || s.Failed != 0 || s.AllResumed <= 0 ||
		s.Resume.Count != 52 || s.Resume.Max < s.Resume.P50 {
		t.Fatalf("storm: %+v", s)
	}
	if rep.Connections.HeldVisitors != 50 || rep.Connections.HeldAgents != 2 || rep.Connections.Dropped != 0 {
		t.Fatalf("connections: %+v", rep.Connections)
	}
	for name, d := range map[string]Direction{"v→a": rep.VisitorToAgent, "a→v": rep.AgentToVisitor} {
		if d.Sent == 0 || d.Acked != d.Sent || d.Delivered != d.Acked || d.Lost != 0 || d.Duplicated != 0 {
			t.Errorf("%s: %+v", name, d)
		}
	}
	if !strings.Contains(out.String(), "reconnect storm at 1.2s: 52 sockets") {
		t.Errorf("table:\n%s", out.String())
	}
	var js bytes.Buffer
	_ = rep.WriteJSON(&js)
	if !strings.Contains(js.String(), `"all_resumed_s"`) {
		t.Errorf("JSON: %s", js.String())
	}
}

func TestReconnectStormIdleNextTarget(t *testing.T) {
	t.Parallel() // each has its own node
	base := startNode(t)
	rep, err := Run(context.Background(), Config{Targets: []string{base, base + "/"}, Visitors: 60, Idle: true,
		Duration: time.Second, ReconnectStorm: 300 * time.Millisecond, StormNextTarget: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Storm == nil || rep.Storm.VisitorsResumed != 60 || rep.Storm.Failed != 0 || rep.Connections.HeldVisitors != 60 {
		t.Fatalf("ok=%v problems=%v storm=%+v conns=%+v", rep.OK, rep.Problems, rep.Storm, rep.Connections)
	}
}
