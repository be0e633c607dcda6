// Package sqlstore implements store.Store on SQL databases: SQLite
// (modernc.org/sqlite, pure Go; OpenSQLite) and PostgreSQL (pgx through
// database/sql; OpenPostgres), as dialects of the same code. Queries are
// written once in SQL both accept; what differs (placeholders, row locks,
// error classification, the schema) sits behind the unexported dialect value
// and in migrations/<dialect>/.
//
// Write path (DESIGN.md §2.8, group commit): every InTx call is queued to a
// single writer goroutine that owns the only write connection. It takes the
// first queued call, drains whatever else is already queued (up to
// Options.MaxBatch) and runs them in one database transaction, each function
// inside its own SAVEPOINT. A function that fails is rolled back to its
// savepoint alone; the others commit together with one flush. Every caller is
// answered only after that COMMIT is durable, and OnCommit callbacks run on
// the writer in commit order before the callers are answered.
//
// Reads outside a transaction use a separate pool of read-only connections
// and see committed data only (WAL lets them run beside the writer).
//
// With PostgreSQL a Store has several such writers, each with its own
// connection, and each node of a cluster runs its own Store; batches there
// are optimistic (no savepoints unless a call fails). postgres.go explains
// how the writers stay correct together.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"switchboard/internal/apperr"
	"switchboard/internal/store"
)

// Options tune a Store. Zero values take the defaults.
type Options struct {
	// ReaderConns is the size of the read-only connection pool (default 4).
	ReaderConns int
	// MaxBatch is the most InTx calls committed in one database transaction
	// (default 256).
	MaxBatch int
	// Logger receives the store's logs (nil: slog.Default()).
	Logger *slog.Logger
}

const (
	defaultReaderConns = 4
	defaultMaxBatch    = 256
)

// Store is a store.Store on a SQL database.
type Store struct {
	*reader // reads on the reader pool

	d         *dialect
	w         *sql.DB // the single writer connection
	r         *sql.DB // read-only pool
	readStmts *stmtCache
	log       *slog.Logger
	maxBatch  int
	latest    int64 // newest embedded migration
	epoch     string

	// Write queue. mu guards closed and the Add side of senders, so that
	// Close can wait for every InTx that got past the closed check to hand
	// its request over before the queue is closed.
	mu        sync.RWMutex
	closed    bool
	senders   sync.WaitGroup
	writers   []*writer
	next      atomic.Uint64 // round robin of calls without affinity
	turns     *turns        // callbacks in commit order across writers; nil with one
	closeOnce sync.Once
	closeErr  error

	batches atomic.Int64 // committed or failed database transactions
	calls   atomic.Int64 // InTx functions run in them
	retries atomic.Int64 // InTx functions run again after a deadlock or serialisation failure
	redos   atomic.Int64 // optimistic batches run again with savepoints
}

var _ store.Store = (*Store)(nil)

// ErrClosed is the cause of the error InTx returns once Close was called.
var ErrClosed = errors.New("sqlstore: store is closed")

func (o Options) withDefaults() Options {
	if o.ReaderConns <= 0 {
		o.ReaderConns = defaultReaderConns
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = defaultMaxBatch
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// sqliteDSN builds a modernc.org/sqlite DSN for path with pragmas that every
// connection runs when it opens.
func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// Every InTx call runs in its own savepoint, so each page a call
		// changes is first copied to the sub-journal. That journal only
		// serves ROLLBACK TO within the open transaction (durability is
		// the WAL's job), yet by default it spills to a temporary file
		// past 64 KiB and every copy becomes a pwrite: a sixth of the
		// writer's CPU under load. In memory it is a memcpy.
		q.Add("_pragma", "temp_store(MEMORY)")
		// Take the write lock at BEGIN, so no statement of a batch can
		// fail with SQLITE_BUSY half-way through.
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

// OpenSQLite opens (creating it if needed) the SQLite database at path,
// applies pending migrations, and starts the writer. It refuses a database
// migrated by a newer binary (ErrSchemaTooNew).
func OpenSQLite(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.Contains(path, "?") || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open sqlite: invalid database path %q (want a plain file path)", path)
	}
	opts = opts.withDefaults()
	d := sqliteDialect

	w, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite writer %s: %w", path, err)
	}

	latest, err := migrate(ctx, d, w, opts.Logger)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	epoch, err := ensureEpoch(ctx, poolQ{d: d, x: w})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}

	r, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	r.SetMaxOpenConns(opts.ReaderConns)
	r.SetMaxIdleConns(opts.ReaderConns)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open sqlite readers %s: %w", path, err)
	}

	s := newStore(d, w, r, opts, 1, latest, epoch)
	s.log.Info("sqlite store open", "path", path, "schema_version", latest, "epoch", epoch,
		"reader_conns", opts.ReaderConns, "max_batch", opts.MaxBatch)
	return s, nil
}

func newStore(d *dialect, w, r *sql.DB, opts Options, writers int, latest int64, epoch string) *Store {
	s := &Store{
		d:        d,
		w:        w,
		r:        r,
		log:      opts.Logger.With("component", "store", "dialect", d.name),
		maxBatch: opts.MaxBatch,
		latest:   latest,
		epoch:    epoch,
	}
	s.readStmts = newStmtCache(r)
	s.reader = &reader{d: d, q: poolQ{d: d, x: r, stmts: s.readStmts}, snapshot: s.readSnapshot}
	if writers > 1 {
		s.turns = newTurns()
	}
	for i := range max(writers, 1) {
		wr := &writer{Store: s, id: i, queue: make(chan *request, opts.MaxBatch), done: make(chan struct{})}
		s.writers = append(s.writers, wr)
		go wr.run()
	}
	return s
}

// queued is how many calls wait in the writers' queues (for tests).
func (s *Store) queued() int {
	n := 0
	for _, w := range s.writers {
		n += len(w.queue)
	}
	return n
}

// writerFor picks the writer of a call: by its affinity key if it has one,
// so that calls with the same key commit, and run their OnCommit callbacks,
// in the order they were queued; else round robin.
func (s *Store) writerFor(ctx context.Context) *writer {
	if len(s.writers) == 1 {
		return s.writers[0]
	}
	k, ok := store.AffinityKey(ctx)
	if !ok {
		k = s.next.Add(1)
	}
	return s.writers[k%uint64(len(s.writers))]
}

// readSnapshot runs f in a read transaction on the pool, so that a read made
// of several statements sees one committed state.
func (s *Store) readSnapshot(ctx context.Context, f func(queryer) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: s.d.snapshot})
	if err != nil {
		return fmt.Errorf("begin read: %w", s.d.wrap(err))
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to lose
	return f(poolQ{d: s.d, x: tx})
}

// ensureEpoch creates the database's epoch on first open and returns it.
func ensureEpoch(ctx context.Context, q queryer) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("epoch: %w", err)
	}
	if _, err := q.exec(ctx, "INSERT INTO meta (name, value) VALUES ('epoch', ?) ON CONFLICT (name) DO NOTHING",
		hex.EncodeToString(b[:])); err != nil {
		return "", fmt.Errorf("epoch: %w", err)
	}
	var epoch string
	if err := queryRow(ctx, q, "SELECT value FROM meta WHERE name = 'epoch'").Scan(&epoch); err != nil {
		return "", fmt.Errorf("epoch: %w", err)
	}
	return epoch, nil
}

// Epoch identifies this database's timeline (128 random bits, hex).
func (s *Store) Epoch() string { return s.epoch }

// SchemaVersion returns the newest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	return schemaVersion(ctx, s.reader.q)
}

// Ping checks that the reader pool answers and that the database is at the
// schema version this binary expects.
func (s *Store) Ping(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if v != s.latest {
		return fmt.Errorf("ping: database schema version %d, want %d", v, s.latest)
	}
	return nil
}

// InTx runs fn in a write transaction, batched with concurrent calls (see
// the package documentation), and returns once its effects are durable or
// rolled back.
//
// A Tx checks the caller's ctx before each statement but never interrupts a
// running one (that would abort the whole batch). After Close, InTx returns
// an error of kind unavailable whose cause is ErrClosed.
//
// PostgreSQL: when a statement of fn meets a deadlock or a serialisation
// failure, fn's writes are rolled back and fn runs again in the next
// transaction, up to 4 runs in all; like any retrying SQL client, fn should
// therefore act only through the Tx and OnCommit (only the last run's
// callbacks are kept). A statement that fails aborts fn's savepoint: if fn
// swallows the error and returns nil, InTx still fails.
func (s *Store) InTx(ctx context.Context, fn func(store.Tx) error) error {
	if fn == nil {
		return errors.New("sqlstore: InTx with a nil function")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed()
	}
	s.senders.Add(1)
	s.mu.RUnlock()

	req := &request{ctx: ctx, fn: fn, reply: make(chan error, 1)}
	select {
	case s.writerFor(ctx).queue <- req:
		s.senders.Done()
	case <-ctx.Done():
		s.senders.Done()
		return ctx.Err()
	}
	// Once queued, wait for the answer even if ctx ends meanwhile: the
	// caller must learn whether fn's writes were committed.
	return <-req.reply
}

func errClosed() error {
	return apperr.Wrap(apperr.KindUnavailable, "unavailable", "the store is shutting down", ErrClosed)
}

// Close stops accepting transactions, finishes the queued ones, then closes
// the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.senders.Wait()
		for _, w := range s.writers {
			close(w.queue)
		}
		for _, w := range s.writers {
			<-w.done
		}
		s.closeErr = errors.Join(s.readStmts.close(), s.w.Close(), s.r.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close store: %w", s.closeErr)
		}
		s.log.Info("store closed", "batches", s.batches.Load(), "transactions", s.calls.Load())
	})
	return s.closeErr
}
