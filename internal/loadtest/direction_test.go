package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Agents send, visitors only receive: agent→visitor measured on its own.
func TestAgentDirection(t *testing.T) {
	base := startNode(t)
	var progress bytes.Buffer
	rep, err := Run(context.Background(), Config{Targets: []string{base}, Logins: demoAgent, Agents: 20, Visitors: 20,
		Direction: DirAgent, Rate: 200, Size: 100, Duration: 2 * time.Second, Drain: 15 * time.Second,
		Progress: &progress, ProgressEvery: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_ = rep.WriteTable(&out)
	t.Log("\n" + out.String())
	if !rep.OK {
		t.Fatalf("run not OK: %v %v", rep.Problems, rep.Errors)
	}
	if rep.Connections.HeldVisitors != 20 || rep.Connections.HeldAgents != 20 {
		t.Fatalf("held %d visitors, %d agents", rep.Connections.HeldVisitors, rep.Connections.HeldAgents)
	}
	d := rep.AgentToVisitor
	// 200/s for 2 s: about 400 sends (timer jitter under -race aside).
	if d.Sent < 200 || d.Sent > 440 || d.Acked != d.Sent || d.Delivered != d.Acked || d.Lost != 0 || d.Duplicated != 0 || d.SendErrors != 0 {
		t.Fatalf("a→v: %+v", d)
	}
	if d.Latency.Count == 0 || d.Latency.P50 <= 0 || d.Latency.P99 < d.Latency.P50 || d.Latency.Max < d.Latency.P99 || d.SentPerSec <= 0 || d.DelivPerS <= 0 {
		t.Fatalf("a→v figures: %+v", d)
	}
	if rep.VisitorToAgent.Sent != 0 {
		t.Fatalf("visitors sent %d with --direction agent", rep.VisitorToAgent.Sent)
	}
	if !strings.Contains(out.String(), "agent→visitor") || strings.Contains(out.String(), "visitor→agent ") ||
		!strings.Contains(out.String(), "agents sending, 200 msgs/s in total") || strings.Contains(out.String(), "chats per agent socket") {
		t.Errorf("table:\n%s", out.String())
	}
	if !strings.Contains(progress.String(), "sent 1") && !strings.Contains(progress.String(), "sent 2") {
		t.Errorf("progress counts no agent sends:\n%s", progress.String())
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	a2v := back["agent_to_visitor"].(map[string]any)
	if back["direction"] != "agent" || a2v["lost"].(float64) != 0 || a2v["duplicated"].(float64) != 0 ||
		a2v["delivered"].(float64) != float64(d.Delivered) || a2v["latency_ms"].(map[string]any)["p99"].(float64) <= 0 || back["ok"] != true {
		t.Fatalf("JSON: %s", js.String())
	}
}

// Closed loop, fewer agent sockets than chats (each sends to several).
func TestAgentDirectionClosedLoop(t *testing.T) {
	base := startNode(t)
	rep, err := Run(context.Background(), Config{Targets: []string{base}, Logins: demoAgent, Agents: 2, Visitors: 6,
		Direction: DirAgent, Duration: time.Second, Drain: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d := rep.AgentToVisitor
	if !rep.OK || d.Sent == 0 || d.Acked != d.Sent || d.Delivered != d.Sent || rep.VisitorToAgent.Sent != 0 {
		t.Fatalf("ok=%v problems=%v a→v=%+v", rep.OK, rep.Problems, d)
	}
	var out bytes.Buffer
	_ = rep.WriteTable(&out)
	if !strings.Contains(out.String(), "3.0 chats per agent socket") {
		t.Errorf("table:\n%s", out.String())
	}
}

// The accounting of agent messages is as strict as that of visitor
// messages: an acknowledged message that never reaches its visitor is lost,
// one that reaches it twice is duplicated, and either fails the run.
func TestAgentDirectionCatchesLossAndDuplicates(t *testing.T) {
	base := startNode(t)
	rep, err := Run(context.Background(), Config{Targets: []string{base}, Logins: demoAgent, Agents: 3, Visitors: 3,
		Direction: DirAgent, Rate: 60, Duration: time.Second, Drain: 2 * time.Second,
		testDeliver: func(dir byte, vis, n int) int {
			switch {
			case dir == 'a' && vis == 0 && n == 2:
				return 0 // the visitor never sees it
			case dir == 'a' && vis == 1 && n == 3:
				return 2 // the visitor sees it twice
			}
			return 1
		}})
	if err != nil {
		t.Fatal(err)
	}
	d := rep.AgentToVisitor
	if rep.OK || d.Lost != 1 || d.Duplicated != 1 || d.Acked != d.Sent || d.Delivered != d.Acked-1 {
		t.Fatalf("ok=%v a→v=%+v", rep.OK, d)
	}
	want := []string{"agent→visitor: 1 acknowledged messages never delivered", "agent→visitor: 1 messages delivered twice"}
	if len(rep.Problems) != 2 || rep.Problems[0] != want[0] || rep.Problems[1] != want[1] {
		t.Fatalf("problems %q, want %q", rep.Problems, want)
	}
}

// Both ways at once, through a reconnect storm: every socket drops, the
// agents resend their unanswered messages with the same client_id, and
// nothing is lost or duplicated either way.
func TestBothDirectionsReconnectStorm(t *testing.T) {
	base := startNode(t)
	rep, err := Run(context.Background(), Config{Targets: []string{base}, Logins: demoAgent, Agents: 10, Visitors: 10,
		Direction: DirBoth, Rate: 100, Duration: 3 * time.Second, ReconnectStorm: 1200 * time.Millisecond, Drain: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	_ = rep.WriteTable(&out)
	t.Log("\n" + out.String())
	if !rep.OK {
		t.Fatalf("run not OK: %v %v", rep.Problems, rep.Errors)
	}
	if s := rep.Storm; s == nil || s.Sockets != 20 || s.Failed != 0 || s.Unrecovered != 0 {
		t.Fatalf("storm: %+v", s)
	}
	for name, d := range map[string]Direction{"v→a": rep.VisitorToAgent, "a→v": rep.AgentToVisitor} {
		if d.Sent < 100 || d.Acked != d.Sent || d.Delivered != d.Acked || d.Lost != 0 || d.Duplicated != 0 {
			t.Errorf("%s: %+v", name, d)
		}
	}
	if !strings.Contains(out.String(), "100 msgs/s in total each way") {
		t.Errorf("table:\n%s", out.String())
	}
}
