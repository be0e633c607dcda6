package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
)

// sqlExecer is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type sqlExecer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryer runs the package's ?-placeholder SQL on some connection. Errors
// come back classified by the dialect (a lost connection is apperr
// KindUnavailable).
type queryer interface {
	exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	// check classifies an error met while reading a result (rows.Err,
	// Close), as exec and query do for theirs.
	check(err error) error
}

// poolQ runs statements on a pool or a read-only transaction, with the
// caller's context. With stmts (only for a pool, never for a transaction, so
// preparing never waits for a connection a caller holds) statements are
// prepared once.
type poolQ struct {
	d     *dialect
	x     sqlExecer
	stmts *stmtCache
}

func (q poolQ) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query = q.d.rebind(query)
	if st := q.stmts.get(ctx, query); st != nil {
		res, err := st.ExecContext(ctx, args...)
		return res, q.d.wrap(err)
	}
	res, err := q.x.ExecContext(ctx, query, args...)
	return res, q.d.wrap(err)
}

func (q poolQ) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = q.d.rebind(query)
	if st := q.stmts.get(ctx, query); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, q.d.wrap(err)
	}
	rows, err := q.x.QueryContext(ctx, query, args...)
	return rows, q.d.wrap(err)
}

func (q poolQ) check(err error) error { return q.d.wrap(err) }

// stmtCache holds statements prepared on a *sql.DB pool (database/sql
// prepares them again on each connection as needed).
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}}
}

// get returns the prepared statement for query, or nil (no cache, cache
// full, or preparing failed: the caller then runs the query unprepared and
// sees the error itself).
func (c *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st
	}
	if c.stmts == nil || len(c.stmts) >= maxCachedStmts {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.stmts[query] = st
	return st
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	c.stmts = nil
	return errors.Join(errs...)
}

var errTxDone = errors.New("sqlstore: transaction used after its function returned")

// maxCachedStmts bounds the writer's prepared statements (queries built from
// filters have many variants; the hot ones are few).
const maxCachedStmts = 256

// writerConn is the writer's one connection, held for the store's life,
// with its prepared statements: parsing SQL costs more than running it.
type writerConn struct {
	d     *dialect
	conn  *sql.Conn
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// stmt returns the prepared statement for query, or nil when the cache is
// full.
func (w *writerConn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	if len(w.stmts) >= maxCachedStmts {
		return nil, nil
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

func (w *writerConn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	query = w.d.rebind(query)
	st, err := w.stmt(ctx, query)
	if err != nil {
		return nil, w.d.wrap(err)
	}
	var res sql.Result
	if st == nil {
		res, err = w.conn.ExecContext(ctx, query, args...)
	} else {
		res, err = st.ExecContext(ctx, args...)
	}
	return res, w.d.wrap(err)
}

// execDirect runs query without preparing it: in PostgreSQL, with no
// arguments, that is the simple query protocol, which takes several
// statements at once.
func (w *writerConn) execDirect(ctx context.Context, query string) (sql.Result, error) {
	res, err := w.conn.ExecContext(ctx, query)
	return res, w.d.wrap(err)
}

func (w *writerConn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = w.d.rebind(query)
	st, err := w.stmt(ctx, query)
	if err != nil {
		return nil, w.d.wrap(err)
	}
	var rows *sql.Rows
	if st == nil {
		rows, err = w.conn.QueryContext(ctx, query, args...)
	} else {
		rows, err = st.QueryContext(ctx, args...)
	}
	return rows, w.d.wrap(err)
}

// close releases the statements and the connection. With discard, the
// connection is closed rather than returned to the pool (its transaction
// state is unknown).
func (w *writerConn) close(discard bool) error {
	w.mu.Lock()
	var errs []error
	for _, st := range w.stmts {
		errs = append(errs, st.Close())
	}
	w.stmts = nil
	w.mu.Unlock()
	if discard {
		_ = w.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	errs = append(errs, w.conn.Close())
	return errors.Join(errs...)
}

// txQ runs statements inside the writer's batch transaction. A caller's
// context is checked before each statement but never interrupts one: in
// SQLite an interrupted write rolls back the whole transaction, that is, the
// whole batch of other callers' work. (In PostgreSQL statement_timeout bounds
// each statement instead.)
type txQ struct {
	w    *writerConn
	done *atomic.Bool
	st   *callState
}

// callState is what the writer learns from the statements of one call.
type callState struct {
	// failed is the first error after which the call's savepoint is
	// aborted (PostgreSQL): the call cannot commit, whatever its function
	// returns.
	failed error
	// retry: a statement met a deadlock or serialisation failure; the call
	// is worth running again in a fresh transaction.
	retry bool
	// wrote: the call ran a statement that may have written (anything but
	// a plain SELECT), so failing it needs its writes undone.
	wrote bool
}

// check records what err means for the call and classifies it.
func (q txQ) check(err error) error {
	if err == nil {
		return nil
	}
	d := q.w.d
	if q.st != nil && d.failsTx != nil && d.failsTx(err) {
		if q.st.failed == nil {
			q.st.failed = err
		}
		if d.retryable(err) {
			q.st.retry = true
		}
	}
	return d.wrap(err)
}

func (q txQ) ctx(ctx context.Context) (context.Context, error) {
	if q.done.Load() {
		return nil, errTxDone
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

func (q txQ) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, err := q.ctx(ctx)
	if err != nil {
		return nil, err
	}
	if q.st != nil {
		q.st.wrote = true
	}
	res, err := q.w.exec(ctx, query, args...)
	return res, q.check(err)
}

func (q txQ) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, err := q.ctx(ctx)
	if err != nil {
		return nil, err
	}
	if q.st != nil && !isSelect(query) {
		q.st.wrote = true
	}
	rows, err := q.w.query(ctx, query, args...)
	return rows, q.check(err)
}

// isSelect reports whether query is a plain SELECT (a locking one included:
// its locks only last until the batch ends), which writes nothing.
func isSelect(query string) bool {
	query = strings.TrimLeft(query, " \t\n")
	return len(query) >= 6 && strings.EqualFold(query[:6], "SELECT")
}

// row is like *sql.Row, for a queryer.
type row struct {
	q    queryer
	rows *sql.Rows
	err  error
}

func queryRow(ctx context.Context, q queryer, query string, args ...any) row {
	rows, err := q.query(ctx, query, args...)
	return row{q: q, rows: rows, err: err}
}

// Scan scans the first row and closes the result; sql.ErrNoRows if none.
func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return r.q.check(err)
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.q.check(r.rows.Close())
}

// scanner is *sql.Rows or row.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every row of a query with scan.
func collect[T any](ctx context.Context, q queryer, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, q.check(err)
	}
	return out, q.check(rows.Close())
}
