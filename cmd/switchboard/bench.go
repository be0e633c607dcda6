package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"switchboard/internal/loadtest"
)

const benchUsage = `usage: switchboard bench [flags]

Drives a running Switchboard deployment over its public protocol, like
"nats bench" or "pgbench": visitor sockets start sessions, ask for a chat and
send messages; agent sockets follow (and with --agent-replies answer) them,
or with --direction agent join the chats and send while the visitors listen.
It reports connections held, messages/s, delivery latency both ways, and lost
or duplicated messages; the exit status is non-zero when a connection failed,
a send failed, or a message was lost or duplicated.

  switchboard bench --target http://127.0.0.1:8080 --visitors 200 --agents 4 --duration 15s
  switchboard bench --target http://127.0.0.1:8080 --visitors 200 --agents 8 --rate 5000 --agent-replies
  switchboard bench --target http://127.0.0.1:8080 --visitors 200 --agents 200 --rate 5000 --direction agent
  switchboard bench --target http://127.0.0.1:8080 --visitors 19000 --idle --server-pid 1234
  switchboard bench --target http://127.0.0.1:8080 --visitors 5000 --agents 20 --rate 500 --duration 30s --reconnect-storm 10s

--direction says who sends. visitor (the default): visitors send, agents
follow the chats and receive (visitor→agent). agent: agents join their chats
and send, visitors only receive (agent→visitor on its own). both: each side
sends at --rate on its own. --rate is the total of each sending side, spread
over the chats; with --rate 0 each sender waits for its ack before its next
message. The server runs one socket's commands one after another, so an
agent socket that sends to many chats queues its sends: for agent→visitor
latency give as many --agents as --visitors (one agent socket per chat; with
one --target, chat i goes to agent socket i mod --agents). Every
acknowledged message must reach the other side exactly once, whichever way
it goes.

--reconnect-storm T drops every visitor and agent socket at once, T into the
load phase, and has each reconnect at once (to the same target, or with
--storm-next-target to the next one), re-authenticate, resubscribe from its
cursor (after_seq + epoch) and resend its unacknowledged sends with the same
client_id. The report adds the time until every socket resumed (per socket
p50/p90/p99/max, and the last one), sockets that failed to resume within
--storm-timeout, and (as always) lost and duplicated messages.

The server rate-limits new visitor sessions per client address (by default a
burst of 30, then one per second): for large runs start it with a large
--visitor-session-burst (e.g. "switchboard serve --visitor-session-burst 1000000"),
or spread the visitors over several --source-ips. Each socket is one open
file on both sides: raise "ulimit -n" for tens of thousands of sockets (the
tool raises its own soft limit to the hard limit). Only run it against
deployments you own.

flags:
`

func benchCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		printDefaults(fs)
	}
	targets := fs.String("target", "http://127.0.0.1:8080", "base URL(s) of the node(s), comma-separated; sockets are spread round-robin")
	site := fs.String("site", "demo", "site key the visitors start sessions on")
	emails := fs.String("agent-email", "alice@demo.test", "agent login(s), comma-separated; agent socket i signs in as login i mod count (one sign-in per login and target, shared by its sockets)")
	passwords := fs.String("agent-password", "demo-agent-pass", "the agents' password, or one per --agent-email, comma-separated")
	agents := fs.Int("agents", 1, "agent sockets; each visitor's chat is followed (and with --agent-replies or --direction agent|both joined) by one of them, round-robin (with several targets, one on the next target, so messages cross nodes)")
	visitors := fs.Int("visitors", 100, "visitor sockets")
	idle := fs.Bool("idle", false, "visitors only connect, authenticate and stay idle (pinging every 25 s), then each must answer one more ping: for sockets-per-node and RSS")
	rateF := fs.Float64("rate", 0, "total messages/s of each sending side (see --direction), spread over the chats; 0 = as fast as possible, each sender waiting for its ack")
	direction := fs.String("direction", "visitor", "who sends: visitor (agents receive), agent (agents join their chats and send, visitors receive) or both (each side at --rate)")
	replies := fs.Bool("agent-replies", false, "with --direction visitor: agents answer every visitor message, so agent→visitor delivery is measured too (the server runs one socket's commands one at a time, so a busy agent socket queues its replies: use enough --agents)")
	size := fs.Int("size", 64, "message body bytes (at most 8192; the first ~40 carry the message id and send time)")
	duration := fs.Duration("duration", 10*time.Second, "measured load phase")
	warmup := fs.Duration("warmup", 0, "load before the measured phase (counted for loss, not for rates and latencies)")
	drain := fs.Duration("drain", 5*time.Second, "after the load, how long to wait for the last acks and deliveries before counting losses")
	sourceIPs := fs.String("source-ips", "", "local addresses to bind outgoing connections to, round-robin, e.g. 127.0.0.1-127.0.0.8 (passes the ~28k ports per source address)")
	pids := fs.String("server-pid", "", "server process id(s), comma-separated: report their RSS (from /proc) before and after the sockets are up, per connection")
	asJSON := fs.Bool("json", false, "print the final report as JSON instead of a table")
	connectRate := fs.Float64("connect-rate", 2000, "new visitor connections per second")
	connectTimeout := fs.Duration("connect-timeout", 10*time.Second, "timeout of one connection attempt (session, upgrade, auth)")
	maxInFlight := fs.Int("max-in-flight", 64, "with --rate: most unacknowledged sends per chat and sending side before scheduled sends are skipped")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")
	storm := fs.Duration("reconnect-storm", 0, "this long into the load phase (warmup included), drop every socket at once and reconnect them all at once; 0 = no storm")
	stormTimeout := fs.Duration("storm-timeout", 30*time.Second, "with --reconnect-storm: how long each socket may take to resume (retrying) before it counts as failed")
	stormNext := fs.Bool("storm-next-target", false, "with --reconnect-storm: reconnect each socket to the next --target instead of the same one")
	cpuProfile := fs.String("cpuprofile", "", "") // hidden: write the tool's own CPU profile to this file
	if err := parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	logins, err := loadtest.ParseLogins(*emails, *passwords)
	if err != nil {
		return err
	}
	ips, err := loadtest.ParseSourceIPs(*sourceIPs)
	if err != nil {
		return err
	}
	pidList, err := loadtest.ParsePIDs(*pids)
	if err != nil {
		return fmt.Errorf("--server-pid: %w", err)
	}
	cfg := loadtest.Config{
		Targets: loadtest.ParseTargets(*targets), Site: *site, Logins: logins, Agents: *agents, Visitors: *visitors,
		Idle: *idle, Rate: *rateF, Direction: *direction, AgentReplies: *replies, Size: *size, Duration: *duration, Warmup: *warmup, Drain: *drain,
		SourceIPs: ips, ServerPIDs: pidList, ConnectRate: *connectRate, ConnectTimeout: *connectTimeout, MaxInFlight: *maxInFlight,
		ReconnectStorm: *storm, StormTimeout: *stormTimeout, StormNextTarget: *stormNext,
	}
	if *idle && !isSet(fs, "agents") {
		cfg.Agents = 0 // idle runs measure visitor sockets; add agents explicitly
	}
	if *connectRate <= 0 {
		return errors.New("--connect-rate must be positive")
	}
	if *maxInFlight <= 0 {
		return errors.New("--max-in-flight must be positive")
	}
	if !*quiet {
		cfg.Progress = stderr
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("bench failed: %d problem(s), first: %s", len(rep.Problems), rep.Problems[0])
	}
	return nil
}

// isSet reports whether a flag was given on the command line or in the
// environment.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if !set {
		_, set = os.LookupEnv("SWITCHBOARD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")))
	}
	return set
}

// printDefaults is fs.PrintDefaults without the flags whose usage text is
// empty (developer flags such as --cpuprofile).
func printDefaults(fs *flag.FlagSet) {
	out := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	out.SetOutput(fs.Output())
	fs.VisitAll(func(f *flag.Flag) {
		if f.Usage != "" {
			out.Var(f.Value, f.Name, f.Usage)
			out.Lookup(f.Name).DefValue = f.DefValue
		}
	})
	out.PrintDefaults()
}
