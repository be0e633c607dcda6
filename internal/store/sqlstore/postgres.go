package sqlstore

// PostgreSQL dialect.
//
// One Store per node. Its InTx calls are group-committed as with SQLite,
// but by several writers (PostgresOptions.Writers, default 4), each a
// goroutine with its own connection running one batch at a time: a batch
// spends most of its time waiting for round trips, and one writer would
// leave the server idle meanwhile (on a network, a 0.5 ms round trip caps
// one writer at a few hundred messages/s). Calls are spread round robin,
// except that calls with the same store.WithAffinity key (chat.Send uses the
// conversation) go to the same writer, so they never wait for each other's
// row locks across writers. OnCommit callbacks still run in commit order
// across writers (turns.go), so a conversation's events are published in seq
// order as with one writer. Reads go through a pool of read-only
// connections.
//
// Batches are optimistic: their calls run without savepoints, one round
// trip per statement and no subtransactions (a SAVEPOINT per call cost a
// round trip and ~30 % of the server's CPU per message). A call that fails
// after writing, or whose statement fails (which aborts a PostgreSQL
// transaction), gets its error; the batch is rolled back and its other
// calls run again at once in a batch with a savepoint per call, where a
// failure stays with its call. So a failure costs its batch one more run,
// never an answer: callers are answered only after COMMIT, and an InTx
// function may run more than once (as after a deadlock), so it must act only
// through the Tx and OnCommit.
//
// Several writers, on one node or on several, are kept correct together by
// the database:
//
//   - seq: AppendMessage's UPDATE conversations SET last_seq = last_seq + 1
//     ... RETURNING takes the conversation's row lock, which a writer of the
//     same conversation on another node waits for until this transaction
//     commits; under READ COMMITTED it then re-reads the committed last_seq.
//     So seqs stay gap-free and unique cluster-wide, and a conversation's
//     commits (and so, per node, its OnCommit callbacks) follow seq order.
//   - idempotency: the unique index on (conversation_id, author_kind,
//     author_id, client_id) makes a retry on another node fail cleanly.
//     AppendMessage takes the row lock before it checks for the client id,
//     so the retry sees the first node's committed message and returns
//     duplicate_client_id without any failed statement: the transaction
//     stays usable, and the caller looks the first message up in it (see
//     tx.go). Should the index still fire, the call fails as a whole.
//   - read-modify-write: inside a Tx, GetConversation, GetChat, GetUser,
//     GetUserByEmail and GetQueueEntry lock the row they return (FOR NO KEY
//     UPDATE, the lock an UPDATE takes), so "read the chat, check it is
//     waiting, assign it" runs on one node at a time, as under SQLite's
//     single writer (DESIGN.md §2.5). SetTags, SetUserSites,
//     UpdateDepartment and DeleteDepartment lock their parent row likewise.
//     Upserts (PutQueueEntry, PutOffer) resolve concurrent inserts with ON
//     CONFLICT. RecountLoad locks the user's row before the UPDATE that
//     counts, so that the count, a later statement, sees every other
//     transaction that changed the user's chats or offers and recounted (each
//     held that lock until its commit); an UPDATE that waited for the lock
//     itself would count from the snapshot taken before the wait.
//   - the mail outbox (mail.go): ClaimDueMail leases rows it selects FOR NO
//     KEY UPDATE SKIP LOCKED, so two nodes claiming at once take disjoint
//     mails without waiting for each other, and a lease another node has
//     committed meanwhile is seen on the re-checked row. EnqueueMail and
//     PutMailRef insert with ON CONFLICT DO NOTHING: a concurrent duplicate
//     waits for the first transaction, then changes nothing, without a
//     failed statement.
//   - deadlocks: two writers' batches can lock two conversations in opposite
//     orders. PostgreSQL then aborts one statement (40P01) after
//     deadlock_timeout (or lock_timeout, below); the writer rolls that call
//     back (to its savepoint, or the whole optimistic batch), commits the
//     rest of its batch (which releases the locks the other writer waits for)
//     and runs the call again in its next transaction, at most maxAttempts
//     times. Serialisation failures (40001) are treated alike.
//
// Failures: a lost connection, a server shutting down, a statement timeout
// come back as apperr KindUnavailable. Callers are answered only after
// COMMIT succeeded, so a restart of PostgreSQL gives errors, never false
// acknowledgements (a connection lost during COMMIT leaves the outcome
// unknown: the caller gets an error and its retry, with the same client id,
// finds the message if it was committed).

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"switchboard/internal/apperr"
)

// PostgresOptions tune a PostgreSQL store. Zero values take the defaults.
type PostgresOptions struct {
	// MaxConns is the size of the read pool (default 10). The writers hold
	// one more connection each, so a node uses at most MaxConns+Writers.
	MaxConns int
	// Writers is how many write connections commit batches side by side
	// (default 4; 1 gives the single writer SQLite has). A batch waits on
	// round trips to the server; several writers keep it busy meanwhile.
	Writers int
	// StatementTimeout bounds every statement, set on each connection as
	// the statement_timeout parameter (default 5s; negative: none). Zero
	// keeps a statement_timeout given in the DSN, if any. A write statement
	// that times out fails its InTx call alone (apperr KindUnavailable).
	StatementTimeout time.Duration
	// ConnectTimeout bounds opening a connection when the DSN has no
	// connect_timeout (default 5s).
	ConnectTimeout time.Duration
	// MaxBatch is the most InTx calls committed in one transaction
	// (default 256).
	MaxBatch int
	// Migrate applies pending migrations on open. Without it, OpenPostgres
	// refuses a database that is not exactly at this binary's schema
	// (ErrSchemaTooOld; run MigratePostgres, i.e. `switchboard migrate`).
	Migrate bool
	// Logger receives the store's logs (nil: slog.Default()).
	Logger *slog.Logger
}

const (
	defaultPostgresConns    = 10
	defaultPostgresWriters  = 4
	defaultStatementTimeout = 5 * time.Second
	defaultConnectTimeout   = 5 * time.Second
	postgresReaderLifetime  = 30 * time.Minute
	postgresReaderIdleTime  = 5 * time.Minute
	postgresApplicationName = "switchboard"
	postgresRowLock         = " FOR NO KEY UPDATE"
	postgresWriterIdleInTx  = 30 * time.Second
)

func (o PostgresOptions) withDefaults() PostgresOptions {
	if o.MaxConns <= 0 {
		o.MaxConns = defaultPostgresConns
	}
	if o.Writers <= 0 {
		o.Writers = defaultPostgresWriters
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = defaultConnectTimeout
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = defaultMaxBatch
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// IsPostgresDSN reports whether a --store value names a PostgreSQL database
// (a postgres:// or postgresql:// URL) rather than a SQLite file.
func IsPostgresDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

var postgresDialect = &dialect{
	name:   "postgres",
	goose:  goose.DialectPostgres,
	dollar: true,
	// Explicitly READ COMMITTED, whatever default_transaction_isolation
	// says: AppendMessage relies on a statement that waited for a row lock
	// seeing the row as committed meanwhile.
	begin:        "BEGIN ISOLATION LEVEL READ COMMITTED",
	beginLocal:   pgLockTimeout,
	isUnique:     func(err error) bool { return sqlState(err) == "23505" },
	isForeignKey: func(err error) bool { return sqlState(err) == "23503" },
	isBusy:       pgRetryable,
	chainControl: true,
	optimistic:   true,
	cteWrites:    true,
	rowLock:      postgresRowLock,
	claimLock:    postgresRowLock + " SKIP LOCKED",
	ilike:        "ILIKE",
	snapshot:     sql.LevelRepeatableRead,
	failsTx: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe)
	},
	isRetryable: pgRetryable,
	tableExists: "SELECT CASE WHEN to_regclass(?) IS NULL THEN 0 ELSE 1 END",
	convTags:    "(SELECT COALESCE(json_agg(tag), '[]')::text FROM conversation_tags t WHERE t.conversation_id = c.id)",
	classify:    pgClassify,
}

// sqlState returns err's SQLSTATE, or "" if the server did not report it.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// pgLockTimeout bounds how long a batch waits for a row lock. Two nodes'
// batches can lock conversations in opposite orders; PostgreSQL detects
// that deadlock only after deadlock_timeout (1 s by default, a server-wide
// setting), which under cross-node load costs a second per deadlock. A
// lock wait longer than this is treated like a deadlock instead (55P03:
// the call is rolled back to its savepoint, the rest of the batch commits,
// the call runs again next batch). The value is random per transaction so
// that two waiting nodes do not time out together and retry in lock-step.
func pgLockTimeout() string {
	return "SET LOCAL lock_timeout = " + strconv.Itoa(30+rand.IntN(60))
}

// pgRetryable: serialization_failure, deadlock_detected.
func pgRetryable(err error) bool {
	switch sqlState(err) {
	case "40001", "40P01", "55P03":
		return true
	}
	return false
}

// pgClassify turns the errors that mean "the database is not there right
// now" into apperr KindUnavailable; others are returned unchanged.
func pgClassify(err error) error {
	if err == nil {
		return nil
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	// A failed connection attempt is unavailability even when it ended on
	// pgx's connect timeout (a context deadline inside); errors.Is still
	// finds a caller's context error through the wrapping.
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return err
	}
	if pgUnavailable(err) {
		return apperr.Wrap(apperr.KindUnavailable, "unavailable", "the database is unavailable; try again", err)
	}
	return err
}

func pgUnavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "55P03", // still failing after the writer's retries
			"57014",                   // query_canceled: statement_timeout
			"57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			"53300": // too_many_connections
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection_exception
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		pgconn.SafeToRetry(err)
}

// postgresConfig parses dsn and applies opts to it.
func postgresConfig(dsn string, opts PostgresOptions) (*pgx.ConnConfig, error) {
	if !IsPostgresDSN(dsn) {
		return nil, fmt.Errorf("open postgres: DSN must be a postgres:// URL")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors redact the password.
		return nil, fmt.Errorf("open postgres: invalid DSN: %w", err)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = opts.ConnectTimeout
	}
	switch {
	case opts.StatementTimeout > 0:
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(1, opts.StatementTimeout.Milliseconds()), 10)
	case opts.StatementTimeout < 0:
		cfg.RuntimeParams["statement_timeout"] = "0"
	case cfg.RuntimeParams["statement_timeout"] == "":
		cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(defaultStatementTimeout.Milliseconds(), 10)
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = postgresApplicationName
	}
	return cfg, nil
}

// describePostgres names the database for logs and errors, without secrets.
func describePostgres(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("postgres://%s@%s/%s", cfg.User, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), cfg.Database)
}

// openPostgresDB opens a database/sql pool on cfg with extra runtime
// parameters.
func openPostgresDB(cfg *pgx.ConnConfig, params map[string]string) *sql.DB {
	c := cfg.Copy()
	for k, v := range params {
		c.RuntimeParams[k] = v
	}
	return stdlib.OpenDB(*c)
}

// MigratePostgres applies the pending migrations to the database at dsn
// (what `switchboard migrate --store postgres://...` runs) and returns the
// schema version it is now at. Several nodes may call it at once: they take
// turns on an advisory lock. It refuses a database migrated by a newer
// binary (ErrSchemaTooNew). Only ConnectTimeout and Logger of opts are used;
// migrations run without a statement timeout.
func MigratePostgres(ctx context.Context, dsn string, opts PostgresOptions) (int64, error) {
	opts = opts.withDefaults()
	cfg, err := postgresConfig(dsn, opts)
	if err != nil {
		return 0, err
	}
	return migratePostgres(ctx, cfg, opts.Logger)
}

func migratePostgres(ctx context.Context, cfg *pgx.ConnConfig, log *slog.Logger) (int64, error) {
	where := describePostgres(cfg)
	db := openPostgresDB(cfg, map[string]string{"statement_timeout": "0"})
	defer db.Close()
	db.SetMaxOpenConns(2)
	if err := db.PingContext(ctx); err != nil {
		return 0, fmt.Errorf("migrate %s: %w", where, pgClassify(err))
	}
	v, err := migrate(ctx, postgresDialect, db, log)
	if err != nil {
		return 0, fmt.Errorf("migrate %s: %w", where, pgClassify(err))
	}
	return v, nil
}

// OpenPostgres opens the PostgreSQL database at dsn (a postgres:// URL, see
// pgx for its parameters), checks or applies its migrations (opts.Migrate),
// and starts the writer. It fails fast with a clear error, of kind
// unavailable, when the server cannot be reached, and refuses a database
// migrated by a newer binary (ErrSchemaTooNew).
func OpenPostgres(ctx context.Context, dsn string, opts PostgresOptions) (*Store, error) {
	opts = opts.withDefaults()
	cfg, err := postgresConfig(dsn, opts)
	if err != nil {
		return nil, err
	}
	where := describePostgres(cfg)
	d := postgresDialect
	log := opts.Logger

	// A writer that stops talking inside a transaction (a frozen process,
	// a network partition) would hold its row locks, and so block other
	// nodes' writes to the same conversations, until the server notices.
	// InTx functions do not wait on anything but the Tx, so an idle
	// transaction this long means the node is gone.
	w := openPostgresDB(cfg, map[string]string{"idle_in_transaction_session_timeout": strconv.FormatInt(postgresWriterIdleInTx.Milliseconds(), 10)})
	w.SetMaxOpenConns(opts.Writers)
	w.SetMaxIdleConns(opts.Writers)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	fail := func(err error, dbs ...*sql.DB) (*Store, error) {
		for _, db := range dbs {
			db.Close()
		}
		return nil, fmt.Errorf("open postgres %s: %w", where, pgClassify(err))
	}
	if err := w.PingContext(ctx); err != nil {
		return fail(err, w)
	}

	var latest int64
	if opts.Migrate {
		latest, err = migratePostgres(ctx, cfg, log)
		if err != nil {
			w.Close()
			return nil, err
		}
	} else if latest, err = checkSchema(ctx, d, w, log); err != nil {
		return fail(err, w)
	}
	epoch, err := ensureEpoch(ctx, poolQ{d: d, x: w})
	if err != nil {
		return fail(err, w)
	}
	var syncCommit string
	if err := w.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&syncCommit); err != nil {
		return fail(err, w)
	}
	if syncCommit == "off" {
		log.Warn("postgres synchronous_commit is off: acknowledged writes may be lost in a crash (DESIGN.md §2.3)",
			"database", where)
	}

	// The reader pool refuses writes, as SQLite's query_only readers do.
	r := openPostgresDB(cfg, map[string]string{"default_transaction_read_only": "on"})
	r.SetMaxOpenConns(opts.MaxConns)
	r.SetMaxIdleConns(opts.MaxConns)
	r.SetConnMaxLifetime(postgresReaderLifetime)
	r.SetConnMaxIdleTime(postgresReaderIdleTime)
	if err := r.PingContext(ctx); err != nil {
		return fail(err, r, w)
	}

	s := newStore(d, w, r, Options{ReaderConns: opts.MaxConns, MaxBatch: opts.MaxBatch, Logger: log}, opts.Writers, latest, epoch)
	s.log.Info("postgres store open", "database", where, "schema_version", latest, "epoch", epoch,
		"max_conns", opts.MaxConns, "writers", opts.Writers, "statement_timeout", cfg.RuntimeParams["statement_timeout"]+"ms",
		"max_batch", opts.MaxBatch)
	return s, nil
}
