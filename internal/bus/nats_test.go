package bus_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"switchboard/internal/apperr"
	"switchboard/internal/bus"
	"switchboard/internal/bus/bustest"
	"switchboard/internal/model"
)

// The NATS tests run against a real NATS server started in-process, or
// against the server at $SWITCHBOARD_TEST_NATS when set (the tests that
// stop and restart the broker always use an in-process one). Every bus gets
// its own random subject, so tests and parallel runs never see each other.

const waitTimeout = 10 * time.Second // bound on every wait for a delivery

// startServer starts an in-process NATS server on port (-1: any free port).
func startServer(t testing.TB, port int) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		ns.Shutdown()
		t.Fatalf("nats server on port %d not ready", port)
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// serverURL returns the URL of the broker for tests that only need one.
func serverURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("SWITCHBOARD_TEST_NATS"); u != "" {
		return u
	}
	return startServer(t, -1).ClientURL()
}

func randomSubject(t testing.TB) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "switchboard.test." + hex.EncodeToString(b[:])
}

// logRecorder is a slog.Handler that keeps the messages, safe to use after
// the test ends (the NATS client reports some events asynchronously), and
// lets a test wait for a message.
type logRecorder struct {
	mu      sync.Mutex
	msgs    []string
	changed chan struct{} // closed and replaced on every record
}

func newLogRecorder() *logRecorder { return &logRecorder{changed: make(chan struct{})} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// count returns how many messages contain substr.
func (l *logRecorder) count(substr string) (int, chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n, l.changed
}

// waitFor waits until at least n messages contain substr.
func (l *logRecorder) waitFor(t testing.TB, substr string, n int) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		got, changed := l.count(substr)
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no log %q after %v; log: %q", substr, waitTimeout, l.msgs)
		}
	}
}

type node struct {
	*bus.NATS
	log *logRecorder
}

func newNode(t testing.TB, url, subject, name string, tweak ...func(*bus.NATSOptions)) node {
	t.Helper()
	rec := newLogRecorder()
	opts := bus.NATSOptions{Subject: subject, Name: name, Logger: slog.New(rec), ReconnectWait: 20 * time.Millisecond,
		MaxReconnectWait: 100 * time.Millisecond}
	for _, f := range tweak {
		f(&opts)
	}
	b, err := bus.NewNATS(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("NewNATS(%s): %v", url, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return node{b, rec}
}

func TestNATSContract(t *testing.T) {
	url := serverURL(t)
	bustest.Run(t, func(t *testing.T) bus.Bus {
		return newNode(t, url, randomSubject(t), "contract").NATS
	})
}

// sink records the events a subscription receives and signals each arrival.
type sink struct {
	mu     sync.Mutex
	events []bus.Event
	notify chan struct{}
}

func newSink() *sink { return &sink{notify: make(chan struct{}, 1)} }

func (s *sink) handle(e bus.Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *sink) snapshot() []bus.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// waitUntil waits up to d for cond; it reports whether cond held.
func (s *sink) waitUntil(d time.Duration, cond func([]bus.Event) bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if cond(s.snapshot()) {
			return true
		}
		select {
		case <-s.notify:
		case <-deadline.C:
			return cond(s.snapshot())
		}
	}
}

func (s *sink) wait(t testing.TB, what string, cond func([]bus.Event) bool) []bus.Event {
	t.Helper()
	if !s.waitUntil(waitTimeout, cond) {
		t.Fatalf("timed out after %v waiting for %s; got %d events", waitTimeout, what, len(s.snapshot()))
	}
	return s.snapshot()
}

func hasMarker(origin string, seq int64) func([]bus.Event) bool {
	return func(evs []bus.Event) bool {
		for _, e := range evs {
			if e.Type == "marker" && e.Origin == origin && e.Seq == seq {
				return true
			}
		}
		return false
	}
}

func subscribe(t testing.TB, b bus.Bus, fn func(bus.Event)) {
	t.Helper()
	cancel, err := b.Subscribe(fn)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(cancel)
}

func TestNATSTwoNodesSeeEachOtherInOrder(t *testing.T) {
	url, subject := serverURL(t), randomSubject(t)
	a := newNode(t, url, subject, "node-a")
	b := newNode(t, url, subject, "node-b")
	sinks := map[string]*sink{"a": newSink(), "b": newSink()}
	subscribe(t, a, sinks["a"].handle)
	subscribe(t, b, sinks["b"].handle)

	const n = 2000
	var wg sync.WaitGroup
	for name, nd := range map[string]node{"node-a": a, "node-b": b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(1); i <= n; i++ {
				if err := nd.Publish(context.Background(), bus.Event{Type: bus.TypeMessage, Origin: name, Seq: i}); err != nil {
					t.Errorf("%s: Publish %d: %v", name, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for who, s := range sinks {
		evs := s.wait(t, "both streams", func(evs []bus.Event) bool { return len(evs) >= 2*n })
		if len(evs) != 2*n {
			t.Fatalf("subscriber on %s got %d events, want %d", who, len(evs), 2*n)
		}
		last := map[string]int64{}
		for _, e := range evs {
			if e.Seq != last[e.Origin]+1 {
				t.Fatalf("subscriber on %s: from %s seq %d after %d", who, e.Origin, e.Seq, last[e.Origin])
			}
			last[e.Origin] = e.Seq
		}
		if last["node-a"] != n || last["node-b"] != n {
			t.Fatalf("subscriber on %s: last seqs %v", who, last)
		}
	}
}

func TestNATSEveryFieldAcrossNodes(t *testing.T) {
	url, subject := serverURL(t), randomSubject(t)
	a := newNode(t, url, subject, "node-a")
	b := newNode(t, url, subject, "node-b")
	s := newSink()
	subscribe(t, b, s.handle)

	frame := make([]byte, 256)
	for i := range frame {
		frame[i] = byte(255 - i)
	}
	want := []bus.Event{
		{
			Type: bus.TypeMessage, SiteID: -1, ConversationID: 1<<63 - 1, ContactID: -1 << 63, UserID: 1 << 53,
			Seq: 42, Visibility: model.Internal, ExceptSocket: "sock\x00\xff", Frame: frame, Origin: "node-a",
		},
		{Type: "custom-type", Visibility: "other", Frame: []byte{}},
		{Type: bus.TypeTyping, Frame: nil, Origin: "ünïcode"},
		{},
	}
	for _, e := range want {
		if err := a.Publish(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	got := s.wait(t, "all events", func(evs []bus.Event) bool { return len(evs) >= len(want) })
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		// DeepEqual tells a nil Frame from an empty one: both must survive.
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("event %d:\n got %#v\nwant %#v", i, got[i], want[i])
		}
	}
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// hungBroker accepts TCP connections on addr and never answers: a broker
// that is "up" but stuck. accepted receives a value per connection (when
// there is room). stop closes the listener and every accepted connection.
func hungBroker(t testing.TB, addr string) (accepted chan struct{}, stop func()) {
	t.Helper()
	var ln net.Listener
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for { // the port may be a moment in use after a shutdown
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	accepted = make(chan struct{}, 1)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ln.Close()
			<-done
			mu.Lock()
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		})
	}
	t.Cleanup(stop)
	return accepted, stop
}

// publishTimed publishes n events with a frame of size bytes and returns
// the longest single call and how many calls failed.
func publishTimed(b bus.Bus, origin string, from int64, n, size int) (longest time.Duration, failed int, lastErr error) {
	frame := make([]byte, size)
	for i := int64(0); i < int64(n); i++ {
		start := time.Now()
		err := b.Publish(context.Background(), bus.Event{Type: bus.TypeMessage, Origin: origin, Seq: from + i, Frame: frame})
		longest = max(longest, time.Since(start))
		if err != nil {
			failed++
			lastErr = err
		}
	}
	return longest, failed, lastErr
}

// probe publishes markers from a until one reaches s, so that both sides'
// subscriptions are known to be registered with the broker again.
func probe(t testing.TB, a node, s *sink, origin string, seq *int64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		*seq++
		if err := a.Publish(context.Background(), bus.Event{Type: "marker", Origin: origin, Seq: *seq}); err != nil {
			// Still reconnecting: the reconnect buffer may be full. Wait for the next log line.
			_, changed := a.log.count("")
			select {
			case <-changed:
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if s.waitUntil(200*time.Millisecond, hasMarker(origin, *seq)) {
			return
		}
	}
	t.Fatalf("no marker from %s got through within %v", origin, waitTimeout)
}

// maxPublishCall bounds one Publish call while the broker is down or stuck.
// Publish only enqueues, so it takes microseconds; the bound is generous for
// a loaded machine under the race detector.
const maxPublishCall = 500 * time.Millisecond

func TestNATSReconnectsAfterServerRestart(t *testing.T) {
	port := freePort(t)
	ns := startServer(t, port)
	url, subject := ns.ClientURL(), randomSubject(t)
	small := func(o *bus.NATSOptions) { o.ReconnectBufSize = 64 << 10 }
	a := newNode(t, url, subject, "node-a", small)
	b := newNode(t, url, subject, "node-b", small)
	s := newSink()
	subscribe(t, b, s.handle)

	var seq int64
	probe(t, a, s, "node-a", &seq)

	ns.Shutdown()
	a.log.waitFor(t, "disconnected from NATS", 1)
	b.log.waitFor(t, "disconnected from NATS", 1)
	if st := a.Stats(); st.Connected {
		t.Fatalf("stats while the broker is down: %+v", st)
	}

	// While the broker is down Publish stays fast and never blocks: events
	// fill the reconnect buffer (64 KiB here), and once it is full Publish
	// fails. 20 MiB is more than even the publish queue holds, so some
	// calls fail however the goroutines are scheduled.
	const downEvents = 20000
	longest, failed, lastErr := publishTimed(a, "node-a-down", 1, downEvents, 1024)
	if longest > maxPublishCall {
		t.Errorf("a Publish call took %v while the broker was down", longest)
	}
	if failed == 0 {
		t.Errorf("%d KiB published while the broker was down and no Publish failed", downEvents)
	} else if !errors.Is(lastErr, bus.ErrUnavailable) && !errors.Is(lastErr, bus.ErrBacklog) {
		t.Errorf("Publish while down failed with %v, want ErrUnavailable or ErrBacklog", lastErr)
	} else if apperr.KindOf(lastErr) != apperr.KindUnavailable {
		t.Errorf("kind of %v = %s", lastErr, apperr.KindOf(lastErr))
	}

	startServer(t, port) // same port: the nodes find it by themselves
	a.log.waitFor(t, "reconnected to NATS", 1)
	b.log.waitFor(t, "reconnected to NATS", 1)

	probe(t, a, s, "node-a", &seq)
	const n = 500
	for i := int64(1); i <= n; i++ {
		if err := a.Publish(context.Background(), bus.Event{Type: bus.TypeMessage, Origin: "node-a-up", Seq: i}); err != nil {
			t.Fatalf("Publish after reconnection: %v", err)
		}
	}
	evs := s.wait(t, "events after reconnection", func(evs []bus.Event) bool {
		for _, e := range evs {
			if e.Origin == "node-a-up" && e.Seq == n {
				return true
			}
		}
		return false
	})
	var up []int64
	down := map[int64]int{}
	for _, e := range evs {
		switch e.Origin {
		case "node-a-up":
			up = append(up, e.Seq)
		case "node-a-down":
			down[e.Seq]++
			if down[e.Seq] > 1 {
				t.Fatalf("event %d published during the outage delivered twice", e.Seq)
			}
		}
	}
	if len(up) != n || up[0] != 1 || !slices.IsSorted(up) {
		t.Fatalf("after reconnection got %d events (first %v), want 1..%d in order", len(up), up[:min(len(up), 3)], n)
	}
	if st := a.Stats(); !st.Connected || st.Reconnects == 0 {
		t.Fatalf("stats after reconnection: %+v", st)
	}
	t.Logf("outage: %d of %d publishes refused, %d buffered events delivered after reconnection, longest call %v",
		failed, downEvents, len(down), longest)
}

func TestNATSPublishDoesNotBlockOnStuckBroker(t *testing.T) {
	// The NATS client holds its connection lock while it dials and
	// handshakes during a reconnection; a broker that accepts TCP but never
	// answers keeps it there for the whole ConnectTimeout, again and again.
	// Publish must not wait for that lock.
	port := freePort(t)
	ns := startServer(t, port)
	a := newNode(t, ns.ClientURL(), randomSubject(t), "node-a", func(o *bus.NATSOptions) {
		o.ConnectTimeout = 2 * time.Second
	})
	ns.Shutdown()
	a.log.waitFor(t, "disconnected from NATS", 1)
	accepted, stop := hungBroker(t, fmt.Sprintf("127.0.0.1:%d", port))
	select {
	case <-accepted: // the client is now in a handshake that will time out
	case <-time.After(waitTimeout):
		t.Fatal("the client did not try to reconnect")
	}

	start := time.Now()
	longest, failed, lastErr := publishTimed(a, "a", 1, 20000, 256)
	if longest > maxPublishCall {
		t.Fatalf("a Publish call took %v while the broker was stuck", longest)
	}
	if failed == 0 {
		t.Fatalf("no Publish failed while the broker was stuck (20000 x 256 B)")
	}
	t.Logf("stuck broker: 20000 publishes in %v, %d refused (last: %v), longest call %v",
		time.Since(start), failed, lastErr, longest)
	stop()

	// And it comes back once a real broker is there again.
	startServer(t, port)
	a.log.waitFor(t, "reconnected to NATS", 1)
	s := newSink()
	subscribe(t, a, s.handle)
	var seq int64
	probe(t, a, s, "a", &seq)
}

func TestNATSConnectFailsFast(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		url := fmt.Sprintf("nats://user:secret@127.0.0.1:%d", freePort(t))
		start := time.Now()
		b, err := bus.NewNATS(context.Background(), url, bus.NATSOptions{ConnectTimeout: 2 * time.Second,
			Logger: slog.New(newLogRecorder())})
		if err == nil {
			b.Close()
			t.Fatal("NewNATS to a closed port succeeded")
		}
		if d := time.Since(start); d > 2*time.Second+time.Second {
			t.Fatalf("NewNATS took %v to fail", d)
		}
		t.Logf("error: %v", err)
		msg := err.Error()
		if !strings.Contains(msg, "connect to NATS") || !strings.Contains(msg, "127.0.0.1") {
			t.Fatalf("error %q does not say what failed", msg)
		}
		if strings.Contains(msg, "secret") {
			t.Fatalf("error %q leaks the password", msg)
		}
	})
	t.Run("no answer", func(t *testing.T) {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		_, _ = hungBroker(t, addr)
		const timeout = 300 * time.Millisecond
		start := time.Now()
		b, err := bus.NewNATS(context.Background(), "nats://"+addr, bus.NATSOptions{ConnectTimeout: timeout,
			Logger: slog.New(newLogRecorder())})
		if err == nil {
			b.Close()
			t.Fatal("NewNATS to a silent broker succeeded")
		}
		if d := time.Since(start); d > timeout+2*time.Second {
			t.Fatalf("NewNATS took %v to fail with a %v timeout", d, timeout)
		}
		t.Logf("error after %v: %v", time.Since(start).Round(time.Millisecond), err)
	})
	t.Run("cancelled context", func(t *testing.T) {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		_, _ = hungBroker(t, addr)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if b, err := bus.NewNATS(ctx, "nats://"+addr, bus.NATSOptions{Logger: slog.New(newLogRecorder())}); err == nil {
			b.Close()
			t.Fatal("NewNATS with a cancelled context succeeded")
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, tc := range []struct{ url, subject string }{
			{"", ""}, {"nats://127.0.0.1:1", "a.*"}, {"nats://127.0.0.1:1", "a..b"}, {"nats://127.0.0.1:1", "a b"},
			{"nats://127.0.0.1:1", "a.>"},
		} {
			if b, err := bus.NewNATS(context.Background(), tc.url, bus.NATSOptions{Subject: tc.subject}); err == nil {
				b.Close()
				t.Errorf("NewNATS(%q, subject %q) succeeded", tc.url, tc.subject)
			}
		}
	})
}

// capture subscribes a plain NATS connection to subject and returns the raw
// messages it receives.
func capture(t testing.TB, url, subject string) (*nats.Conn, chan []byte) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ch := make(chan []byte, 1024)
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) { ch <- m.Data }); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return nc, ch
}

func TestNATSGarbageIsCountedNotFatal(t *testing.T) {
	url, subject := serverURL(t), randomSubject(t)
	b := newNode(t, url, subject, "node-b")
	s := newSink()
	subscribe(t, b, s.handle)
	raw, rawCh := capture(t, url, subject)

	// Real encodings, taken off the wire, then damaged in every way.
	frame := []byte(`{"type":"message","body":"hello"}`)
	if err := b.Publish(context.Background(), bus.Event{Type: bus.TypeMessage, SiteID: 300, ConversationID: -5,
		Seq: 1 << 40, Visibility: model.Public, ExceptSocket: "sock", Origin: "node-b", Frame: frame}); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), bus.Event{Type: bus.TypeTyping}); err != nil {
		t.Fatal(err)
	}
	var valid [][]byte
	for range 2 {
		select {
		case m := <-rawCh:
			valid = append(valid, m)
		case <-time.After(waitTimeout):
			t.Fatal("raw subscriber got nothing")
		}
	}
	s.wait(t, "the two valid events", func(evs []bus.Event) bool { return len(evs) >= 2 })

	garbage := [][]byte{
		{}, {1}, {0, 0}, {2, 0}, {1, 0x80}, // empty, short, bad version, unknown flag
		[]byte("{\"type\":\"message\"}"),                                            // JSON is not our format
		{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},    // varint overflow
		{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 'x'},                                   // length beyond the message
		{1, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 1}, // overlong length
	}
	// A nil-frame event with trailing bytes.
	garbage = append(garbage, append(slices.Clone(valid[1]), 'x'))
	// Every strict prefix of a valid header (the frame part may be cut
	// anywhere, so only prefixes that end inside the header must fail).
	headerLen := len(valid[0]) - len(frame)
	for i := 0; i < headerLen; i++ {
		garbage = append(garbage, slices.Clone(valid[0][:i]))
	}
	// Random bytes. They may happen to decode; count those too.
	for range 200 {
		var n [1]byte
		_, _ = rand.Read(n[:])
		g := make([]byte, int(n[0]))
		_, _ = rand.Read(g)
		garbage = append(garbage, g)
	}
	// Random damage to a valid encoding.
	for i := range 200 {
		g := slices.Clone(valid[i%2])
		var r [3]byte
		_, _ = rand.Read(r[:])
		g[int(binary.LittleEndian.Uint16(r[:2]))%len(g)] ^= r[2] | 1
		garbage = append(garbage, g)
	}

	before := b.Stats()
	for _, g := range garbage {
		if err := raw.Publish(subject, g); err != nil {
			t.Fatal(err)
		}
	}
	// Once the broker has the garbage, a marker sent after it arrives after it.
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), bus.Event{Type: "marker", Origin: "end", Seq: 1}); err != nil {
		t.Fatal(err)
	}
	s.wait(t, "the marker after the garbage", hasMarker("end", 1))
	after := b.Stats()
	decodeErrors := after.DecodeErrors - before.DecodeErrors
	decoded := after.Received - before.Received - 1 // minus the marker
	if decodeErrors+decoded != uint64(len(garbage)) {
		t.Fatalf("%d garbage messages: %d decode errors + %d decoded", len(garbage), decodeErrors, decoded)
	}
	// The hand-made ones and the header prefixes must all be refused.
	if must := uint64(10 + headerLen); decodeErrors < must {
		t.Fatalf("only %d decode errors, want at least %d", decodeErrors, must)
	}
	if n, _ := b.log.count("undecodable"); n == 0 {
		t.Fatal("decode errors were not logged")
	}
	t.Logf("%d garbage messages: %d refused, %d decoded as (odd) events", len(garbage), decodeErrors, decoded)
}

func TestNATSDroppedWhenSubscriberStalls(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes more than a subscriber queue holds")
	}
	url, subject := serverURL(t), randomSubject(t)
	b := newNode(t, url, subject, "node")
	stall := make(chan struct{})
	var once sync.Once
	unstall := func() { once.Do(func() { close(stall) }) }
	t.Cleanup(unstall)
	first := make(chan struct{})
	var firstOnce sync.Once
	subscribe(t, b, func(bus.Event) {
		firstOnce.Do(func() { close(first) })
		<-stall
	})
	fast := newSink()
	var fastCount atomic.Int64
	subscribe(t, b, func(e bus.Event) {
		if fastCount.Add(1) == bus.QueueLimit+101 || e.Type == "marker" {
			fast.handle(e)
		}
	})
	publishAll := func(from, n int64) {
		for i := from; i < from+n; {
			err := b.Publish(context.Background(), bus.Event{Type: bus.TypeTyping, Seq: i})
			if errors.Is(err, bus.ErrBacklog) {
				// The sender is behind: let it catch up on the next delivery.
				select {
				case <-fast.notify:
				case <-time.After(time.Millisecond):
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			i++
		}
	}
	publishAll(0, 1)
	<-first
	publishAll(1, bus.QueueLimit+100)
	if err := b.Publish(context.Background(), bus.Event{Type: "marker", Origin: "end", Seq: 1}); err != nil {
		t.Fatal(err)
	}
	fast.wait(t, "the fast subscriber to get everything", hasMarker("end", 1))
	if d := b.Dropped(); d < 100 {
		t.Fatalf("Dropped = %d, want at least 100", d)
	}
	unstall()
}

// BenchmarkNATSPublishDeliver measures events/s from one node to a
// subscriber on another through the broker (in-process unless
// $SWITCHBOARD_TEST_NATS), and the latency from Publish to delivery:
//   - throughput: publish as fast as the bus accepts; latency then is mostly
//     queueing behind the backlog;
//   - paced: a steady 20,000 events/s in bursts of 20 per millisecond, a
//     realistic busy cluster;
//   - latency: one event at a time, the next after the previous arrived.
func BenchmarkNATSPublishDeliver(b *testing.B) {
	url := serverURL(b)
	for _, size := range []int{256, 4096} {
		for _, mode := range []string{"throughput", "paced", "latency"} {
			b.Run(fmt.Sprintf("%s/frame=%d", mode, size), func(b *testing.B) { benchDeliver(b, url, size, mode) })
		}
	}
}

func benchDeliver(b *testing.B, url string, size int, mode string) {
	subject := randomSubject(b)
	pub := newNode(b, url, subject, "pub")
	recv := newNode(b, url, subject, "recv")
	lat := make([]time.Duration, 0, b.N)
	var got atomic.Int64
	done := make(chan struct{}, 1)
	want := int64(b.N)
	oneAtATime := mode == "latency"
	cancel, err := recv.Subscribe(func(e bus.Event) {
		sent := int64(binary.LittleEndian.Uint64(e.Frame))
		lat = append(lat, time.Duration(time.Now().UnixNano()-sent))
		if got.Add(1) >= want || oneAtATime {
			select {
			case done <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	const burst, every = 20, time.Millisecond // paced: 20,000 events/s
	frame := make([]byte, size)
	var backlog int
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if mode == "paced" && i%burst == 0 {
			if d := time.Until(start.Add(time.Duration(i/burst) * every)); d > 0 {
				time.Sleep(d)
			}
		}
		f := make([]byte, size) // the publisher hands over its frame
		copy(f, frame)
		binary.LittleEndian.PutUint64(f, uint64(time.Now().UnixNano()))
		e := bus.Event{Type: bus.TypeMessage, SiteID: 1, ConversationID: int64(i), Seq: int64(i), Origin: "pub", Frame: f}
		for {
			err := pub.Publish(context.Background(), e)
			if err == nil {
				break
			}
			if !errors.Is(err, bus.ErrBacklog) {
				b.Fatal(err)
			}
			backlog++
			time.Sleep(50 * time.Microsecond)
		}
		if oneAtATime {
			select {
			case <-done:
			case <-time.After(waitTimeout):
				b.Fatalf("event %d not delivered", i)
			}
		}
	}
	if !oneAtATime {
		select {
		case <-done:
		case <-time.After(waitTimeout):
			b.Fatalf("delivered %d of %d (dropped %d)", got.Load(), b.N, recv.Dropped())
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel() // waits for the handler: lat is ours now
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(backlog), "backlog-retries")
	if d := recv.Dropped(); d != 0 {
		b.Errorf("dropped %d events", d)
	}
}

// Publish must not let a caller's later change of its Event value affect
// what was sent (Frame is documented as not to be modified, but the other
// fields are copied): encoding happens inside Publish.
func TestNATSPublishEncodesImmediately(t *testing.T) {
	url, subject := serverURL(t), randomSubject(t)
	b := newNode(t, url, subject, "node")
	s := newSink()
	subscribe(t, b, s.handle)
	frame := []byte("abc")
	if err := b.Publish(context.Background(), bus.Event{Type: "marker", Origin: "x", Seq: 1, Frame: frame}); err != nil {
		t.Fatal(err)
	}
	frame[0] = 'z' // the bus copied it when encoding
	evs := s.wait(t, "the marker", hasMarker("x", 1))
	if !bytes.Equal(evs[0].Frame, []byte("abc")) {
		t.Fatalf("frame = %q", evs[0].Frame)
	}
}

func TestNATSPublishErrors(t *testing.T) {
	url, subject := serverURL(t), randomSubject(t)
	b := newNode(t, url, subject, "node")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Publish(ctx, bus.Event{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context = %v", err)
	}
	big := make([]byte, 2<<20) // the server's default max_payload is 1 MiB
	err := b.Publish(context.Background(), bus.Event{Type: bus.TypeMessage, Frame: big})
	if apperr.KindOf(err) != apperr.KindTooLarge {
		t.Fatalf("Publish of a 2 MiB frame = %v, want too_large", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), bus.Event{}); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe(func(bus.Event) {}); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}
