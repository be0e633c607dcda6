package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the admin connection

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlstore/pgtest"
	"switchboard/internal/store/storetest"
)

// The PostgreSQL tests run against the server named by SWITCHBOARD_TEST_POSTGRES;
// each creates its own database and drops it when done (package pgtest).

// openPG opens a store on dsn, migrating it, closed when the test ends.
func openPG(t testing.TB, dsn string, opts PostgresOptions) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	opts.Migrate = true
	s, err := OpenPostgres(context.Background(), dsn, opts)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestPostgresContract(t *testing.T) {
	pgtest.AdminDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPG(t, pgtest.NewDatabase(t), PostgresOptions{MaxConns: 4})
	})
}

// The contract again with batches of one: group commit must not be what
// makes the suite pass.
func TestPostgresContractNoBatching(t *testing.T) {
	pgtest.AdminDSN(t)
	if testing.Short() {
		t.Skip("short")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPG(t, pgtest.NewDatabase(t), PostgresOptions{MaxConns: 1, MaxBatch: 1})
	})
}

func TestPostgresReopenKeepsDataAndEpoch(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	s, err := OpenPostgres(ctx, dsn, PostgresOptions{Logger: quiet, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	_, conv := fixture(t, s)
	m, err := appendText(ctx, s, conv.ID, "persisted")
	if err != nil {
		t.Fatal(err)
	}
	epoch := s.Epoch()
	if len(epoch) != 32 {
		t.Errorf("epoch %q: want 128 random bits in hex", epoch)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened without Migrate: the schema is current, nothing to apply.
	s2, err := OpenPostgres(ctx, dsn, PostgresOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
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
	if want := embeddedVersion(t, "postgres"); err != nil || v != want {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, want)
	}
	if err := s2.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}

	// Another database has another epoch.
	other := openPG(t, pgtest.NewDatabase(t), PostgresOptions{})
	if other.Epoch() == epoch {
		t.Errorf("two databases share the epoch %q", epoch)
	}
}

func TestPostgresAppendUnknownReferences(t *testing.T) {
	testAppendUnknownReferences(t, openPG(t, pgtest.NewDatabase(t), PostgresOptions{}))
}

func TestPostgresMigrateCommand(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)

	// serve opens without Migrate: an empty database is refused with a hint.
	_, err := OpenPostgres(ctx, dsn, PostgresOptions{Logger: quiet})
	if !errors.Is(err, ErrSchemaTooOld) || !strings.Contains(err.Error(), "switchboard migrate") {
		t.Fatalf("OpenPostgres on an empty database: %v, want ErrSchemaTooOld", err)
	}

	// `switchboard migrate`, on several nodes at once: they take turns.
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := MigratePostgres(ctx, dsn, PostgresOptions{Logger: quiet})
			if want := embeddedVersion(t, "postgres"); err != nil || v != want {
				t.Errorf("MigratePostgres = %d, %v; want %d", v, err, want)
			}
		}()
	}
	wg.Wait()
	v, err := MigratePostgres(ctx, dsn, PostgresOptions{Logger: quiet})
	if want := embeddedVersion(t, "postgres"); err != nil || v != want {
		t.Fatalf("MigratePostgres again = %d, %v; want %d", v, err, want)
	}
	s, err := OpenPostgres(ctx, dsn, PostgresOptions{Logger: quiet})
	if err != nil {
		t.Fatalf("OpenPostgres after migrate: %v", err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	s, err := OpenPostgres(ctx, dsn, PostgresOptions{Logger: quiet, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// A newer binary migrated this database further.
	if _, err := s.w.Exec("INSERT INTO " + versionTable + " (version_id, is_applied) VALUES (99999, true)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping accepted a database at an unknown schema version")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, migrate := range []bool{false, true} {
		_, err = OpenPostgres(ctx, dsn, PostgresOptions{Logger: quiet, Migrate: migrate})
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Errorf("OpenPostgres (Migrate %v) on a newer schema: %v, want ErrSchemaTooNew", migrate, err)
		}
	}
	if _, err := MigratePostgres(ctx, dsn, PostgresOptions{Logger: quiet}); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("MigratePostgres on a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestPostgresMigrationsUpDown(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	cfg, err := postgresConfig(dsn, PostgresOptions{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	db := openPostgresDB(cfg, nil)
	defer db.Close()
	checkMigrationsRoundTrip(t, postgresDialect, db,
		"SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> $1")
}

func show(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRow("SHOW " + name).Scan(&v); err != nil {
		t.Fatalf("SHOW %s: %v", name, err)
	}
	return v
}

func TestPostgresConnections(t *testing.T) {
	// No InTx yet: the writer pool's connections are still free to query.
	s := openPG(t, pgtest.NewDatabase(t), PostgresOptions{MaxConns: 3, Writers: 2})
	for _, c := range []struct {
		db         *sql.DB
		name, want string
	}{
		{s.w, "statement_timeout", "5s"},
		{s.r, "statement_timeout", "5s"},
		{s.w, "application_name", "switchboard"},
		{s.r, "default_transaction_read_only", "on"},
		{s.w, "default_transaction_read_only", "off"},
		{s.w, "idle_in_transaction_session_timeout", "30s"},
		{s.r, "idle_in_transaction_session_timeout", "0"},
	} {
		if got := show(t, c.db, c.name); got != c.want {
			t.Errorf("SHOW %s = %q, want %q", c.name, got, c.want)
		}
	}
	if n := s.w.Stats().MaxOpenConnections; n != 2 {
		t.Errorf("writer pool allows %d connections, want 2", n)
	}
	if n := s.r.Stats().MaxOpenConnections; n != 3 {
		t.Errorf("reader pool allows %d connections, want 3", n)
	}
	// The reader pool really is read-only.
	if _, err := s.r.Exec("INSERT INTO meta (name, value) VALUES ('x', 'y')"); err == nil {
		t.Errorf("write on the reader pool succeeded")
	}
	// A DSN's own statement_timeout is kept when the option is zero.
	dsn := pgtest.NewDatabase(t)
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("statement_timeout", "1234")
	u.RawQuery = q.Encode()
	s2 := openPG(t, u.String(), PostgresOptions{})
	if got := show(t, s2.r, "statement_timeout"); got != "1234ms" {
		t.Errorf("statement_timeout from the DSN = %q, want 1234ms", got)
	}
}

func TestPostgresStatementTimeout(t *testing.T) {
	ctx := context.Background()
	s := openPG(t, pgtest.NewDatabase(t), PostgresOptions{StatementTimeout: 200 * time.Millisecond})
	if got := show(t, s.r, "statement_timeout"); got != "200ms" {
		t.Fatalf("statement_timeout = %q, want 200ms", got)
	}
	_, conv := fixture(t, s)

	// A read on the pool.
	start := time.Now()
	_, err := s.reader.q.exec(ctx, "SELECT pg_sleep(3)")
	if sqlState(err) != "57014" || apperr.KindOf(err) != apperr.KindUnavailable {
		t.Errorf("slow read: %v, want query_canceled of kind unavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("slow read took %v", d)
	}

	// A write transaction: the slow call fails alone, its writes vanish,
	// even when its function swallows the error; the writer goes on.
	for _, swallow := range []bool{false, true} {
		start = time.Now()
		err = s.InTx(ctx, func(tx store.Tx) error {
			m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartySystem, Kind: model.KindEvent,
				Visibility: model.Public, ClientID: "slow"}
			if err := tx.AppendMessage(ctx, &m); err != nil {
				return err
			}
			_, err := tx.(*txImpl).q.exec(ctx, "SELECT pg_sleep(3)")
			if swallow {
				return nil
			}
			return err
		})
		if sqlState(err) != "57014" {
			t.Errorf("slow transaction (swallow %v): %v, want query_canceled", swallow, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("slow transaction took %v", d)
		}
	}
	if _, err := s.GetMessageByClientID(ctx, conv.ID, model.PartySystem, 0, "slow"); !apperr.IsNotFound(err) {
		t.Errorf("message of the timed-out transaction: %v, want not found", err)
	}
	m, err := appendText(ctx, s, conv.ID, "next")
	if err != nil || m.Seq != 1 {
		t.Fatalf("append after timeouts: seq %d, %v; want 1", m.Seq, err)
	}
}

// silentServer accepts connections and never answers, like a server that
// hangs or a packet-dropping firewall. It returns its address.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestPostgresOpenFailsFast(t *testing.T) {
	dsn := pgtest.AdminDSN(t)
	ctx := context.Background()
	silent := silentServer(t)
	for _, c := range []struct {
		name, dsn   string
		opts        PostgresOptions
		unavailable bool
		mention     string
	}{
		{name: "refused", dsn: "postgres://postgres@127.0.0.1:1/x?sslmode=disable", unavailable: true, mention: "127.0.0.1:1"},
		{name: "unknown host", dsn: "postgres://postgres@switchboard-test-no-such-host.invalid:5432/x?sslmode=disable",
			unavailable: true, mention: "switchboard-test-no-such-host.invalid"},
		{name: "server never answers", dsn: "postgres://postgres@" + silent + "/x?sslmode=disable",
			opts: PostgresOptions{ConnectTimeout: 300 * time.Millisecond}, unavailable: true, mention: silent},
		{name: "server never answers, timeout in the DSN", dsn: "postgres://postgres@" + silent + "/x?sslmode=disable&connect_timeout=1",
			unavailable: true, mention: silent},
		{name: "no such database", dsn: pgtest.WithDatabase(t, dsn, fmt.Sprintf("sbtest_does_not_exist_%d", time.Now().UnixNano())), mention: "does not exist"},
		{name: "not a URL", dsn: "host=127.0.0.1 dbname=x", mention: "postgres:// URL"},
		{name: "bad URL", dsn: "postgres://postgres@127.0.0.1:5432/x?connect_timeout=abc", mention: "invalid DSN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Logger = quiet
			start := time.Now()
			s, err := OpenPostgres(ctx, c.dsn, c.opts)
			if err == nil {
				s.Close()
				t.Fatalf("OpenPostgres(%q) succeeded", c.dsn)
			}
			if d := time.Since(start); d > 6*time.Second {
				t.Errorf("took %v to fail", d)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
			if got := apperr.KindOf(err) == apperr.KindUnavailable; got != c.unavailable {
				t.Errorf("error %v: unavailable = %v, want %v", err, got, c.unavailable)
			}
			t.Logf("%v (in %v)", err, time.Since(start).Round(time.Millisecond))
		})
	}
	// The caller's context bounds opening too.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := OpenPostgres(cctx, "postgres://postgres@"+silent+"/x?sslmode=disable", PostgresOptions{Logger: quiet}); err == nil {
		t.Errorf("OpenPostgres with an expired context succeeded")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("context deadline ignored: %v", d)
	}
}

// terminate ends a server process, as a PostgreSQL restart or a network
// failure would, and waits until it is gone.
func terminate(t *testing.T, pid int) error {
	var ok bool
	if err := pgtest.AdminDB(t).QueryRow("SELECT pg_terminate_backend($1, 5000)", pid).Scan(&ok); err != nil || !ok {
		return fmt.Errorf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
	return nil
}

func TestPostgresConnectionLoss(t *testing.T) {
	ctx := context.Background()
	s := openPG(t, pgtest.NewDatabase(t), PostgresOptions{})
	_, conv := fixture(t, s)

	// The connection dies in the middle of a transaction: the caller gets
	// an error of kind unavailable, never an acknowledgement, and the write
	// is not there.
	err := s.InTx(ctx, func(tx store.Tx) error {
		m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartyVisitor, Kind: model.KindText,
			Visibility: model.Public, Body: "lost", ClientID: "lost"}
		if err := tx.AppendMessage(ctx, &m); err != nil {
			return err
		}
		var pid int
		if err := queryRow(ctx, tx.(*txImpl).q, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			return err
		}
		// Not t.Fatal: this runs on the store's writer goroutine.
		return terminate(t, pid)
	})
	if err == nil || apperr.KindOf(err) != apperr.KindUnavailable {
		t.Fatalf("InTx across a lost connection: %v, want an error of kind unavailable", err)
	}
	if _, err := s.GetMessageByClientID(ctx, conv.ID, model.PartyVisitor, 0, "lost"); !apperr.IsNotFound(err) {
		t.Errorf("message of the lost transaction: %v, want not found", err)
	}
	// The writer reconnects.
	m, err := appendText(ctx, s, conv.ID, "after")
	if err != nil || m.Seq != 1 {
		t.Fatalf("append after reconnect: seq %d, %v; want 1", m.Seq, err)
	}

	// The idle writer connection dies: the next call fails as unavailable
	// or succeeds on a new connection; the one after succeeds.
	var pid int
	if err := s.InTx(ctx, func(tx store.Tx) error {
		return queryRow(ctx, tx.(*txImpl).q, "SELECT pg_backend_pid()").Scan(&pid)
	}); err != nil {
		t.Fatal(err)
	}
	if err := terminate(t, pid); err != nil {
		t.Fatal(err)
	}
	if _, err := appendText(ctx, s, conv.ID, "maybe"); err != nil && apperr.KindOf(err) != apperr.KindUnavailable {
		t.Errorf("append on a dead connection: %v, want success or kind unavailable", err)
	}
	if _, err := appendText(ctx, s, conv.ID, "surely"); err != nil {
		t.Fatalf("append after a dead connection: %v", err)
	}
	ms, err := s.ListMessages(ctx, store.MessageQuery{ConversationID: conv.ID})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.Seq != int64(i+1) {
			t.Errorf("gap: message %d has seq %d", i, m.Seq)
		}
	}
}

// twoNodes opens two stores on one database: two Switchboard nodes.
func twoNodes(t *testing.T) (a, b *Store) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	a = openPG(t, dsn, PostgresOptions{MaxConns: 4})
	b = openPG(t, dsn, PostgresOptions{MaxConns: 4})
	if a.Epoch() != b.Epoch() {
		t.Fatalf("two nodes on one database see different epochs: %q, %q", a.Epoch(), b.Epoch())
	}
	return a, b
}

// appendOrFirst is what the chat service does: append, and on a duplicate
// client id return the first message, looked up in the same transaction.
func appendOrFirst(ctx context.Context, s store.Store, convID int64, clientID string) (model.Message, bool, error) {
	return appendOrFirstRead(ctx, s, convID, clientID, false)
}

// appendOrFirstRead is appendOrFirst that, with readFirst, reads the
// conversation in the Tx first (taking its row lock), as chat.Send does for
// staff: AppendMessage then uses its UPDATE form, whose snapshot follows
// the lock, instead of the insert-first statement.
func appendOrFirstRead(ctx context.Context, s store.Store, convID int64, clientID string, readFirst bool) (model.Message, bool, error) {
	var out model.Message
	var dup bool
	err := s.InTx(ctx, func(tx store.Tx) error {
		if readFirst {
			if _, err := tx.GetConversation(ctx, convID); err != nil {
				return err
			}
		}
		m := model.Message{ConversationID: convID, AuthorKind: model.PartyVisitor, AuthorID: 1, Kind: model.KindText,
			Visibility: model.Public, Body: "body " + clientID, ClientID: clientID,
			CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
		err := tx.AppendMessage(ctx, &m)
		if err != nil && apperr.CodeOf(err) == "duplicate_client_id" {
			dup = true
			out, err = tx.GetMessageByClientID(ctx, convID, model.PartyVisitor, 1, clientID)
			return err
		}
		out = m
		return err
	})
	return out, dup, err
}

func TestPostgresTwoNodesSeqAndIdempotency(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	_, conv := fixture(t, a)
	nodes := []*Store{a, b}

	// Every message is sent to both nodes at once, as a client retrying on
	// another node would: one stores it, the other returns the same one.
	const writers, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]model.Message{}
	bySeq := map[int64]string{}
	var dups atomic.Int64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("w%d-%d", w, i)
				var got [2]model.Message
				var inner sync.WaitGroup
				for n, node := range nodes {
					inner.Add(1)
					go func() {
						defer inner.Done()
						m, dup, err := appendOrFirst(ctx, node, conv.ID, id)
						if err != nil {
							t.Errorf("node %d, %s: %v", n, id, err)
						}
						if dup {
							dups.Add(1)
						}
						got[n] = m
					}()
				}
				inner.Wait()
				if got[0].ID != got[1].ID || got[0].Seq != got[1].Seq {
					t.Errorf("%s acked as two messages: %+v and %+v", id, got[0], got[1])
				}
				mu.Lock()
				acked[id] = got[0]
				if prev, ok := bySeq[got[0].Seq]; ok && prev != id {
					t.Errorf("seq %d acked for %s and %s", got[0].Seq, prev, id)
				}
				bySeq[got[0].Seq] = id
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const n = writers * each
	if dups.Load() != n {
		t.Errorf("%d duplicates reported, want %d (one per message)", dups.Load(), n)
	}
	ms, err := b.ListMessages(ctx, store.MessageQuery{ConversationID: conv.ID, Limit: 1000, IncludeInternal: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != n {
		t.Fatalf("%d messages stored, want %d", len(ms), n)
	}
	for i, m := range ms {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d, want %d", i, m.Seq, i+1)
		}
		if acked[m.ClientID].ID != m.ID {
			t.Fatalf("seq %d stored for %s, acked as message %d", m.Seq, m.ClientID, acked[m.ClientID].ID)
		}
	}
	c, err := a.GetConversation(ctx, conv.ID)
	if err != nil || c.LastSeq != n {
		t.Fatalf("LastSeq = %d, %v; want %d", c.LastSeq, err, n)
	}
}

// waitForLockWait waits until a backend of s's database waits for a lock.
func waitForLockWait(t *testing.T, s *Store) {
	t.Helper()
	var db string
	if err := s.r.QueryRow("SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		err := pgtest.AdminDB(t).QueryRow("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
			db).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no backend waits for a lock")
}

// TestPostgresCrossNodeRetryWaitsForFirst: the retry arrives on node B while
// node A's transaction with the first attempt is still open. B waits for
// A's row lock; when A commits, B reports duplicate_client_id with its
// transaction intact (it finds the first message in the same Tx); when A
// rolls back, B's message is the first one.
func TestPostgresCrossNodeRetryWaitsForFirst(t *testing.T) {
	for _, c := range []struct{ commit, readFirst bool }{{true, false}, {false, false}, {true, true}, {false, true}} {
		commit := c.commit
		t.Run(fmt.Sprintf("first commits %v, retry reads the conversation first %v", commit, c.readFirst), func(t *testing.T) {
			ctx := context.Background()
			a, b := twoNodes(t)
			_, conv := fixture(t, a)

			appended := make(chan model.Message, 1)
			release := make(chan struct{})
			firstDone := make(chan error, 1)
			go func() {
				firstDone <- a.InTx(ctx, func(tx store.Tx) error {
					m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartyVisitor, AuthorID: 1,
						Kind: model.KindText, Visibility: model.Public, Body: "first", ClientID: "k1"}
					if err := tx.AppendMessage(ctx, &m); err != nil {
						return err
					}
					appended <- m
					<-release
					if !commit {
						return errors.New("the first attempt fails after all")
					}
					return nil
				})
			}()
			first := <-appended

			type result struct {
				m   model.Message
				dup bool
				err error
			}
			retried := make(chan result, 1)
			go func() {
				m, dup, err := appendOrFirstRead(ctx, b, conv.ID, "k1", c.readFirst)
				retried <- result{m, dup, err}
			}()
			waitForLockWait(t, a)
			close(release)
			err := <-firstDone
			r := <-retried
			if r.err != nil {
				t.Fatalf("retry on node B: %v", r.err)
			}
			if commit {
				if err != nil {
					t.Fatalf("first attempt: %v", err)
				}
				if !r.dup || r.m.ID != first.ID || r.m.Seq != 1 {
					t.Errorf("retry: dup %v, %+v; want the first message %+v", r.dup, r.m, first)
				}
			} else if r.dup || r.m.Seq != 1 || r.m.Body != "body k1" {
				t.Errorf("retry after the first rolled back: dup %v, %+v; want a new message with seq 1", r.dup, r.m)
			}
			// No seq was burnt.
			m, err := appendText(ctx, b, conv.ID, "next")
			if err != nil || m.Seq != 2 {
				t.Fatalf("next append: seq %d, %v; want 2", m.Seq, err)
			}
		})
	}
}

// TestPostgresTxReadLocks: a Tx's GetChat locks the chat row, so that a
// read-modify-write on another node waits and then sees the committed row.
func TestPostgresTxReadLocks(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	_, conv := fixture(t, a)
	var ch model.Chat
	if err := a.InTx(ctx, func(tx store.Tx) error {
		ch = model.Chat{ConversationID: conv.ID, State: model.ChatWaiting}
		return tx.CreateChat(ctx, &ch)
	}); err != nil {
		t.Fatal(err)
	}
	// Both nodes try to claim the waiting chat; exactly one may.
	claim := func(s *Store, gate func()) (bool, error) {
		claimed := false
		err := s.InTx(ctx, func(tx store.Tx) error {
			c, err := tx.GetChat(ctx, ch.ID)
			if err != nil {
				return err
			}
			gate()
			if c.State != model.ChatWaiting {
				return nil
			}
			c.State = model.ChatActive
			claimed = true
			return tx.UpdateChat(ctx, c)
		})
		return claimed, err
	}
	read := make(chan struct{})
	release := make(chan struct{})
	aDone := make(chan bool, 1)
	go func() {
		ok, err := claim(a, func() { close(read); <-release })
		if err != nil {
			t.Errorf("node A: %v", err)
		}
		aDone <- ok
	}()
	<-read
	bDone := make(chan bool, 1)
	go func() {
		ok, err := claim(b, func() {})
		if err != nil {
			t.Errorf("node B: %v", err)
		}
		bDone <- ok
	}()
	waitForLockWait(t, a)
	close(release)
	if okA, okB := <-aDone, <-bDone; !okA || okB {
		t.Errorf("claims: node A %v, node B %v; want A only", okA, okB)
	}
}

// TestPostgresDeadlockRetried: two nodes lock two conversations in opposite
// orders. PostgreSQL aborts one of them; its call is run again after the
// other commits, and both callers succeed with gap-free seqs.
func TestPostgresDeadlockRetried(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	_, x := fixture(t, a)
	var y model.Conversation
	if err := a.InTx(ctx, func(tx store.Tx) error {
		y = model.Conversation{SiteID: x.SiteID, Channel: "widget", Status: model.StatusOpen, Priority: model.PriorityNormal}
		return tx.CreateConversation(ctx, &y)
	}); err != nil {
		t.Fatal(err)
	}
	aHolds, bHolds := make(chan struct{}), make(chan struct{})
	cross := func(s *Store, first, second int64, mine, theirs chan struct{}) error {
		var runs atomic.Int64
		return s.InTx(ctx, func(tx store.Tx) error {
			run := runs.Add(1)
			m := model.Message{ConversationID: first, AuthorKind: model.PartySystem, Kind: model.KindEvent, Visibility: model.Public}
			if err := tx.AppendMessage(ctx, &m); err != nil {
				return err
			}
			if run == 1 {
				close(mine)
				select {
				case <-theirs:
				case <-time.After(10 * time.Second):
					return errors.New("the other node never took its first lock")
				}
			}
			m = model.Message{ConversationID: second, AuthorKind: model.PartySystem, Kind: model.KindEvent, Visibility: model.Public}
			return tx.AppendMessage(ctx, &m)
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- cross(a, x.ID, y.ID, aHolds, bHolds) }()
	go func() { errs <- cross(b, y.ID, x.ID, bHolds, aHolds) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("InTx: %v", err)
		}
	}
	if n := a.retries.Load() + b.retries.Load(); n < 1 {
		t.Errorf("%d calls run again, want at least 1 (a deadlock was expected)", n)
	}
	for _, c := range []int64{x.ID, y.ID} {
		ms, err := a.ListMessages(ctx, store.MessageQuery{ConversationID: c})
		if err != nil || len(ms) != 2 || ms[0].Seq != 1 || ms[1].Seq != 2 {
			t.Errorf("conversation %d: %+v, %v; want seqs 1, 2", c, ms, err)
		}
	}
}

// TestPostgresHotQueriesUseIndexes guards the plans of the write path's
// lookups (with sequential scans disabled, as on a large table).
func TestPostgresHotQueriesUseIndexes(t *testing.T) {
	ctx := context.Background()
	s := openPG(t, pgtest.NewDatabase(t), PostgresOptions{})
	conn, err := s.r.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		query, want string
		args        []any
	}{
		{clientIDTaken, "messages_client_id", []any{1, "visitor", 1, "k"}},
		{messageByClientIDQuery, "messages_client_id", []any{1, "visitor", 1, "k"}},
		{"SELECT " + messageCols + messageFrom + " WHERE m.conversation_id = ? AND m.seq > ? ORDER BY m.seq LIMIT ?",
			"messages_conversation_id_seq_key", []any{1, 0, 100}},
	} {
		rows, err := conn.QueryContext(ctx, "EXPLAIN "+postgresDialect.rebind(c.query), c.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "\n"), "Index") || !strings.Contains(strings.Join(plan, "\n"), c.want) {
			t.Errorf("plan of %q:\n%s\nwant an index scan on %s", c.query, strings.Join(plan, "\n"), c.want)
		}
	}
}

func TestPostgresClassify(t *testing.T) {
	for _, c := range []struct {
		err         error
		unavailable bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{&pgconn.PgError{Code: "57014"}, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "42P01"}, false},
		{fmt.Errorf("x: %w", sql.ErrConnDone), true},
		{context.Canceled, false},
		{errors.New("scan: unexpected type"), false},
	} {
		got := apperr.KindOf(pgClassify(c.err)) == apperr.KindUnavailable
		if got != c.unavailable {
			t.Errorf("pgClassify(%v): unavailable %v, want %v", c.err, got, c.unavailable)
		}
	}
	if err := pgClassify(context.Canceled); err != context.Canceled { //nolint:errorlint // unchanged
		t.Errorf("context error changed: %v", err)
	}
	for _, s := range []string{"postgres://x", "postgresql://x"} {
		if !IsPostgresDSN(s) {
			t.Errorf("IsPostgresDSN(%q) = false", s)
		}
	}
	if IsPostgresDSN("/var/lib/switchboard.db") {
		t.Errorf("a file path taken for a PostgreSQL DSN")
	}
}

// ---- benchmarks

func benchPG(b *testing.B, opts PostgresOptions) *Store {
	b.Helper()
	return openPG(b, pgtest.NewDatabase(b), opts)
}

// BenchmarkAppendMessagePostgres: one writer, one message per InTx, one
// commit each: the round trips and the WAL flush of a lone write.
func BenchmarkAppendMessagePostgres(b *testing.B) {
	benchAppendSequential(b, benchPG(b, PostgresOptions{}))
}

// BenchmarkAppendMessageParallelPostgres: many concurrent writers on many
// conversations; group commit acknowledges many messages per commit.
func BenchmarkAppendMessageParallelPostgres(b *testing.B) {
	benchAppendParallel(b, benchPG(b, PostgresOptions{}))
}
