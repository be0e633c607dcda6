// Package loadtest drives a running Switchboard deployment over its public
// protocol (REST to start visitor sessions and sign agents in, WebSockets for
// everything else) and measures what a load test should: connections held,
// messages per second, delivery latency in both directions, and whether any
// acknowledged message was lost or delivered twice. `switchboard bench` is its
// command line.
package loadtest

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Login is a staff login used by agent sockets.
type Login struct {
	Email    string
	Password string
}

// Config describes one run.
type Config struct {
	// Targets are base URLs (http://host:port) of the nodes; visitors and
	// agent sockets are spread over them round-robin.
	Targets []string
	Site    string // site key visitors start sessions on
	// Logins are the staff logins agent sockets use, round-robin: agent
	// socket i signs in as Logins[i%len(Logins)] (one sign-in per login and
	// target, shared by that login's sockets on that target).
	Logins   []Login
	Agents   int // agent sockets
	Visitors int // visitor sockets
	// Idle: visitors only connect, authenticate and stay (pinging every 25 s
	// so the server's 75 s idle timeout does not close them); no chats. At
	// the end every held socket must answer a ping (Connections.Reachable).
	Idle bool
	// Direction says who sends: DirVisitor (the default: visitors send,
	// agents follow the chats and receive), DirAgent (agents join their
	// chats and send, visitors only receive) or DirBoth (both, each side at
	// Rate).
	Direction string
	// Rate is the total messages per second of each sending side, spread
	// evenly over the chats (open loop: a sender keeps its schedule while
	// earlier sends wait for their ack, up to MaxInFlight per chat). 0 = as
	// fast as possible, each sender waiting for its ack before the next send
	// (closed loop).
	Rate float64
	// AgentReplies: the agent answers every visitor message with one message,
	// so agent→visitor delivery is measured too (DirVisitor only).
	AgentReplies bool
	Size         int           // message body bytes (at least the ~40-byte header)
	Duration     time.Duration // measured load phase
	Warmup       time.Duration // load before the measured phase (not in rates/latencies)
	Drain        time.Duration // after the load, how long to wait for outstanding deliveries
	// SourceIPs are local addresses outgoing connections are bound to,
	// round-robin (to pass the ~28k ephemeral ports per source address).
	// Empty: the system chooses.
	SourceIPs      []netip.Addr
	ServerPIDs     []int   // server processes whose RSS is sampled (Linux /proc)
	ConnectRate    float64 // new visitor connections per second
	ConnectTimeout time.Duration
	MaxInFlight    int // open-loop limit of unacknowledged sends per chat and sender
	// ReconnectStorm: this long into the load phase (warmup included),
	// every visitor and agent socket is closed by the tool at once and
	// reconnects at once: re-authenticates, resubscribes from its cursor
	// (after_seq + epoch) and resends its unacknowledged sends with the same
	// client_id. 0 = no storm.
	ReconnectStorm time.Duration
	// StormTimeout: how long after the drop a socket may take to resume
	// (retrying with backoff) before it counts as failed. Default 30 s.
	StormTimeout time.Duration
	// StormNextTarget: reconnect to the next target instead of the same one.
	StormNextTarget bool
	Progress        io.Writer // a progress line every second; nil for none
	ProgressEvery   time.Duration

	// testDeliver, in tests, says how many times a received message of
	// this run is counted as delivered: 0 loses it, 2 duplicates it.
	testDeliver func(dir byte, vis, n int) int
}

// Directions of Config.Direction.
const (
	DirVisitor = "visitor"
	DirAgent   = "agent"
	DirBoth    = "both"
)

// visitorsSend: visitors send messages.
func (c *Config) visitorsSend() bool { return c.Direction != DirAgent }

// agentsSend: agents send messages of their own (not replies).
func (c *Config) agentsSend() bool { return c.Direction == DirAgent || c.Direction == DirBoth }

// agentsJoin: agents join their chats (to reply or to send).
func (c *Config) agentsJoin() bool { return c.AgentReplies || c.agentsSend() }

// defaults fills unset fields.
func (c *Config) defaults() {
	if c.Site == "" {
		c.Site = "demo"
	}
	if c.Direction == "" {
		c.Direction = DirVisitor
	}
	if c.Size == 0 {
		c.Size = 64
	}
	if c.ConnectRate == 0 {
		c.ConnectRate = 2000
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 64
	}
	if c.StormTimeout == 0 {
		c.StormTimeout = 30 * time.Second
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = time.Second
	}
}

// MaxBody is the server's limit on a message body.
const MaxBody = 8192

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	c.defaults()
	if len(c.Targets) == 0 {
		return errors.New("no target: give --target http://host:port")
	}
	for i, t := range c.Targets {
		u, err := url.Parse(t)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("target %q: want a base URL like http://127.0.0.1:8080", t)
		}
		c.Targets[i] = strings.TrimRight(t, "/")
	}
	switch {
	case c.Visitors < 0 || c.Agents < 0:
		return errors.New("--visitors and --agents must not be negative")
	case c.Visitors == 0:
		return errors.New("--visitors must be at least 1")
	case !c.Idle && c.Agents == 0:
		return errors.New("--agents must be at least 1 unless --idle (someone has to receive or send the messages)")
	case c.Agents > 0 && len(c.Logins) == 0:
		return errors.New("no agent login: give --agent-email and --agent-password")
	case c.Rate < 0:
		return errors.New("--rate must not be negative")
	case c.Size < 0 || c.Size > MaxBody:
		return fmt.Errorf("--size must be between 0 and %d bytes (the server's limit)", MaxBody)
	case c.Duration <= 0:
		return errors.New("--duration must be positive")
	case c.Warmup < 0 || c.Drain < 0:
		return errors.New("--warmup and --drain must not be negative")
	case c.ConnectRate < 0:
		return errors.New("--connect-rate must be positive")
	case c.Direction != DirVisitor && c.Direction != DirAgent && c.Direction != DirBoth:
		return fmt.Errorf("--direction %q: want visitor, agent or both", c.Direction)
	case c.Idle && c.AgentReplies:
		return errors.New("--agent-replies makes no sense with --idle")
	case c.Idle && c.Direction != DirVisitor:
		return errors.New("--direction makes no sense with --idle (nobody sends)")
	case c.AgentReplies && c.Direction != DirVisitor:
		return errors.New("--agent-replies answers visitor messages: use it with --direction visitor only (--direction both has agents send on their own)")
	case c.ReconnectStorm < 0 || c.StormTimeout < 0:
		return errors.New("--reconnect-storm and --storm-timeout must not be negative")
	case c.ReconnectStorm > 0 && c.ReconnectStorm >= c.Warmup+c.Duration:
		return errStormTooLate
	}
	for _, l := range c.Logins {
		if l.Email == "" || l.Password == "" {
			return errors.New("every agent login needs an email and a password")
		}
	}
	for _, p := range c.ServerPIDs {
		if p <= 0 {
			return fmt.Errorf("bad server pid %d", p)
		}
	}
	return nil
}

// ParseTargets splits a comma-separated list of base URLs.
func ParseTargets(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// ParseLogins pairs comma-separated emails with passwords: one password for
// all, or one per email.
func ParseLogins(emails, passwords string) ([]Login, error) {
	es, ps := splitList(emails), splitList(passwords)
	if len(es) == 0 {
		return nil, nil
	}
	if len(ps) != 1 && len(ps) != len(es) {
		return nil, fmt.Errorf("%d agent emails but %d passwords: give one password, or one per email", len(es), len(ps))
	}
	out := make([]Login, len(es))
	for i, e := range es {
		out[i] = Login{Email: e, Password: ps[min(i, len(ps)-1)]}
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ParsePIDs parses a comma-separated list of process ids.
func ParsePIDs(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad pid %q", p)
		}
		out = append(out, n)
	}
	return out, nil
}

// ParseSourceIPs parses "127.0.0.1-127.0.0.8" (an inclusive IPv4 range),
// "127.0.0.1,127.0.0.2", or a mix, into a list of at most 1024 addresses.
func ParseSourceIPs(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, part := range splitList(s) {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("source address %q: %v", part, err)
		}
		if !isRange {
			out = append(out, a)
			continue
		}
		b, err := netip.ParseAddr(strings.TrimSpace(hi))
		if err != nil {
			return nil, fmt.Errorf("source address range %q: %v", part, err)
		}
		if !a.Is4() || !b.Is4() || b.Less(a) {
			return nil, fmt.Errorf("source address range %q: want low-high IPv4 addresses, low first", part)
		}
		for x := a; ; x = x.Next() {
			out = append(out, x)
			if len(out) > 1024 {
				return nil, errors.New("more than 1024 source addresses")
			}
			if x == b {
				break
			}
		}
	}
	return out, nil
}
