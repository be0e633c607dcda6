// Package bustest is the contract suite every bus.Bus implementation must
// pass. It is written only against the bus.Bus interface, so the in-memory
// bus and a broker-backed one (NATS) run the very same tests:
//
//	func TestContract(t *testing.T) {
//		bustest.Run(t, func(t *testing.T) bus.Bus { return newMyBus(t) })
//	}
//
// The suite never sleeps to wait for a delivery: it waits on channels with a
// bounded timeout (Timeout), so a correct implementation passes quickly and a
// broken one fails instead of hanging.
//
// Delivery is at-most-once by contract, but a healthy implementation in a
// test (no broker outage, subscribers that keep up) delivers everything; the
// suite requires that, except for the subscriber it deliberately stalls.
package bustest

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/bus"
	"switchboard/internal/model"
)

// Timeout bounds every wait for a delivery in the suite. It is generous so
// that a loaded CI machine does not make the suite flaky; a passing run
// never waits this long.
var Timeout = 10 * time.Second

// Run runs the contract suite. newBus returns a fresh, empty bus for one
// subtest; Run closes it at the end of the subtest (closing twice must be
// harmless), so newBus need not register a cleanup for it.
func Run(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	open := func(t *testing.T) bus.Bus {
		t.Helper()
		b := newBus(t)
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, b bus.Bus)
	}{
		{"DeliversToEverySubscriber", testDeliversToEverySubscriber},
		{"OrderPerPublisher", testOrderPerPublisher},
		{"OrderPerConcurrentPublisher", testOrderPerConcurrentPublisher},
		{"OneCallAtATime", testOneCallAtATime},
		{"FieldsRoundTrip", testFieldsRoundTrip},
		{"OwnEventsDelivered", testOwnEventsDelivered},
		{"NotBeforeSubscribe", testNotBeforeSubscribe},
		{"CancelStopsDelivery", testCancelStopsDelivery},
		{"CancelWaitsForRunningCall", testCancelWaitsForRunningCall},
		{"CancelFromInsideHandler", testCancelFromInsideHandler},
		{"CancelTwice", testCancelTwice},
		{"SlowSubscriberDoesNotBlock", testSlowSubscriberDoesNotBlock},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// recorder collects the events a subscription receives.
type recorder struct {
	mu     sync.Mutex
	events []bus.Event
	notify chan struct{} // capacity 1: "something arrived"
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) handle(e bus.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() []bus.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bus.Event(nil), r.events...)
}

// waitFor waits until cond holds for the recorded events, or fails the test
// after Timeout.
func (r *recorder) waitFor(t *testing.T, what string, cond func([]bus.Event) bool) []bus.Event {
	t.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for {
		evs := r.snapshot()
		if cond(evs) {
			return evs
		}
		select {
		case <-r.notify:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; got %d events", Timeout, what, len(evs))
			return nil
		}
	}
}

// waitCount waits until at least n events arrived and returns them.
func (r *recorder) waitCount(t *testing.T, n int) []bus.Event {
	t.Helper()
	return r.waitFor(t, fmt.Sprintf("%d events", n), func(evs []bus.Event) bool { return len(evs) >= n })
}

// waitMarker waits until an event with Type "marker" and the given Seq arrived.
func (r *recorder) waitMarker(t *testing.T, seq int64) []bus.Event {
	t.Helper()
	return r.waitFor(t, fmt.Sprintf("marker %d", seq), func(evs []bus.Event) bool {
		for _, e := range evs {
			if e.Type == "marker" && e.Seq == seq {
				return true
			}
		}
		return false
	})
}

func subscribe(t *testing.T, b bus.Bus, fn func(bus.Event)) func() {
	t.Helper()
	cancel, err := b.Subscribe(fn)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(cancel)
	return cancel
}

func publish(t *testing.T, b bus.Bus, e bus.Event) {
	t.Helper()
	if err := b.Publish(context.Background(), e); err != nil {
		t.Fatalf("Publish(%s %d): %v", e.Type, e.Seq, err)
	}
}

func marker(seq int64) bus.Event { return bus.Event{Type: "marker", Seq: seq} }

func testDeliversToEverySubscriber(t *testing.T, b bus.Bus) {
	recs := []*recorder{newRecorder(), newRecorder(), newRecorder()}
	for _, r := range recs {
		subscribe(t, b, r.handle)
	}
	for i := int64(1); i <= 3; i++ {
		publish(t, b, bus.Event{Type: bus.TypeMessage, ConversationID: 7, Seq: i, Frame: []byte{byte(i)}})
	}
	for i, r := range recs {
		evs := r.waitCount(t, 3)
		if len(evs) != 3 {
			t.Fatalf("subscriber %d got %d events, want 3 (duplicates?)", i, len(evs))
		}
		for j, e := range evs {
			if e.Seq != int64(j+1) || e.ConversationID != 7 || e.Type != bus.TypeMessage {
				t.Fatalf("subscriber %d event %d = %+v", i, j, e)
			}
		}
	}
}

func testOrderPerPublisher(t *testing.T, b bus.Bus) {
	const n = 1000
	recs := []*recorder{newRecorder(), newRecorder(), newRecorder()}
	for _, r := range recs {
		subscribe(t, b, r.handle)
	}
	for i := int64(1); i <= n; i++ {
		publish(t, b, bus.Event{Type: bus.TypeMessage, ConversationID: 1, Seq: i})
	}
	for k, r := range recs {
		evs := r.waitCount(t, n)
		if len(evs) != n {
			t.Fatalf("subscriber %d got %d events, want %d", k, len(evs), n)
		}
		for i, e := range evs {
			if e.Seq != int64(i+1) {
				t.Fatalf("subscriber %d: event #%d has seq %d, want %d (out of order)", k, i, e.Seq, i+1)
			}
		}
	}
}

func testOrderPerConcurrentPublisher(t *testing.T, b bus.Bus) {
	const publishers, each = 4, 250
	recs := []*recorder{newRecorder(), newRecorder()}
	for _, r := range recs {
		subscribe(t, b, r.handle)
	}
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := int64(1); p <= publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(1); i <= each; i++ {
				if err := b.Publish(context.Background(), bus.Event{Type: bus.TypeMessage, ConversationID: p, Seq: i}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	for k, r := range recs {
		evs := r.waitCount(t, publishers*each)
		last := map[int64]int64{}
		for _, e := range evs {
			if e.Seq != last[e.ConversationID]+1 {
				t.Fatalf("subscriber %d: publisher %d: seq %d after %d", k, e.ConversationID, e.Seq, last[e.ConversationID])
			}
			last[e.ConversationID] = e.Seq
		}
		for p := int64(1); p <= publishers; p++ {
			if last[p] != each {
				t.Fatalf("subscriber %d: publisher %d: last seq %d, want %d", k, p, last[p], each)
			}
		}
	}
}

func testOneCallAtATime(t *testing.T, b bus.Bus) {
	const n = 200
	var inFlight, overlaps atomic.Int32
	r := newRecorder()
	subscribe(t, b, func(e bus.Event) {
		if inFlight.Add(1) != 1 {
			overlaps.Add(1)
		}
		r.handle(e)
		inFlight.Add(-1)
	})
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/4; i++ {
				_ = b.Publish(context.Background(), bus.Event{Type: bus.TypeTyping})
			}
		}()
	}
	wg.Wait()
	r.waitCount(t, n)
	if o := overlaps.Load(); o != 0 {
		t.Fatalf("fn was called concurrently %d times for one subscription", o)
	}
}

func testFieldsRoundTrip(t *testing.T, b bus.Bus) {
	binary := make([]byte, 32<<10)
	for i := range binary {
		binary[i] = byte(i * 7) // every byte value, not valid UTF-8
	}
	events := []bus.Event{
		{
			Type:           bus.TypeMessage,
			SiteID:         1<<40 + 3,
			ConversationID: 1<<53 + 1, // beyond float64 precision: a JSON encoder must keep it exact
			ContactID:      12,
			UserID:         13,
			Seq:            1<<62 + 5,
			Visibility:     model.Internal,
			ExceptSocket:   "sock-1/ä\"\\",
			Frame:          []byte(`{"type":"message","body":"héllo \u2028 <b>"}`),
			Origin:         "node-a",
		},
		{Type: bus.TypeUserRevoked, UserID: 99, Frame: binary},
		{Type: bus.TypePresence, SiteID: 5, ContactID: 6, Visibility: model.Public, Frame: []byte{}},
		{Type: bus.TypeTyping, ConversationID: 3, ExceptSocket: "s", Frame: nil},
	}
	r := newRecorder()
	subscribe(t, b, r.handle)
	for _, e := range events {
		publish(t, b, e)
	}
	got := r.waitCount(t, len(events))
	if len(got) != len(events) {
		t.Fatalf("got %d events, want %d", len(got), len(events))
	}
	for i := range events {
		want, g := events[i], got[i]
		if !bytes.Equal(want.Frame, g.Frame) {
			t.Errorf("event %d: Frame differs: got %d bytes, want %d", i, len(g.Frame), len(want.Frame))
		}
		want.Frame, g.Frame = nil, nil
		if !reflect.DeepEqual(want, g) {
			t.Errorf("event %d round trip:\n got %+v\nwant %+v", i, g, want)
		}
	}
}

func testOwnEventsDelivered(t *testing.T, b bus.Bus) {
	// A subscriber receives events published through the same bus value
	// ("including this node's own").
	r := newRecorder()
	subscribe(t, b, r.handle)
	publish(t, b, bus.Event{Type: bus.TypeChat, Origin: "self", Seq: 1})
	evs := r.waitCount(t, 1)
	if evs[0].Origin != "self" {
		t.Fatalf("got %+v", evs[0])
	}
}

func testNotBeforeSubscribe(t *testing.T, b bus.Bus) {
	witness := newRecorder() // subscribed throughout, proves the early event was sent
	subscribe(t, b, witness.handle)
	publish(t, b, bus.Event{Type: "early", Seq: 1})
	witness.waitFor(t, "the early event", func(evs []bus.Event) bool { return len(evs) >= 1 })

	late := newRecorder()
	subscribe(t, b, late.handle)
	publish(t, b, marker(2))
	evs := late.waitMarker(t, 2)
	for _, e := range evs {
		if e.Type == "early" {
			t.Fatalf("an event published before Subscribe was delivered: %+v", e)
		}
	}
}

func testCancelStopsDelivery(t *testing.T, b bus.Bus) {
	var calls atomic.Int64
	cancelled := newRecorder()
	cancel := subscribe(t, b, func(e bus.Event) {
		calls.Add(1)
		cancelled.handle(e)
	})
	witness := newRecorder()
	subscribe(t, b, witness.handle)

	publish(t, b, marker(1))
	cancelled.waitMarker(t, 1)
	cancel()
	before := calls.Load()
	for i := int64(2); i <= 50; i++ {
		publish(t, b, bus.Event{Type: bus.TypeMessage, Seq: i})
	}
	publish(t, b, marker(51))
	witness.waitMarker(t, 51) // everything after cancel has been delivered by now
	if after := calls.Load(); after != before {
		t.Fatalf("fn called %d more times after cancel returned", after-before)
	}
}

func testCancelWaitsForRunningCall(t *testing.T, b bus.Bus) {
	// After cancel returns fn is not called: a call already running on the
	// delivery goroutine has returned by then, so the subscriber may release
	// whatever fn uses as soon as cancel returns.
	entered := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	var once sync.Once
	cancel := subscribe(t, b, func(e bus.Event) {
		once.Do(func() {
			close(entered)
			<-release
			finished.Store(true)
		})
	})
	publish(t, b, marker(1))
	select {
	case <-entered:
	case <-time.After(Timeout):
		t.Fatal("fn was not called")
	}
	returned := make(chan bool, 1)
	go func() {
		cancel()
		returned <- finished.Load()
	}()
	select {
	case <-returned:
		close(release)
		t.Fatal("cancel returned while fn was still running")
	case <-time.After(50 * time.Millisecond):
		// cancel is (correctly) waiting, or slow to start: either way, let fn finish.
	}
	close(release)
	select {
	case fin := <-returned:
		if !fin {
			t.Fatal("cancel returned before the running call of fn finished")
		}
	case <-time.After(Timeout):
		t.Fatal("cancel did not return after fn finished")
	}
}

func testCancelFromInsideHandler(t *testing.T, b bus.Bus) {
	var cancel func()
	ready := make(chan struct{})
	done := make(chan struct{})
	var calls atomic.Int64
	c, err := b.Subscribe(func(e bus.Event) {
		<-ready
		if calls.Add(1) == 1 {
			cancel() // must not deadlock
			close(done)
		}
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	cancel = c
	close(ready)
	witness := newRecorder()
	subscribe(t, b, witness.handle)
	publish(t, b, marker(1))
	select {
	case <-done:
	case <-time.After(Timeout):
		t.Fatal("cancel called from inside fn did not return")
	}
	publish(t, b, marker(2))
	witness.waitMarker(t, 2)
	if n := calls.Load(); n != 1 {
		t.Fatalf("fn called %d times, want 1", n)
	}
	cancel() // and again from outside: harmless
}

func testCancelTwice(t *testing.T, b bus.Bus) {
	cancel, err := b.Subscribe(func(bus.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	cancel()
	// The bus still works for others.
	r := newRecorder()
	subscribe(t, b, r.handle)
	publish(t, b, marker(1))
	r.waitMarker(t, 1)
}

func testSlowSubscriberDoesNotBlock(t *testing.T, b bus.Bus) {
	const n = 500
	stall := make(chan struct{})
	var stallOnce sync.Once
	unstall := func() { stallOnce.Do(func() { close(stall) }) }
	t.Cleanup(unstall) // before the bus's Close, which may wait for fn
	slow := newRecorder()
	subscribe(t, b, func(e bus.Event) {
		<-stall
		slow.handle(e)
	})
	fast := newRecorder()
	subscribe(t, b, fast.handle)

	start := time.Now()
	for i := int64(1); i <= n; i++ {
		publish(t, b, bus.Event{Type: bus.TypeMessage, Seq: i})
	}
	if d := time.Since(start); d > Timeout/2 {
		t.Fatalf("publishing %d events with one stalled subscriber took %v", n, d)
	}
	evs := fast.waitCount(t, n)
	for i, e := range evs {
		if e.Seq != int64(i+1) {
			t.Fatalf("fast subscriber: event #%d has seq %d", i, e.Seq)
		}
	}
	unstall()
	// The slow one gets, at most once and in order, whatever was not dropped.
	publish(t, b, marker(n+1))
	got := slow.waitMarker(t, n+1)
	var last int64
	for _, e := range got {
		if e.Type == "marker" {
			continue
		}
		if e.Seq <= last {
			t.Fatalf("slow subscriber: seq %d after %d", e.Seq, last)
		}
		last = e.Seq
	}
}

func testClose(t *testing.T, b bus.Bus) {
	var calls atomic.Int64
	r := newRecorder()
	if _, err := b.Subscribe(func(e bus.Event) { calls.Add(1); r.handle(e) }); err != nil {
		t.Fatal(err)
	}
	publish(t, b, marker(1))
	r.waitMarker(t, 1)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	before := calls.Load()
	if err := b.Publish(context.Background(), bus.Event{Type: bus.TypeMessage}); err == nil {
		t.Fatal("Publish after Close returned nil")
	}
	if calls.Load() != before {
		t.Fatal("fn called after Close returned")
	}
	if cancel, err := b.Subscribe(func(bus.Event) { calls.Add(1) }); err == nil {
		// An implementation may accept it, but must then deliver nothing.
		cancel()
	}
	_ = b.Close() // a second Close may return an error but must not panic or hang
}
