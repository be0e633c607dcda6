package presence

import (
	"sync"
	"testing"
	"time"

	"switchboard/internal/clock"
)

type recorder struct {
	mu      sync.Mutex
	got     []Visitor
	changed []bool
}

func (r *recorder) on(v Visitor, changed bool) {
	r.mu.Lock()
	r.got = append(r.got, v)
	r.changed = append(r.changed, changed)
	r.mu.Unlock()
}

func (r *recorder) all() []Visitor {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Visitor(nil), r.got...)
}

func TestOnlineUntilTTLAfterLastSignal(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	rec := &recorder{}
	r := New(clk, 60*time.Second, rec.on)

	r.Signal(Visitor{SessionID: 1, SiteID: 1, ContactID: 10, URL: "https://shop.test/a", Visible: true})
	if got := rec.all(); len(got) != 1 || !got[0].Online {
		t.Fatalf("first signal: %+v", got)
	}
	clk.Advance(30 * time.Second)
	r.Touch(1) // a heartbeat, same page: no change event
	if len(rec.all()) != 1 {
		t.Fatalf("heartbeat produced a change event")
	}
	clk.Advance(20 * time.Second)
	r.Touch(1) // 50 s after the last announcement: re-announced for other nodes
	if got := rec.all(); len(got) != 2 || !got[1].Online {
		t.Fatalf("no re-announcement after %v: %+v", RepublishEvery, got)
	}
	rec.mu.Lock()
	if rec.changed[0] != true || rec.changed[1] != false {
		t.Fatalf("change flags %v: the re-announcement must say nothing changed", rec.changed)
	}
	rec.mu.Unlock()
	clk.Advance(50 * time.Second) // 100 s after the first, 50 s after the touch
	if _, ok := r.Get(1); !ok {
		t.Fatal("went offline although a signal came 50 s ago")
	}
	clk.Advance(10 * time.Second) // 60 s after the last signal
	if _, ok := r.Get(1); ok {
		t.Fatal("still online 60 s after the last signal")
	}
	got := rec.all()
	if len(got) != 3 || got[2].Online {
		t.Fatalf("offline event missing: %+v", got)
	}
	if clk.Pending() != 0 {
		t.Fatalf("%d timers left behind", clk.Pending())
	}
}

func TestPageChangesAreEvents(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	rec := &recorder{}
	r := New(clk, time.Minute, rec.on)
	r.Signal(Visitor{SessionID: 1, SiteID: 1, ContactID: 10, URL: "https://shop.test/a"})
	r.Signal(Visitor{SessionID: 1, SiteID: 1, ContactID: 10, URL: "https://shop.test/a"})
	r.Signal(Visitor{SessionID: 1, SiteID: 1, ContactID: 10, URL: "https://shop.test/b"})
	r.Signal(Visitor{SessionID: 1, SiteID: 1, ContactID: 10, URL: "https://shop.test/b", Minimized: true})
	if got := rec.all(); len(got) != 3 {
		t.Fatalf("want 3 change events (online, page, minimised), got %d: %+v", len(got), got)
	}
}

func TestOnlineFiltersBySiteAndContact(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	r := New(clk, time.Minute, nil)
	r.Signal(Visitor{SessionID: 1, SiteID: 1, ContactID: 10})
	clk.Advance(time.Second)
	r.Signal(Visitor{SessionID: 2, SiteID: 1, ContactID: 10, URL: "https://x.test/newer"})
	r.Signal(Visitor{SessionID: 3, SiteID: 2, ContactID: 20})
	if got := r.Online([]int64{1}); len(got) != 2 {
		t.Fatalf("site 1: %+v", got)
	}
	if got := r.Online(nil); len(got) != 3 {
		t.Fatalf("all: %+v", got)
	}
	if got := r.Online([]int64{}); len(got) != 0 {
		t.Fatalf("no sites: %+v", got)
	}
	v, ok := r.ContactOnline(10)
	if !ok || v.SessionID != 2 {
		t.Fatalf("most recent browser of contact 10: %+v %v", v, ok)
	}
	if _, ok := r.ContactOnline(99); ok {
		t.Fatal("unknown contact online")
	}
}

func TestConcurrentSignals(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	r := New(clk, time.Minute, func(Visitor, bool) {})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				r.Signal(Visitor{SessionID: int64(i*1000 + j%10), SiteID: 1})
			}
		}(i)
	}
	wg.Wait()
	if n := len(r.Online(nil)); n != 80 {
		t.Fatalf("%d online, want 80", n)
	}
	clk.Advance(time.Minute)
	if n := len(r.Online(nil)); n != 0 {
		t.Fatalf("%d still online after the TTL", n)
	}
}

// TestRemoteVisitors: visitors announced by another node are known here,
// never re-announced by this node, forgotten when announced offline, and
// expire by themselves if their node goes quiet (it may have died).
func TestRemoteVisitors(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	rec := &recorder{}
	r := New(clk, time.Minute, rec.on)
	r.Observe(Visitor{SessionID: 7, SiteID: 1, ContactID: 70, Online: true, URL: "https://x.test/a"})
	if v, ok := r.ContactOnline(70); !ok || v.URL != "https://x.test/a" {
		t.Fatalf("remote visitor unknown: %+v", v)
	}
	if len(rec.all()) != 0 {
		t.Fatal("a remote visitor was re-announced")
	}
	if r.Touch(7) {
		t.Fatal("Touch kept a remote visitor as if local")
	}
	// Announced again within RemoteTTL: kept.
	clk.Advance(RemoteTTL - time.Second)
	r.Observe(Visitor{SessionID: 7, SiteID: 1, ContactID: 70, Online: true, URL: "https://x.test/b"})
	clk.Advance(RemoteTTL - time.Second)
	if _, ok := r.Get(7); !ok {
		t.Fatal("a re-announced remote visitor expired")
	}
	// Their node goes quiet: they expire and are announced offline.
	clk.Advance(time.Second)
	if _, ok := r.Get(7); ok {
		t.Fatal("a silent remote visitor is still online")
	}
	if got := rec.all(); len(got) != 1 || got[0].Online || got[0].SessionID != 7 {
		t.Fatalf("offline announcement: %+v", got)
	}
	// Announced offline: forgotten at once.
	r.Observe(Visitor{SessionID: 8, ContactID: 80, Online: true})
	r.Observe(Visitor{SessionID: 8, ContactID: 80, Online: false})
	if _, ok := r.Get(8); ok {
		t.Fatal("an offline announcement was ignored")
	}
	// This node's own knowledge wins over another node's.
	r.Signal(Visitor{SessionID: 9, ContactID: 90, URL: "https://x.test/local"})
	r.Observe(Visitor{SessionID: 9, ContactID: 90, Online: false})
	if v, ok := r.Get(9); !ok || v.URL != "https://x.test/local" {
		t.Fatal("a remote announcement overrode a local visitor")
	}
}
