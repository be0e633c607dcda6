package bus_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/bus"
	"switchboard/internal/bus/bustest"
)

func TestMemoryContract(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus { return bus.NewMemory() })
}

func TestMemoryDropsWhenQueueFull(t *testing.T) {
	m := bus.NewMemory()
	defer m.Close()
	stall := make(chan struct{})
	var got atomic.Int64
	first := make(chan struct{})
	var once sync.Once
	cancel, err := m.Subscribe(func(bus.Event) {
		once.Do(func() { close(first) })
		<-stall
		got.Add(1)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	ctx := context.Background()
	if err := m.Publish(ctx, bus.Event{Type: "x"}); err != nil {
		t.Fatal(err)
	}
	<-first // the first event is being handled, the queue is empty again
	const extra = 10
	for i := 0; i < bus.QueueLimit+extra; i++ {
		if err := m.Publish(ctx, bus.Event{Type: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if d := m.Dropped(); d != extra {
		t.Fatalf("Dropped = %d, want %d", d, extra)
	}
	close(stall)
	cancel()
}

func TestMemoryErrClosed(t *testing.T) {
	m := bus.NewMemory()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Publish(context.Background(), bus.Event{}); err != bus.ErrClosed {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := m.Subscribe(func(bus.Event) {}); err != bus.ErrClosed {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestMemoryPublishCancelledContext(t *testing.T) {
	m := bus.NewMemory()
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Publish(ctx, bus.Event{}); err != context.Canceled {
		t.Fatalf("Publish with a cancelled context = %v", err)
	}
}

func TestMemoryCloseFromInsideHandler(t *testing.T) {
	m := bus.NewMemory()
	done := make(chan struct{})
	if _, err := m.Subscribe(func(bus.Event) { m.Close(); close(done) }); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Subscribe(func(bus.Event) {}); err != nil {
		t.Fatal(err)
	}
	if err := m.Publish(context.Background(), bus.Event{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close from inside fn deadlocked")
	}
}

func TestMemoryCancelRace(t *testing.T) {
	// Subscribe, publish and cancel concurrently; run with -race.
	m := bus.NewMemory()
	defer m.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = m.Publish(context.Background(), bus.Event{Type: "x"})
			}
		}
	}()
	for i := 0; i < 200; i++ {
		var after atomic.Bool
		cancel, err := m.Subscribe(func(bus.Event) {
			if after.Load() {
				t.Error("fn called after cancel returned")
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		after.Store(true)
	}
	close(stop)
	wg.Wait()
}

func BenchmarkPublish(b *testing.B) {
	for _, subs := range []int{0, 1, 10} {
		b.Run(map[int]string{0: "subs=0", 1: "subs=1", 10: "subs=10"}[subs], func(b *testing.B) {
			m := bus.NewMemory()
			defer m.Close()
			var n atomic.Int64
			for i := 0; i < subs; i++ {
				cancel, err := m.Subscribe(func(bus.Event) { n.Add(1) })
				if err != nil {
					b.Fatal(err)
				}
				defer cancel()
			}
			ctx := context.Background()
			e := bus.Event{Type: bus.TypeMessage, ConversationID: 1, Seq: 1, Frame: []byte(`{"type":"message"}`)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := m.Publish(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if subs > 0 {
				b.ReportMetric(float64(m.Dropped())/float64(b.N*subs), "dropped/event")
			}
		})
	}
}

// BenchmarkPublishDeliver measures publish-to-delivery throughput with one
// subscriber: the benchmark ends when the subscriber has seen every event.
func BenchmarkPublishDeliver(b *testing.B) {
	m := bus.NewMemory()
	defer m.Close()
	var n atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	cancel, err := m.Subscribe(func(bus.Event) {
		if n.Add(1) == target {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cancel()
	ctx := context.Background()
	e := bus.Event{Type: bus.TypeMessage}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Publish(ctx, e); err != nil {
			b.Fatal(err)
		}
		// Stay under QueueLimit so nothing is dropped.
		if i%(bus.QueueLimit/2) == 0 {
			for n.Load() < int64(i)-bus.QueueLimit/4 {
				runtime.Gosched()
			}
		}
	}
	<-done
}
