package chat

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"switchboard/internal/blob"
	"switchboard/internal/bus"
	"switchboard/internal/clock"
	"switchboard/internal/model"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlstore"
)

// benchVisitor returns a service on SQLite (real clock, durable commits) and
// a visitor of its one site.
func benchVisitor(b *testing.B) (*Service, Actor) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(b.TempDir(), "db"), sqlstore.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	blobs, _ := blob.NewFS(b.TempDir())
	bs := bus.NewMemory()
	b.Cleanup(func() { bs.Close() })
	s := New(Config{Store: st, Bus: bs, Blobs: blobs, Clock: clock.Real{}, NodeID: "bench", Logger: quiet})
	b.Cleanup(s.StopRouting)
	site := model.Site{Key: "benchvisits", Name: "Bench", WidgetMode: model.ModeLive, AllowedOrigins: []string{}, CreatedAt: time.Now().UTC()}
	if err := st.InTx(ctx, func(tx store.Tx) error { return tx.CreateSite(ctx, &site) }); err != nil {
		b.Fatal(err)
	}
	vs, err := s.StartVisitor(ctx, site.Key, "")
	if err != nil {
		b.Fatal(err)
	}
	a, _, err := s.AuthenticateVisitor(ctx, vs.Token)
	if err != nil {
		b.Fatal(err)
	}
	return s, a
}

// BenchmarkPresenceUnchanged is the common case: a visitor's presence frame
// with nothing new (the widget re-sends on focus, visibility, reconnects).
// Nothing is written; the visit recorder costs a map lookup.
//
//	go test -run '^$' -bench 'BenchmarkPresence|BenchmarkPing' -benchmem ./internal/chat
func BenchmarkPresenceUnchanged(b *testing.B) {
	s, v := benchVisitor(b)
	p := protocol.PresenceData{URL: "https://shop.example/", Title: "Shop", Visible: true, TimeZone: "Europe/Paris", Locale: "fr-FR"}
	if err := s.Signal(v, p); err != nil {
		b.Fatal(err)
	}
	s.waitVisits()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Signal(v, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPresenceRegistryOnly is the same frame without the visit
// recorder (validation and the presence registry only): the baseline.
func BenchmarkPresenceRegistryOnly(b *testing.B) {
	s, v := benchVisitor(b)
	p := protocol.PresenceData{URL: "https://shop.example/", Title: "Shop", Visible: true, TimeZone: "Europe/Paris", Locale: "fr-FR"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := checkVisitorPlace(p); err != nil {
			b.Fatal(err)
		}
		s.presence.Signal(presenceOf(v, p))
	}
}

// BenchmarkPing is the widget's keep-alive every 25 s (Touch).
func BenchmarkPing(b *testing.B) {
	s, v := benchVisitor(b)
	if err := s.Signal(v, protocol.PresenceData{URL: "https://shop.example/"}); err != nil {
		b.Fatal(err)
	}
	s.waitVisits()
	b.ReportAllocs()
	for b.Loop() {
		s.Touch(v)
	}
}

// BenchmarkPresenceNewPage is a visitor moving to another page: the command
// only queues a history record. The ns/op is the command; the writes run on
// the recorder's goroutine, batched, and are waited for at the end (the
// "written/s" metric is their throughput: records written durably per
// second of the whole run; far beyond any real page rate, the queue fills
// and "%dropped" of the records are dropped, by design).
func BenchmarkPresenceNewPage(b *testing.B) {
	s, v := benchVisitor(b)
	b.ReportAllocs()
	i := 0
	start := time.Now()
	var cmd time.Duration
	for b.Loop() {
		i++
		p := protocol.PresenceData{URL: fmt.Sprintf("https://shop.example/p/%d", i), Title: "Product", Visible: true}
		t0 := time.Now()
		if err := s.Signal(v, p); err != nil {
			b.Fatal(err)
		}
		cmd += time.Since(t0)
	}
	s.waitVisits()
	b.ReportMetric(float64(cmd.Nanoseconds())/float64(i), "cmd-ns")
	d := s.visits.dropped.Load()
	b.ReportMetric(float64(int64(i)-d)/time.Since(start).Seconds(), "written/s")
	b.ReportMetric(float64(d)/float64(i)*100, "%dropped")
}
