package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
	"switchboard/internal/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openTest(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := OpenSQLite(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{})
	})
}

// The contract again with batches of one: group commit must not be what
// makes the suite pass.
func TestContractNoBatching(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{MaxBatch: 1, ReaderConns: 1})
	})
}

// fixture creates a site and a conversation.
func fixture(t testing.TB, s store.Store) (model.Site, model.Conversation) {
	t.Helper()
	var site model.Site
	var conv model.Conversation
	err := s.InTx(context.Background(), func(tx store.Tx) error {
		site = model.Site{Key: "k", Name: "n", WidgetMode: model.ModeLive}
		if err := tx.CreateSite(context.Background(), &site); err != nil {
			return err
		}
		conv = model.Conversation{SiteID: site.ID, Channel: "widget", Status: model.StatusOpen, Priority: model.PriorityNormal}
		return tx.CreateConversation(context.Background(), &conv)
	})
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return site, conv
}

func appendText(ctx context.Context, s store.Store, convID int64, body string) (model.Message, error) {
	m := model.Message{ConversationID: convID, AuthorKind: model.PartyVisitor, Kind: model.KindText,
		Visibility: model.Public, Body: body, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	err := s.InTx(ctx, func(tx store.Tx) error { return tx.AppendMessage(ctx, &m) })
	return m, err
}

func TestReopenKeepsDataAndEpoch(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	s, err := OpenSQLite(ctx, path, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	_, conv := fixture(t, s)
	m, err := appendText(ctx, s, conv.ID, "persisted")
	if err != nil {
		t.Fatal(err)
	}
	epoch := s.Epoch()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openTest(t, path, Options{})
	if s2.Epoch() != epoch {
		t.Errorf("epoch changed across reopen: %q → %q", epoch, s2.Epoch())
	}
	ms, err := s2.ListMessages(ctx, store.MessageQuery{ConversationID: conv.ID})
	if err != nil || len(ms) != 1 || ms[0].ID != m.ID || ms[0].Body != "persisted" {
		t.Fatalf("after reopen: %+v, %v", ms, err)
	}
	m2, err := appendText(ctx, s2, conv.ID, "after reopen")
	if err != nil || m2.Seq != 2 {
		t.Fatalf("append after reopen: seq %d, %v", m2.Seq, err)
	}
	v, err := s2.SchemaVersion(ctx)
	if want := embeddedVersion(t, "sqlite"); err != nil || v != want {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, want)
	}

	// Another database has another epoch.
	other := openTest(t, filepath.Join(t.TempDir(), "other.db"), Options{})
	if other.Epoch() == epoch {
		t.Errorf("two databases share the epoch %q", epoch)
	}
}

func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestPragmas(t *testing.T) {
	// No InTx yet: the writer pool's one connection is still free to query.
	s := openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{})
	for _, c := range []struct {
		db         *sql.DB
		name, want string
	}{
		{s.w, "journal_mode", "wal"},
		{s.w, "synchronous", "2"}, // FULL
		{s.w, "foreign_keys", "1"},
		{s.w, "busy_timeout", "5000"},
		{s.r, "journal_mode", "wal"},
		{s.r, "synchronous", "2"},
		{s.r, "foreign_keys", "1"},
		{s.r, "busy_timeout", "5000"},
		{s.r, "query_only", "1"},
	} {
		if got := pragma(t, c.db, c.name); got != c.want {
			t.Errorf("PRAGMA %s = %q, want %q", c.name, got, c.want)
		}
	}
	if n := s.w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool allows %d connections, want 1", n)
	}
	if n := s.r.Stats().MaxOpenConnections; n != defaultReaderConns {
		t.Errorf("reader pool allows %d connections, want %d", n, defaultReaderConns)
	}
	// The reader pool really is read-only.
	if _, err := s.r.Exec("INSERT INTO meta (name, value) VALUES ('x', 'y')"); err == nil {
		t.Errorf("write on the reader pool succeeded")
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	s, err := OpenSQLite(ctx, path, Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// A newer binary migrated this database further.
	if _, err := s.w.Exec("INSERT INTO " + versionTable + " (version_id, is_applied) VALUES (99999, 1)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping accepted a database at an unknown schema version")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = OpenSQLite(ctx, path, Options{Logger: quiet})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("OpenSQLite on a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

// TestHotQueriesUseIndexes guards the query plans of the write path.
func TestHotQueriesUseIndexes(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{})
	for _, c := range []struct {
		query, want string
		args        int
	}{
		{messageByClientIDQuery, "USING INDEX messages_client_id", 4},
		{"SELECT " + messageCols + messageFrom + " WHERE m.conversation_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?",
			"USING INDEX sqlite_autoindex_messages_1 (conversation_id=? AND seq>?)", 3},
	} {
		args := make([]any, c.args)
		for i := range args {
			args[i] = 1
		}
		plan := sqlitePlan(t, s.r, c.query, args...)
		if !strings.Contains(plan[0], c.want) {
			t.Errorf("plan of %q:\n%s\nwant %q", c.query, strings.Join(plan, "\n"), c.want)
		}
	}
}

// TestAppendDuplicateCheckUsesIndex: the client-id check inside
// AppendMessage's UPDATE is an index lookup, not a scan of the timeline.
func TestAppendDuplicateCheckUsesIndex(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{})
	rows, err := s.r.Query("EXPLAIN QUERY PLAN SELECT 1 FROM conversations WHERE id = ? AND NOT EXISTS ("+clientIDTaken+")",
		1, 1, "visitor", 1, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if want := "USING COVERING INDEX messages_client_id"; !strings.Contains(strings.Join(plan, "\n"), want) {
		t.Errorf("plan of the duplicate check:\n%s\nwant %q", strings.Join(plan, "\n"), want)
	}
}

// testAppendUnknownReferences: an unknown chat or attachment is reported
// before anything is written, so the transaction goes on (in PostgreSQL a
// failed statement would abort it) and no seq is burnt.
func testAppendUnknownReferences(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, conv := fixture(t, s)
	err := s.InTx(ctx, func(tx store.Tx) error {
		for _, c := range []struct {
			chat, attachment int64
			code             string
		}{
			{987654, 0, "chat_not_found"},
			{0, 987654, "attachment_not_found"},
		} {
			m := model.Message{ConversationID: conv.ID, ChatID: c.chat, AttachmentID: c.attachment,
				AuthorKind: model.PartyVisitor, Kind: model.KindText, Visibility: model.Public, Body: "x", ClientID: "c1"}
			if err := tx.AppendMessage(ctx, &m); apperr.CodeOf(err) != c.code {
				t.Errorf("AppendMessage with chat %d, attachment %d: %v, want %s", c.chat, c.attachment, err, c.code)
			}
		}
		m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartyVisitor, Kind: model.KindText,
			Visibility: model.Public, Body: "ok", ClientID: "c1"}
		if err := tx.AppendMessage(ctx, &m); err != nil || m.Seq != 1 {
			t.Errorf("AppendMessage after the refusals: seq %d, %v; want 1", m.Seq, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	c, err := s.GetConversation(ctx, conv.ID)
	if err != nil || c.LastSeq != 1 {
		t.Fatalf("LastSeq = %d, %v; want 1", c.LastSeq, err)
	}
}

func TestAppendUnknownReferences(t *testing.T) {
	testAppendUnknownReferences(t, openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{}))
}

func TestMigrationsUpDown(t *testing.T) {
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "m.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	checkMigrationsRoundTrip(t, sqliteDialect, db,
		"SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> ?")
}

func TestCloseFinishesQueuedWork(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "switchboard.db")
	s, err := OpenSQLite(ctx, path, Options{Logger: quiet, MaxBatch: 32})
	if err != nil {
		t.Fatal(err)
	}
	_, conv := fixture(t, s)

	// Hold the writer inside a transaction so that the next calls queue up.
	release := make(chan struct{})
	holding := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := s.InTx(ctx, func(tx store.Tx) error {
			close(holding)
			<-release
			return nil
		})
		if err != nil {
			t.Errorf("holding InTx: %v", err)
		}
	}()
	<-holding
	const queued = 20
	var acked atomic.Int64
	for i := range queued {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := appendText(ctx, s, conv.ID, fmt.Sprint(i)); err != nil {
				t.Errorf("queued append: %v", err)
				return
			}
			acked.Add(1)
		}()
	}
	// Wait until every call is queued, then close while they wait.
	deadline := time.Now().Add(10 * time.Second)
	for s.queued() < queued && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	// Close must not accept new work...
	for {
		s.mu.RLock()
		c := s.closed
		s.mu.RUnlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	err = s.InTx(ctx, func(tx store.Tx) error { return nil })
	if !errors.Is(err, ErrClosed) || apperr.KindOf(err) != apperr.KindUnavailable {
		t.Errorf("InTx after Close: %v, want ErrClosed (unavailable)", err)
	}
	// ... but finish what was queued.
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if acked.Load() != queued {
		t.Fatalf("%d of %d queued calls acked", acked.Load(), queued)
	}
	s2 := openTest(t, path, Options{})
	c, err := s2.GetConversation(ctx, conv.ID)
	if err != nil || c.LastSeq != queued {
		t.Fatalf("after reopen LastSeq = %d, %v; want %d", c.LastSeq, err, queued)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestPanicInFnIsContained(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{})
	_, conv := fixture(t, s)

	var wg sync.WaitGroup
	var okSeqs sync.Map
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var committed atomic.Bool
			err := s.InTx(ctx, func(tx store.Tx) error {
				m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartySystem, Kind: model.KindEvent,
					Visibility: model.Public, Event: "x"}
				if err := tx.AppendMessage(ctx, &m); err != nil {
					return err
				}
				tx.OnCommit(func() { committed.Store(true) })
				if i%2 == 1 {
					panic(fmt.Sprintf("bug in call %d", i))
				}
				okSeqs.Store(m.Seq, true)
				return nil
			})
			if i%2 == 1 {
				if err == nil || committed.Load() {
					t.Errorf("panicking call %d: err %v, callback ran %v", i, err, committed.Load())
				}
				return
			}
			if err != nil || !committed.Load() {
				t.Errorf("call %d: err %v, callback ran %v", i, err, committed.Load())
			}
		}()
	}
	wg.Wait()
	// The writer is alive and the timeline gap-free.
	m, err := appendText(ctx, s, conv.ID, "still alive")
	if err != nil || m.Seq != 9 {
		t.Fatalf("append after panics: seq %d, %v; want 9", m.Seq, err)
	}
	for seq := int64(1); seq <= 8; seq++ {
		if _, ok := okSeqs.Load(seq); !ok {
			t.Errorf("seq %d not acked to a successful call", seq)
		}
	}
}

func TestGoexitInFnIsContained(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{})
	_, conv := fixture(t, s)

	// Hold the writer, queue A (fine), B (exits its goroutine, as t.FailNow
	// does) and C (fine) in that order, then let them run as one batch.
	release := make(chan struct{})
	holding := make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.InTx(ctx, func(tx store.Tx) error { close(holding); <-release; return nil })
	}()
	<-holding
	type res struct {
		m   model.Message
		err error
	}
	results := make([]chan res, 3)
	for i := range results {
		results[i] = make(chan res, 1)
		go func() {
			m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartySystem, Kind: model.KindEvent,
				Visibility: model.Public, ClientID: fmt.Sprint("call-", i)}
			err := s.InTx(ctx, func(tx store.Tx) error {
				if err := tx.AppendMessage(ctx, &m); err != nil {
					return err
				}
				if i == 1 {
					runtime.Goexit()
				}
				return nil
			})
			results[i] <- res{m, err}
		}()
		for s.queued() < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	a, b, c := <-results[0], <-results[1], <-results[2]
	if a.err == nil || b.err == nil {
		t.Errorf("calls in the aborted transaction: %v, %v; want errors", a.err, b.err)
	}
	if c.err != nil || c.m.Seq != 1 {
		t.Errorf("call after the aborted one: seq %d, %v; want a fresh transaction and seq 1", c.m.Seq, c.err)
	}
	for i, want := range []bool{false, false, true} {
		_, err := s.GetMessageByClientID(ctx, conv.ID, model.PartySystem, 0, fmt.Sprint("call-", i))
		if got := err == nil; got != want {
			t.Errorf("message of call %d stored = %v, want %v (%v)", i, got, want, err)
		}
	}
	// The writer lives on.
	m, err := appendText(ctx, s, conv.ID, "alive")
	if err != nil || m.Seq != 2 {
		t.Fatalf("append afterwards: seq %d, %v", m.Seq, err)
	}
}

func TestGroupCommitBatches(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{MaxBatch: 8})
	_, conv := fixture(t, s)
	// Hold the writer so that the next calls pile up, then let go: they
	// must be committed in batches of at most MaxBatch.
	release := make(chan struct{})
	holding := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.InTx(ctx, func(tx store.Tx) error { close(holding); <-release; return nil })
	}()
	<-holding
	before := s.batches.Load()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := appendText(ctx, s, conv.ID, fmt.Sprint(i)); err != nil {
				t.Errorf("append: %v", err)
			}
		}()
	}
	for s.queued() < 8 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := s.batches.Load() - before; n != 1 {
		t.Errorf("8 queued calls took %d transactions, want 1", n)
	}
}

func TestTxUnusableAfterFn(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{})
	var leaked store.Tx
	if err := s.InTx(ctx, func(tx store.Tx) error { leaked = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := leaked.ListSites(ctx); !errors.Is(err, errTxDone) {
		t.Errorf("Tx used after its function: %v, want errTxDone", err)
	}
}

func TestCancelledCallerDoesNotAbortBatch(t *testing.T) {
	// A caller whose context ends while its fn runs gets an error from its
	// next statement; the statement is never interrupted, so the others in
	// the batch commit.
	s := openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{})
	_, conv := fixture(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	err := s.InTx(context.Background(), func(tx store.Tx) error {
		m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartySystem, Kind: model.KindEvent, Visibility: model.Public}
		if err := tx.AppendMessage(ctx, &m); err != nil {
			return err
		}
		cancel()
		return tx.AppendMessage(ctx, &m)
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("InTx: %v, want context.Canceled", err)
	}
	m, err := appendText(context.Background(), s, conv.ID, "next")
	if err != nil || m.Seq != 1 {
		t.Fatalf("next append: seq %d, %v; want 1", m.Seq, err)
	}
}

func TestOpenRejectsBadPath(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?_pragma=foo"} {
		if _, err := OpenSQLite(context.Background(), p, Options{Logger: quiet}); err == nil {
			t.Errorf("OpenSQLite(%q) succeeded", p)
		}
	}
}

func TestRebind(t *testing.T) {
	d := &dialect{dollar: true}
	if got := d.rebind("SELECT a FROM t WHERE x = ? AND y IN (?, ?)"); got != "SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)" {
		t.Errorf("rebind = %q", got)
	}
	if got := sqliteDialect.rebind("x = ?"); got != "x = ?" {
		t.Errorf("sqlite rebind = %q", got)
	}
}

func TestCursorAndPreview(t *testing.T) {
	ts := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	micros, id, err := decodeCursor(encodeCursor(ts, 42))
	if err != nil || micros != ts.UnixMicro() || id != 42 {
		t.Errorf("cursor round trip: %d %d %v", micros, id, err)
	}
	micros, _, err = decodeCursor(encodeCursor(time.Time{}, 1))
	if err != nil || fromMicros(micros) != (time.Time{}) {
		t.Errorf("zero-time cursor: %d %v", micros, err)
	}
	if got := preview("abc"); got != "abc" {
		t.Errorf("preview short = %q", got)
	}
}

// ---- benchmarks

func benchStore(b *testing.B, opts Options) *Store {
	b.Helper()
	return openTest(b, filepath.Join(b.TempDir(), "bench.db"), opts)
}

func reportRate(b *testing.B, s *Store, batches0, calls0 int64) {
	b.Helper()
	secs := b.Elapsed().Seconds()
	if secs > 0 {
		b.ReportMetric(float64(b.N)/secs, "msgs/s")
	}
	if n := s.batches.Load() - batches0; n > 0 {
		b.ReportMetric(float64(s.calls.Load()-calls0)/float64(n), "msgs/commit")
	}
}

// BenchmarkAppendMessage: one writer, one message per InTx, one commit (and
// one flush) each. The floor of the disk's flush rate.
func BenchmarkAppendMessage(b *testing.B) { benchAppendSequential(b, benchStore(b, Options{})) }

// BenchmarkAppendMessageParallel: many concurrent writers on many
// conversations; group commit acknowledges many messages per flush.
func BenchmarkAppendMessageParallel(b *testing.B) { benchAppendParallel(b, benchStore(b, Options{})) }

// benchAppendSequential appends one message per InTx, one after another.
func benchAppendSequential(b *testing.B, s *Store) {
	_, conv := fixture(b, s)
	ctx := context.Background()
	batches0, calls0 := s.batches.Load(), s.calls.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := appendText(ctx, s, conv.ID, "benchmark message"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRate(b, s, batches0, calls0)
}

// benchAppendParallel appends from 32 writers per CPU over 64 conversations.
func benchAppendParallel(b *testing.B, s *Store) {
	ctx := context.Background()
	const convs = 64
	ids := make([]int64, convs)
	err := s.InTx(ctx, func(tx store.Tx) error {
		site := model.Site{Key: "bench", Name: "bench", WidgetMode: model.ModeLive}
		if err := tx.CreateSite(ctx, &site); err != nil {
			return err
		}
		for i := range ids {
			c := model.Conversation{SiteID: site.ID, Channel: "widget", Status: model.StatusOpen, Priority: model.PriorityNormal}
			if err := tx.CreateConversation(ctx, &c); err != nil {
				return err
			}
			ids[i] = c.ID
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	batches0, calls0 := s.batches.Load(), s.calls.Load()
	b.SetParallelism(32) // 32 writers per CPU: a busy server's worth of sockets
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conv := ids[next.Add(1)%convs]
		for pb.Next() {
			if _, err := appendText(ctx, s, conv, "benchmark message"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportRate(b, s, batches0, calls0)
}
