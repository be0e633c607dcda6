package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"switchboard/internal/store/sqlstore/pgtest"
)

// BenchmarkSendPathPostgresWriters is the send path (BenchmarkSendPathParallel)
// on PostgreSQL with 1, 2, 4 and 8 writers, optimistic batches or a savepoint
// per call throughout, on loopback and through a proxy that delays each
// direction by at least 0.25 ms, as a database on another machine would be
// (Go timers make it more on a busy machine: rtt-ms reports the median round
// trip measured). A batch waits for a round trip per statement; several
// writers keep the server busy meanwhile.
//
//	go test -run '^$' -bench SendPathPostgresWriters -benchtime 20000x ./internal/store/sqlstore/
func BenchmarkSendPathPostgresWriters(b *testing.B) {
	for _, rtt := range []time.Duration{0, 500 * time.Microsecond} {
		for _, n := range []int{1, 2, 4, 8} {
			for _, optimistic := range []bool{true, false} {
				net, mode := "loopback", "savepoints=always"
				if rtt > 0 {
					net = "proxy"
				}
				if optimistic {
					mode = "optimistic"
				}
				name := fmt.Sprintf("net=%s/writers=%d/%s", net, n, mode)
				b.Run(name, func(b *testing.B) {
					dsn := pgtest.NewDatabase(b)
					if rtt > 0 {
						dsn = pgtest.WithLatency(b, dsn, rtt/2)
					}
					s := openPG(b, dsn, PostgresOptions{Writers: n})
					rtt := measureRTT(b, s)
					if !optimistic {
						// Before the first InTx: the writers have read nothing yet.
						d := *s.d
						d.optimistic = false
						s.d = &d
					}
					benchSendPath(b, s, false)
					b.ReportMetric(rtt.Seconds()*1e3, "rtt-ms") // after: ResetTimer drops metrics
				})
			}
		}
	}
}

// measureRTT is the median time of a trivial query on the reader pool: the
// round trip the proxy really adds (timers are coarse on a busy machine).
func measureRTT(b *testing.B, s *Store) time.Duration {
	ds := make([]time.Duration, 21)
	for i := range ds {
		t := time.Now()
		if _, err := s.r.ExecContext(context.Background(), "SELECT 1"); err != nil {
			b.Fatal(err)
		}
		ds[i] = time.Since(t)
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}
