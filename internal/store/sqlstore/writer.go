package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"switchboard/internal/store"
)

// request is one queued InTx call.
type request struct {
	ctx   context.Context
	fn    func(store.Tx) error
	reply chan error // buffered: the writer never blocks on it

	// Filled by the writer.
	ran       bool // fn ran and returned nil: its writes are in the batch
	err       error
	callbacks []func()
	answered  bool
	// retry: fn met a deadlock or serialisation failure; its writes were
	// rolled back and it runs again in the next transaction.
	retry    bool
	attempts int // runs that ended in such a failure
	// careful: an optimistic batch this call was in had to be undone, so
	// the call runs next in a batch with a savepoint per call.
	careful bool
}

// errRedo: in an optimistic batch (dialect.optimistic), a call failed in a
// way that only a savepoint could have undone alone.
var errRedo = errors.New("sqlstore: optimistic batch must run again with savepoints")

// maxAttempts bounds how many times one InTx function is run because of
// deadlocks or serialisation failures (PostgreSQL) before its caller gets
// the error (apperr KindUnavailable).
const maxAttempts = 4

const savepoint = "SAVEPOINT sb_call"

// The savepoint of the batch transaction, between calls. A call's savepoint
// is released lazily, when the next call starts ("RELEASE; SAVEPOINT", one
// round trip in PostgreSQL); the last one is left to COMMIT, which commits
// open savepoints too. A failed call is rolled back to its savepoint, which
// stays open for the next call.
type spState int

const (
	spNone  spState = iota // no savepoint open
	spClean                // open, nothing in it
	spDirty                // open, holding the writes of a call that succeeded
)

// batchState is what the writer knows about the batch in progress, so that
// it can answer its callers if the writer goroutine dies under it.
type batchState struct {
	reqs      []*request
	current   int         // index of the call running, -1 before the first
	w         *writerConn // set while the transaction is open
	committed bool        // callbacks are running
	turn      *turn       // taken just before COMMIT
}

// writer runs write transactions on its own connection, one batch at a
// time: SQLite has one, a PostgreSQL store PostgresOptions.Writers (see
// postgres.go for how they share the work). Its fields are owned by its
// goroutine, except queue.
type writer struct {
	*Store
	id          int
	queue       chan *request
	pending     []*request    // requests to retry in a fresh transaction
	wc          *writerConn   // the write connection, nil until needed
	cur         *batchState   // the batch in progress
	queueClosed bool          // queue closed and drained
	done        chan struct{} // closed when the goroutine has finished
}

// run is the writer's goroutine.
//
// If it dies under a batch (runtime.Goexit in a transaction function, for
// instance t.FailNow in a test, or a bug of its own), the batch's callers are
// answered and a new writer goroutine takes over: no caller ever waits
// forever.
func (s *writer) run() {
	returned := false
	defer func() {
		if returned {
			if s.wc != nil {
				if err := s.wc.close(false); err != nil {
					s.log.Warn("closing writer connection", "err", err)
				}
				s.wc = nil
			}
			close(s.done)
			return
		}
		cause := errors.New("sqlstore: transaction function exited its goroutine (runtime.Goexit; t.FailNow in a test?)")
		if p := recover(); p != nil {
			cause = fmt.Errorf("sqlstore: writer panic: %v", p)
			s.log.Error("writer panic", "panic", p, "stack", string(debug.Stack()))
		} else {
			s.log.Error("writer goroutine exited during a batch", "err", cause)
		}
		s.abortBatch(cause)
		go s.run()
	}()
	s.writeLoop()
	returned = true
}

func (s *writer) writeLoop() {
	for {
		batch := make([]*request, 0, 8)
		// Retries first, in their original order.
		n := min(len(s.pending), s.maxBatch)
		batch = append(batch, s.pending[:n]...)
		s.pending = s.pending[n:]
		if len(batch) == 0 {
			if s.queueClosed {
				return
			}
			req, ok := <-s.queue
			if !ok {
				s.queueClosed = true
				continue
			}
			batch = append(batch, req)
		}
		// Drain what is already queued, without waiting.
	drain:
		for !s.queueClosed && len(batch) < s.maxBatch {
			select {
			case req, ok := <-s.queue:
				if !ok {
					s.queueClosed = true
					break drain
				}
				batch = append(batch, req)
			default:
				break drain
			}
		}
		s.runBatch(batch)
	}
}

// answer replies to a caller, once.
func (s *writer) answer(r *request, err error) {
	if r.answered {
		return
	}
	r.answered = true
	r.reply <- err
}

// abortBatch answers the callers of the batch the writer died under.
func (s *writer) abortBatch(cause error) {
	b := s.cur
	s.cur = nil
	if b == nil {
		return
	}
	// A turn taken and not given back would stop every other writer's
	// callbacks.
	s.turns.skip(b.turn)
	if b.committed {
		// Durable: the remaining callbacks are lost, the results stand.
		for _, r := range b.reqs {
			s.answer(r, r.err)
		}
		return
	}
	if b.w != nil {
		s.rollback(context.Background(), b.w)
	}
	var retry []*request
	for i, r := range b.reqs {
		switch {
		case r.answered:
		case i > b.current && b.current >= 0, r.retry:
			r.reset()
			retry = append(retry, r) // never ran, or rolled back to be run again
		case r.ran || r.err == nil:
			s.answer(r, cause)
		default:
			s.answer(r, r.err) // its own failure, rolled back anyway
		}
	}
	s.pending = append(retry, s.pending...)
}

// runBatch runs batch in one transaction and answers every request in it,
// except the ones it hands back to s.pending for a fresh transaction.
func (s *writer) runBatch(batch []*request) {
	// Calls whose caller already gave up never run.
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			s.answer(r, err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	batch = live
	s.batches.Add(1)
	st := &batchState{reqs: batch, current: -1}
	s.cur = st

	// Optimistic unless a call of the batch needs the careful way.
	optimistic := s.d.optimistic
	for _, r := range batch {
		if r.careful {
			optimistic = false
			break
		}
	}

	ctx := context.Background()
	w, sp, err := s.begin(ctx, !optimistic)
	if err != nil {
		err = fmt.Errorf("begin transaction: %w", err)
		s.log.Error("write batch failed", "stage", "begin", "calls", len(batch), "err", err)
		for _, r := range batch {
			s.answer(r, err)
		}
		s.cur = nil
		return
	}
	st.w = w

	for i, r := range batch {
		st.current = i
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		s.calls.Add(1)
		if optimistic {
			err = s.runOptimistic(r, w)
		} else {
			err = s.runCall(ctx, w, r, &sp)
		}
		if errors.Is(err, errRedo) {
			s.redo(ctx, w, batch, r)
			s.cur = nil
			return
		}
		if err != nil {
			// The transaction itself is broken (a savepoint statement
			// failed, e.g. SQLite rolled everything back after an I/O
			// error). Nothing of this batch persists; calls that have
			// not run yet get a fresh transaction.
			s.rollback(ctx, w)
			err = fmt.Errorf("write transaction aborted: %w", err)
			s.log.Error("write batch failed", "stage", "savepoint", "calls", len(batch), "err", err)
			var again []*request
			for _, done := range batch[:i+1] {
				if done.retry {
					done.reset()
					again = append(again, done)
					continue
				}
				if done.ran || done.err == nil {
					done.err = err
				}
				s.answer(done, done.err)
			}
			s.pending = append(append(again, batch[i+1:]...), s.pending...)
			s.cur = nil
			return
		}
	}

	st.turn = s.turns.take()
	_, err = w.exec(ctx, "COMMIT")
	if err != nil {
		s.turns.skip(st.turn)
	}
	if err != nil {
		// Nothing of the batch persists (or, if the connection was lost
		// during COMMIT, nobody can tell: the callers get an error of kind
		// unavailable and retry with their idempotency keys).
		s.rollback(ctx, w)
		err = fmt.Errorf("commit: %w", err)
		s.log.Error("write batch failed", "stage", "commit", "calls", len(batch), "err", err)
		retryable := s.d.retryable(err)
		var again []*request
		for _, r := range batch {
			if r.ran && retryable {
				r.attempts++
				r.retry = r.attempts < maxAttempts
			}
			if r.retry {
				r.reset()
				again = append(again, r)
				continue
			}
			if r.ran {
				r.err = err
			}
			s.answer(r, r.err)
		}
		s.pending = append(again, s.pending...)
		s.cur = nil
		return
	}
	st.w = nil
	st.committed = true

	// Durable. Callbacks first, in commit order (across writers too: see
	// turns), then the answers.
	s.turns.wait(st.turn)
	for _, r := range batch {
		if r.ran {
			for _, f := range r.callbacks {
				s.runCallback(f)
			}
		}
	}
	s.turns.done(st.turn)
	var again []*request
	for _, r := range batch {
		if r.retry {
			r.reset()
			again = append(again, r)
			continue
		}
		s.answer(r, r.err)
	}
	if len(again) > 0 {
		s.retries.Add(int64(len(again)))
		s.log.Warn("deadlock or serialisation failure: running calls again", "calls", len(again))
		s.pending = append(again, s.pending...)
	}
	s.cur = nil
}

// redo undoes an optimistic batch that culprit failed in after writing.
// culprit fails, as it would have alone with a savepoint (after a deadlock
// or serialisation failure it runs again, as then); the batch's other calls
// go back to the front of the queue, to run again in a transaction with a
// savepoint per call, so that one failing call costs at most one batch run
// twice.
func (s *writer) redo(ctx context.Context, w *writerConn, batch []*request, culprit *request) {
	s.rollback(ctx, w)
	s.redos.Add(1)
	again := make([]*request, 0, len(batch))
	for _, r := range batch {
		if r == culprit {
			if !r.retry {
				s.answer(r, r.err)
				continue
			}
			r.attempts++
			if r.attempts >= maxAttempts {
				s.log.Warn("giving up on a call after repeated deadlocks or serialisation failures",
					"attempts", r.attempts, "err", r.err)
				s.answer(r, r.err)
				continue
			}
			s.retries.Add(1)
		}
		r.reset()
		r.careful = true
		again = append(again, r)
	}
	s.pending = append(again, s.pending...)
}

// runOptimistic runs one call of an optimistic batch, with no savepoint.
// Success, or a failure after only reading, leaves the transaction as good
// as before; anything else returns errRedo, with r.err and r.retry set.
func (s *writer) runOptimistic(r *request, w *writerConn) error {
	var done atomic.Bool
	var st callState
	t := s.newTx(w, &done, &st)
	err := s.callFn(r, t)
	done.Store(true)
	switch {
	case err == nil && st.failed == nil:
		r.ran = true
		r.callbacks = t.callbacks
		return nil
	case st.failed == nil && !st.wrote:
		r.err = err
		return nil
	}
	if err == nil {
		err = fmt.Errorf("sqlstore: the transaction function returned nil after a statement failed: %w", st.failed)
	}
	r.err, r.retry = err, st.retry
	return errRedo
}

// newTx is the Tx a call's function gets, on the writer's connection.
func (s *writer) newTx(w *writerConn, done *atomic.Bool, st *callState) *txImpl {
	t := &txImpl{}
	t.reader = reader{
		d: s.d,
		q: txQ{w: w, done: done, st: st},
		snapshot: func(_ context.Context, f func(queryer) error) error {
			return f(t.q)
		},
		lock: s.d.rowLock,
	}
	return t
}

// reset prepares a request that was rolled back for another run.
func (r *request) reset() {
	r.ran, r.retry, r.err, r.callbacks = false, false, nil, nil
}

// writerConn returns the writer's connection, opening it if needed.
func (s *writer) writerConn(ctx context.Context) (*writerConn, error) {
	if s.wc != nil {
		return s.wc, nil
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, err
	}
	s.wc = &writerConn{d: s.d, conn: conn, stmts: map[string]*sql.Stmt{}}
	return s.wc, nil
}

// dropWriterConn discards the writer's connection after a failure that left
// its transaction state unknown; the next batch opens a fresh one.
func (s *writer) dropWriterConn() {
	if s.wc == nil {
		return
	}
	if err := s.wc.close(true); err != nil {
		s.log.Warn("discarding writer connection", "err", err)
	}
	s.wc = nil
}

// begin starts the batch transaction, retrying a few times on lock errors
// (another process holding the database beyond busy_timeout). Where the
// dialect chains control statements, the first savepoint is opened with it.
func (s *writer) begin(ctx context.Context, withSavepoint bool) (*writerConn, spState, error) {
	var err error
	for attempt := range 3 {
		var w *writerConn
		w, err = s.writerConn(ctx)
		if err != nil {
			return nil, spNone, err
		}
		sp := spNone
		if s.d.chainControl {
			stmts := []string{s.d.begin}
			if s.d.beginLocal != nil {
				stmts = append(stmts, s.d.beginLocal())
			}
			if withSavepoint {
				stmts, sp = append(stmts, savepoint), spClean
			}
			err = s.control(ctx, w, stmts...)
		} else {
			_, err = w.exec(ctx, s.d.begin)
		}
		if err == nil {
			return w, sp, nil
		}
		if !s.d.isBusy(err) {
			// Possibly still inside an old transaction: start afresh.
			s.dropWriterConn()
			return nil, spNone, err
		}
		s.log.Warn("database busy, retrying begin", "attempt", attempt+1, "err", err)
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	return nil, spNone, err
}

// control runs transaction-control statements on the writer: in one round
// trip where the dialect allows it (PostgreSQL's simple query protocol takes
// several statements at once), else one by one.
func (s *writer) control(ctx context.Context, w *writerConn, stmts ...string) error {
	if s.d.chainControl {
		_, err := w.execDirect(ctx, strings.Join(stmts, "; "))
		return err
	}
	for _, q := range stmts {
		if _, err := w.exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// rollback ends a failed batch transaction; if that fails too, the
// connection is discarded.
func (s *writer) rollback(ctx context.Context, w *writerConn) {
	if _, err := w.exec(ctx, "ROLLBACK"); err != nil {
		s.log.Warn("rollback failed; discarding the writer connection", "err", err)
		s.dropWriterConn()
	}
}

// runCall runs one request's fn inside its savepoint. The request's outcome
// goes to r (ran, err, callbacks); the returned error means the transaction
// is no longer usable.
func (s *writer) runCall(ctx context.Context, w *writerConn, r *request, sp *spState) error {
	var err error
	switch *sp {
	case spNone:
		err = s.control(ctx, w, savepoint)
	case spDirty:
		err = s.control(ctx, w, "RELEASE "+savepoint, savepoint)
	}
	if err != nil {
		r.err = fmt.Errorf("savepoint: %w", err)
		return err
	}
	*sp = spClean
	var done atomic.Bool
	var st callState
	t := s.newTx(w, &done, &st)
	err = s.callFn(r, t)
	done.Store(true)
	if err == nil && st.failed != nil {
		// PostgreSQL: a statement failed, which aborted the savepoint, and
		// fn went on and returned nil. Its writes cannot commit; failing
		// the call alone keeps the batch alive (RELEASE would fail).
		err = fmt.Errorf("sqlstore: the transaction function returned nil after a statement failed: %w", st.failed)
	}
	if err != nil {
		r.err = err
		if rerr := s.control(ctx, w, "ROLLBACK TO "+savepoint); rerr != nil {
			return fmt.Errorf("rollback to savepoint: %w", rerr)
		}
		if st.retry {
			// A deadlock or serialisation failure. Waiting inside this
			// transaction cannot help (the other transaction waits for
			// the locks this one holds), so the call runs again in the
			// next one, after this batch's COMMIT has released them.
			r.attempts++
			if r.attempts < maxAttempts {
				r.retry, r.err = true, nil
			} else {
				s.log.Warn("giving up on a call after repeated deadlocks or serialisation failures",
					"attempts", r.attempts, "err", st.failed)
			}
		}
		return nil
	}
	*sp = spDirty
	r.ran = true
	r.callbacks = t.callbacks
	return nil
}

// callFn runs fn, turning a panic into an error for this caller alone.
func (s *writer) callFn(r *request, t *txImpl) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in transaction function", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("sqlstore: panic in transaction function: %v", p)
		}
	}()
	return r.fn(t)
}

func (s *writer) runCallback(f func()) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in OnCommit callback", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	f()
}
