package loadtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Report is the outcome of a run. Its JSON form is what `bench --json`
// prints; field names are stable.
type Report struct {
	Run          string   `json:"run"` // random id embedded in this run's messages
	Targets      []string `json:"targets"`
	Site         string   `json:"site"`
	Visitors     int      `json:"visitors"`
	Agents       int      `json:"agents"`
	Idle         bool     `json:"idle"`
	Rate         float64  `json:"rate"`      // requested messages/s of each sending side; 0 = as fast as possible
	Direction    string   `json:"direction"` // who sends: visitor, agent or both
	AgentReplies bool     `json:"agent_replies"`
	Size         int      `json:"size"`
	SourceIPs    int      `json:"source_ips"`
	Duration     float64  `json:"duration_s"` // requested
	Warmup       float64  `json:"warmup_s"`
	Measured     float64  `json:"measured_s"` // actual measured window
	Drain        float64  `json:"drain_s"`    // time spent waiting for the last deliveries

	Connections struct {
		Attempted       int     `json:"attempted"` // visitor sockets
		HeldVisitors    int     `json:"held_visitors"`
		HeldAgents      int     `json:"held_agents"`
		SessionFailures int     `json:"session_failures"` // POST /visitor/sessions refused or failed
		ConnectFailures int     `json:"connect_failures"` // WebSocket upgrade failed
		AuthFailures    int     `json:"auth_failures"`
		SetupFailures   int     `json:"setup_failures"` // request_chat / subscribe / join
		Dropped         int     `json:"dropped"`        // open, then closed before the end
		ConnectSeconds  float64 `json:"connect_s"`
		// With --idle: held visitor sockets that answered (Reachable) or
		// did not answer (Unreachable) a ping at the end, and how long
		// pinging them all took.
		Reachable    int     `json:"reachable,omitempty"`
		Unreachable  int     `json:"unreachable,omitempty"`
		ReachSeconds float64 `json:"reach_s,omitempty"`
	} `json:"connections"`

	VisitorToAgent Direction `json:"visitor_to_agent"`
	AgentToVisitor Direction `json:"agent_to_visitor"`
	SendsSkipped   int64     `json:"sends_skipped"` // open loop: a sender had too many sends awaiting their ack in its chat

	ServerRSS []RSS `json:"server_rss,omitempty"`

	// Tool is this tool's own CPU time from the start of the load to the
	// end of the drain: what it took from a machine it may share with the
	// server. Not with --idle.
	Tool *ToolCPU `json:"tool_cpu,omitempty"`

	Storm *StormReport `json:"reconnect_storm,omitempty"` // with --reconnect-storm

	Errors   map[string]int `json:"errors,omitempty"` // first distinct errors and their counts
	OK       bool           `json:"ok"`
	Problems []string       `json:"problems,omitempty"` // why OK is false
}

// Direction is one way of delivery. Counts are for the whole run (warmup
// included); the rates and latencies are for messages sent in the measured
// window.
type Direction struct {
	Sent       int64   `json:"sent"`
	Acked      int64   `json:"acked"`
	SendErrors int64   `json:"send_errors"`
	Delivered  int64   `json:"delivered"` // distinct messages received by the other side
	Lost       int64   `json:"lost"`      // acked, never delivered (after the drain)
	Duplicated int64   `json:"duplicated"`
	SentPerSec float64 `json:"sent_per_s"`
	DelivPerS  float64 `json:"delivered_per_s"`
	Latency    Latency `json:"latency_ms"`
}

// ToolCPU is the load tool's CPU time (user + system).
type ToolCPU struct {
	Seconds      float64 `json:"cpu_s"`
	Messages     int64   `json:"messages"`   // sent in both directions, replies included
	PerMessageUS float64 `json:"per_msg_us"` // Seconds / Messages, in microseconds
}

// Latency percentiles in milliseconds (send time to receipt by the other side).
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// RSS is one server process's resident memory.
type RSS struct {
	PID         int     `json:"pid"`
	BeforeKB    int64   `json:"before_kb"`   // before connecting
	UpKB        int64   `json:"up_kb"`       // 1 s after every socket was up
	EndKB       int64   `json:"end_kb"`      // at the end of the load
	PerConnUp   float64 `json:"per_conn_kb"` // (up - before) / sockets held, all pids together
	PerConnEnd  float64 `json:"per_conn_end_kb"`
	Error       string  `json:"error,omitempty"`
	Connections int     `json:"connections"`
	// CPU is the server's CPU time during the load phase (warmup included),
	// as a percentage of one core: 200 = both cores of a 2-core machine.
	CPUPercent float64 `json:"cpu_percent"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func latencyOf(h *Histogram) Latency {
	return Latency{Count: h.Count(), P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)), P99: ms(h.Quantile(0.99)),
		Max: ms(h.Max()), Mean: ms(h.Mean())}
}

func (e *engine) fill(r *Report) {
	c := &e.c
	r.Connections.Attempted = int(c.attempted.Load())
	r.Connections.SessionFailures = int(c.sessionFail.Load())
	r.Connections.ConnectFailures = int(c.connectFail.Load())
	r.Connections.AuthFailures = int(c.authFail.Load())
	r.Connections.SetupFailures = int(c.setupFail.Load())
	r.Connections.Dropped = int(c.dropped.Load())
	var vLost, aLost int64
	for i := range e.visitors {
		v := e.visitors[i].Load()
		if v == nil {
			continue
		}
		v.mu.Lock()
		vLost += int64(v.vAcked.andNotCount(v.vDeliv))
		aLost += int64(v.aAcked.andNotCount(v.aDeliv))
		v.mu.Unlock()
	}
	per := func(n int64) float64 {
		if r.Measured <= 0 {
			return 0
		}
		return float64(n) / r.Measured
	}
	r.VisitorToAgent = Direction{Sent: c.vSent.Load(), Acked: c.vAcked.Load(), SendErrors: c.vErr.Load(),
		Delivered: c.vDelivered.Load(), Lost: vLost, Duplicated: c.vDup.Load(),
		SentPerSec: per(c.wvSent.Load()), DelivPerS: per(c.wvDelivered.Load()), Latency: latencyOf(&e.v2a)}
	r.AgentToVisitor = Direction{Sent: c.aSent.Load(), Acked: c.aAcked.Load(), SendErrors: c.aErr.Load(),
		Delivered: c.aDelivered.Load(), Lost: aLost, Duplicated: c.aDup.Load(),
		SentPerSec: per(c.waSent.Load()), DelivPerS: per(c.waDelivered.Load()), Latency: latencyOf(&e.a2v)}
	r.SendsSkipped = c.skipped.Load()
	if t := r.Tool; t != nil {
		t.Messages = c.vSent.Load() + c.aSent.Load()
		if t.Messages > 0 {
			t.PerMessageUS = t.Seconds / float64(t.Messages) * 1e6
		}
	}
	e.errMu.Lock()
	if len(e.errs) > 0 {
		r.Errors = map[string]int{}
		for k, v := range e.errs {
			r.Errors[k] = v
		}
	}
	e.errMu.Unlock()
}

// judge sets OK: every socket connected and stayed, no send failed, nothing
// acknowledged was lost, nothing was delivered twice.
func (r *Report) judge() {
	var p []string
	cn := r.Connections
	if f := cn.SessionFailures + cn.ConnectFailures + cn.AuthFailures + cn.SetupFailures; f > 0 {
		p = append(p, fmt.Sprintf("%d visitor connections failed", f))
	}
	if cn.Attempted < r.Visitors {
		p = append(p, fmt.Sprintf("only %d of %d visitor connections attempted (interrupted)", cn.Attempted, r.Visitors))
	}
	if cn.Dropped > 0 {
		p = append(p, fmt.Sprintf("%d sockets closed before the end", cn.Dropped))
	}
	if cn.Unreachable > 0 {
		p = append(p, fmt.Sprintf("%d idle visitor sockets did not answer a ping at the end", cn.Unreachable))
	}
	for _, d := range []struct {
		name string
		d    Direction
	}{{"visitor→agent", r.VisitorToAgent}, {"agent→visitor", r.AgentToVisitor}} {
		if d.d.Lost > 0 {
			p = append(p, fmt.Sprintf("%s: %d acknowledged messages never delivered", d.name, d.d.Lost))
		}
		if d.d.Duplicated > 0 {
			p = append(p, fmt.Sprintf("%s: %d messages delivered twice", d.name, d.d.Duplicated))
		}
		if d.d.SendErrors > 0 {
			p = append(p, fmt.Sprintf("%s: %d sends failed", d.name, d.d.SendErrors))
		}
		if unacked := d.d.Sent - d.d.Acked - d.d.SendErrors; unacked > 0 {
			p = append(p, fmt.Sprintf("%s: %d sends still unanswered after the %.1fs drain (the server is behind; a longer --drain tells whether they arrive)", d.name, unacked, r.Drain))
		}
	}
	if s := r.Storm; s != nil {
		switch {
		case s.Sockets == 0:
			p = append(p, "reconnect storm: did not happen (the run ended first)")
		case s.Failed > 0:
			p = append(p, fmt.Sprintf("reconnect storm: %d of %d sockets did not resume within %.0fs", s.Failed, s.Sockets, s.Timeout))
		}
		if s.Unrecovered > 0 {
			p = append(p, fmt.Sprintf("reconnect storm: %d subscriptions could not resume from their cursor (recovered:false)", s.Unrecovered))
		}
	}
	r.Problems = p
	r.OK = len(p) == 0
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	b := &strings.Builder{}
	who, each := "visitors", "visitor"
	switch r.Direction {
	case DirAgent:
		who, each = "agents", "agent"
	case DirBoth:
		who, each = "visitors and agents", "sender"
	}
	mode := fmt.Sprintf("as fast as possible (each %s waits for its ack)", each)
	if r.Rate > 0 {
		mode = fmt.Sprintf("%g msgs/s in total", r.Rate)
		if r.Direction == DirBoth {
			mode = fmt.Sprintf("%g msgs/s in total each way", r.Rate)
		}
	}
	if r.Idle {
		mode = "idle (connect, authenticate, stay)"
	}
	fmt.Fprintf(b, "switchboard bench  run %s  %s\n", r.Run, strings.Join(r.Targets, ", "))
	if r.Direction == DirAgent || r.Direction == DirBoth {
		fmt.Fprintf(b, "  %d visitors, %d agent sockets, %s sending, %s, body %d B\n", r.Visitors, r.Agents, who, mode, r.Size)
		if r.Agents < r.Visitors {
			fmt.Fprintf(b, "  note: %.1f chats per agent socket; the server runs one socket's commands one after another,\n        so agent→visitor latency includes that queue (use --agents %d for one socket per chat)\n",
				float64(r.Visitors)/float64(max(r.Agents, 1)), r.Visitors)
		}
	} else {
		fmt.Fprintf(b, "  %d visitors, %d agent sockets, %s, body %d B, agent replies %v\n", r.Visitors, r.Agents, mode, r.Size, r.AgentReplies)
	}
	fmt.Fprintf(b, "  measured %.1fs (after %.1fs warmup), drain %.1fs\n\n", r.Measured, r.Warmup, r.Drain)
	cn := r.Connections
	fmt.Fprintf(b, "connections  held %d/%d visitors + %d/%d agents   connected in %.1fs\n", cn.HeldVisitors, r.Visitors, cn.HeldAgents, r.Agents, cn.ConnectSeconds)
	fmt.Fprintf(b, "  failures   session %d  connect %d  auth %d  chat setup %d  dropped %d\n",
		cn.SessionFailures, cn.ConnectFailures, cn.AuthFailures, cn.SetupFailures, cn.Dropped)
	if r.Idle {
		fmt.Fprintf(b, "  reachable  %d answered a ping at the end, %d did not (all pinged in %.1fs)\n", cn.Reachable, cn.Unreachable, cn.ReachSeconds)
	}
	if !r.Idle {
		fmt.Fprintf(b, "\n%-14s %10s %12s %10s %10s %10s %6s %5s %9s %9s %9s %9s\n",
			"direction", "sent/s", "delivered/s", "sent", "acked", "delivered", "lost", "dup", "p50 ms", "p90 ms", "p99 ms", "max ms")
		for _, d := range []struct {
			name string
			d    Direction
		}{{"visitor→agent", r.VisitorToAgent}, {"agent→visitor", r.AgentToVisitor}} {
			if d.name == "agent→visitor" && !r.AgentReplies && r.Direction != DirAgent && r.Direction != DirBoth {
				continue
			}
			if d.name == "visitor→agent" && r.Direction == DirAgent {
				continue
			}
			l := d.d.Latency
			fmt.Fprintf(b, "%-14s %10.0f %12.0f %10d %10d %10d %6d %5d %9.2f %9.2f %9.2f %9.2f\n",
				d.name, d.d.SentPerSec, d.d.DelivPerS, d.d.Sent, d.d.Acked, d.d.Delivered, d.d.Lost, d.d.Duplicated,
				l.P50, l.P90, l.P99, l.Max)
		}
		if t := r.Tool; t != nil && t.Messages > 0 {
			fmt.Fprintf(b, "  tool CPU %.2fs during the load and drain: %.1f µs per message sent\n", t.Seconds, t.PerMessageUS)
		}
		if r.SendsSkipped > 0 {
			fmt.Fprintf(b, "  %d scheduled sends skipped (a sender already had too many unacknowledged sends in its chat: the server is behind)\n", r.SendsSkipped)
		}
	}
	if s := r.Storm; s != nil {
		to := "the same target"
		if s.NextTarget {
			to = "the next target"
		}
		fmt.Fprintf(b, "\nreconnect storm at %.1fs: %d sockets dropped at once, reconnecting to %s\n", s.At, s.Sockets, to)
		all := "never (some did not resume)"
		if s.AllResumed >= 0 {
			all = fmt.Sprintf("%.2fs", s.AllResumed)
		}
		fmt.Fprintf(b, "  resumed    %d visitors + %d agents, failed %d, attempts %d, all resumed after %s\n", s.VisitorsResumed, s.AgentsResumed, s.Failed, s.Attempts, all)
		fmt.Fprintf(b, "  resume ms  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f   (drop to re-authenticated + resubscribed)\n", s.Resume.P50, s.Resume.P90, s.Resume.P99, s.Resume.Max)
		fmt.Fprintf(b, "  resent     %d visitor sends, %d agent messages (same client_id); cursors not recovered %d\n", s.ResentVisitor, s.ResentAgent, s.Unrecovered)
	}
	if len(r.ServerRSS) > 0 {
		fmt.Fprintln(b, "\nserver RSS")
		for _, s := range r.ServerRSS {
			if s.Error != "" {
				fmt.Fprintf(b, "  pid %d: %s\n", s.PID, s.Error)
				continue
			}
			fmt.Fprintf(b, "  pid %-7d before %s  sockets up %s  end %s   CPU during the load %.0f%% of a core\n", s.PID, kb(s.BeforeKB), kb(s.UpKB), kb(s.EndKB), s.CPUPercent)
		}
		s := r.ServerRSS[0]
		fmt.Fprintf(b, "  per connection (%d sockets, all pids): %.2f KB when up, %.2f KB at the end\n", s.Connections, s.PerConnUp, s.PerConnEnd)
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(b, "\nerrors")
		keys := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(b, "  %6d  %s\n", r.Errors[k], k)
		}
	}
	if r.OK {
		fmt.Fprintln(b, "\nresult: OK (nothing lost, nothing duplicated, every connection held)")
	} else {
		fmt.Fprintln(b, "\nresult: FAILED")
		for _, p := range r.Problems {
			fmt.Fprintf(b, "  - %s\n", p)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func kb(k int64) string { return fmt.Sprintf("%.1f MB", float64(k)/1024) }

type rssSample struct {
	pid   int
	kb    int64
	ticks int64 // utime+stime, clock ticks
	at    time.Time
	err   error
}

func readRSSAll(pids []int) []rssSample {
	out := make([]rssSample, len(pids))
	for i, p := range pids {
		kb, err := ReadRSS(p)
		ticks, _ := readCPUTicks(p)
		out[i] = rssSample{pid: p, kb: kb, ticks: ticks, at: time.Now(), err: err}
	}
	return out
}

// readCPUTicks returns utime+stime of a process from /proc/PID/stat.
func readCPUTicks(pid int) (int64, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count fields after its ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)  // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return u + st, nil
}

// clockTicks is USER_HZ, 100 on every Linux platform Go supports.
const clockTicks = 100

// ReadRSS returns a process's resident set size in KB from /proc/PID/status.
func ReadRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("server pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) >= 1 {
				return strconv.ParseInt(fields[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("server pid %d: no VmRSS in /proc/%d/status", pid, pid)
}

func rssReport(before, up, loadStart, end []rssSample, held int) []RSS {
	if len(before) == 0 {
		return nil
	}
	out := make([]RSS, len(before))
	var dUp, dEnd int64
	for i, b := range before {
		r := RSS{PID: b.pid, BeforeKB: b.kb, Connections: held}
		if i < len(up) {
			r.UpKB = up[i].kb
		}
		if i < len(end) {
			r.EndKB = end[i].kb
		}
		for _, s := range []rssSample{b, pick(up, i), pick(end, i)} {
			if s.err != nil && r.Error == "" {
				r.Error = s.err.Error()
			}
		}
		if ls, en := pick(loadStart, i), pick(end, i); ls.ticks > 0 && en.ticks >= ls.ticks && en.at.After(ls.at) {
			r.CPUPercent = float64(en.ticks-ls.ticks) / clockTicks / en.at.Sub(ls.at).Seconds() * 100
		}
		dUp += r.UpKB - r.BeforeKB
		dEnd += r.EndKB - r.BeforeKB
		out[i] = r
	}
	if held > 0 {
		for i := range out {
			out[i].PerConnUp = float64(dUp) / float64(held)
			out[i].PerConnEnd = float64(dEnd) / float64(held)
		}
	}
	return out
}

func pick(s []rssSample, i int) rssSample {
	if i < len(s) {
		return s[i]
	}
	return rssSample{}
}
