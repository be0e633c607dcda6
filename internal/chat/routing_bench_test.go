package chat

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"switchboard/internal/blob"
	"switchboard/internal/bus"
	"switchboard/internal/clock"
	"switchboard/internal/model"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlstore"
)

// BenchmarkRoutingDecision measures one routing decision (read the head of
// the queue and the department's agents, rank them, claim the chat and the
// agent's slot, commit durably) with 1,000 agents online and 10,000 chats
// waiting, on SQLite. Run with -benchtime=2000x: each decision fills one of
// the agents' 10,000 slots. It reports the p50 and p99 of single decisions.
//
//	go test -run '^$' -bench BenchmarkRoutingDecision -benchtime=2000x ./internal/chat
func BenchmarkRoutingDecision(b *testing.B) {
	for _, strategy := range []string{"round_robin", "least_busy", "priority"} {
		b.Run(strategy, func(b *testing.B) {
			ctx := context.Background()
			st, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "db"), sqlstore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			blobs, _ := blob.NewFS(b.TempDir())
			bs := bus.NewMemory()
			defer bs.Close()
			s := New(Config{Store: st, Bus: bs, Blobs: blobs, Clock: clock.Real{}, NodeID: "bench",
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			defer s.StopRouting()
			const agents, waiting = 1000, 10000
			site := seedQueue(b, st, strategy, agents, waiting)
			k := queueKey{site, 0}
			if b.N > agents*10 {
				b.Fatalf("at most %d decisions fit (use -benchtime=2000x)", agents*10)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				did, err := s.router.dispatchOne(ctx, k)
				lat = append(lat, time.Since(t0))
				if err != nil || !did {
					b.Fatalf("decision: %v (did %v)", err, did)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// seedQueue creates a site with agents (available, capacity 10) and
// waiting chats in its general queue, directly through the store.
func seedQueue(b *testing.B, st store.Store, strategy string, agents, waiting int) int64 {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	site := model.Site{Key: fmt.Sprintf("bench%d", now.UnixNano()), Name: "Bench", WidgetMode: model.ModeLive,
		AllowedOrigins: []string{}, Routing: model.RoutingSettings{Strategy: strategy}, CreatedAt: now}
	if err := st.InTx(ctx, func(tx store.Tx) error { return tx.CreateSite(ctx, &site) }); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < agents; i += 250 {
		err := st.InTx(ctx, func(tx store.Tx) error {
			for j := i; j < min(i+250, agents); j++ {
				u := model.User{Email: fmt.Sprintf("agent%d@bench.test", j), Name: fmt.Sprintf("Agent %d", j), Role: model.RoleAgent,
					Availability: model.Available, Capacity: 10, MaxCapacity: 10, CreatedAt: now, UpdatedAt: now}
				if err := tx.CreateUser(ctx, &u); err != nil {
					return err
				}
				if err := tx.SetUserSites(ctx, u.ID, []int64{site.ID}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	prios := []model.Priority{model.PriorityLow, model.PriorityNormal, model.PriorityHigh, model.PriorityUrgent}
	for i := 0; i < waiting; i += 500 {
		err := st.InTx(ctx, func(tx store.Tx) error {
			for j := i; j < min(i+500, waiting); j++ {
				at := now.Add(time.Duration(j) * time.Millisecond)
				c := model.Contact{SiteID: site.ID, Attributes: map[string]string{}, CreatedAt: at}
				if err := tx.CreateContact(ctx, &c); err != nil {
					return err
				}
				conv := model.Conversation{SiteID: site.ID, ContactID: c.ID, Channel: "widget", Status: model.StatusOpen,
					Priority: prios[j%4], Tags: []string{}, CreatedAt: at, UpdatedAt: at}
				if err := tx.CreateConversation(ctx, &conv); err != nil {
					return err
				}
				ch := model.Chat{ConversationID: conv.ID, State: model.ChatWaiting, RequestedAt: at}
				if err := tx.CreateChat(ctx, &ch); err != nil {
					return err
				}
				conv.ChatID, conv.ChatState = ch.ID, model.ChatWaiting
				if err := tx.UpdateConversation(ctx, conv); err != nil {
					return err
				}
				if err := tx.PutQueueEntry(ctx, model.QueueEntry{ChatID: ch.ID, ConversationID: conv.ID, SiteID: site.ID,
					Priority: conv.Priority, RequestedAt: at, State: model.QueueWaiting}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return site.ID
}
