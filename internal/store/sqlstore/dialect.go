package sqlstore

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect holds the few things that differ between the SQL databases this
// package speaks. Everything else (queries, savepoints, upserts with
// ON CONFLICT, INSERT ... RETURNING, row-value comparisons) is written once in
// SQL that SQLite and PostgreSQL both accept. The schema itself is per
// dialect (migrations/<name>/), so DDL differences live there.
//
// PostgreSQL (postgres.go): dollar placeholders, BEGIN ISOLATION LEVEL READ
// COMMITTED, row locks on the rows a transaction is about to change, error
// classifiers on SQLSTATE. Note that in PostgreSQL a failed statement aborts
// the transaction until ROLLBACK TO SAVEPOINT: the Tx methods therefore check
// for conflicts and missing rows with a SELECT before writing, rather than
// catching constraint errors and carrying on, and the writer treats a call
// whose statement failed as failed even if its function swallowed the error.
type dialect struct {
	name string
	// goose is the migration dialect; migrations are embedded under
	// migrations/<name>.
	goose goose.Dialect
	// dollar: placeholders are $1, $2, ... (PostgreSQL) instead of ?.
	dollar bool
	// begin starts the write transaction of a batch. SQLite takes the write
	// lock up front (BEGIN IMMEDIATE), so that no statement of a batch can
	// fail with SQLITE_BUSY half-way through.
	begin string
	// beginLocal, if set, returns statements that configure each batch
	// transaction, sent with its BEGIN (PostgreSQL: a randomised
	// lock_timeout, see postgres.go).
	beginLocal func() string
	// isUnique reports a unique-constraint violation.
	isUnique func(error) bool
	// isForeignKey reports a foreign-key violation.
	isForeignKey func(error) bool
	// isBusy reports a lock error worth retrying the BEGIN for.
	isBusy func(error) bool
	// chainControl: transaction-control statements (BEGIN, SAVEPOINT,
	// RELEASE, ROLLBACK TO) may be sent together, unprepared, in one round
	// trip. Worth it over a network; SQLite runs in-process.
	chainControl bool
	// optimistic: a batch first runs its calls without savepoints, one
	// round trip per statement instead of two and no subtransactions; if
	// a call then fails after writing (or a statement fails, which aborts
	// a PostgreSQL transaction), the batch is rolled back and run again
	// with a savepoint per call (see writer.runBatch).
	optimistic bool

	// rowLock is appended to a SELECT of rows that the write transaction
	// reads in order to change them (read-modify-write): " FOR NO KEY
	// UPDATE" in PostgreSQL, where other nodes write concurrently; empty in
	// SQLite, whose single writer holds the database's write lock anyway.
	rowLock string
	// claimLock is appended to a SELECT of queue-like rows that a write
	// transaction leases (ClaimDueMail): " FOR NO KEY UPDATE SKIP LOCKED" in
	// PostgreSQL, so that two nodes claiming at once each take rows the
	// other has not locked, neither waiting for the other; empty in SQLite.
	claimLock string
	// ilike is the case-insensitive LIKE operator: "LIKE" in SQLite (whose
	// LIKE ignores ASCII case), "ILIKE" in PostgreSQL.
	ilike string
	// snapshot is the isolation level of a read made of several statements
	// on the reader pool (one committed state for all of them).
	snapshot sql.IsolationLevel
	// failsTx reports an error after which the transaction is aborted until
	// ROLLBACK TO SAVEPOINT (nil: statements fail alone, as in SQLite).
	failsTx func(error) bool
	// isRetryable reports a deadlock or serialisation failure: the call that
	// met it is rolled back and run again in a fresh transaction (nil: never).
	isRetryable func(error) bool
	// tableExists is a query with one argument, a table name, returning 1
	// if the table exists and 0 if not.
	tableExists string
	// cteWrites: a WITH clause may hold an UPDATE whose RETURNING feeds an
	// INSERT (PostgreSQL), so AppendMessage is one statement, one round trip.
	cteWrites bool
	// convTags is a column expression for the tags of conversation c as a
	// JSON array of strings ("[]" for none), so that a conversation and its
	// tags are read by one statement.
	convTags string
	// classify maps a driver error to the error the store returns, e.g. a
	// lost connection to apperr KindUnavailable (nil: unchanged).
	classify func(error) error
}

// wrap classifies a driver error for the dialect.
func (d *dialect) wrap(err error) error {
	if err == nil || d.classify == nil {
		return err
	}
	return d.classify(err)
}

// retryable reports whether err is worth running the call again.
func (d *dialect) retryable(err error) bool {
	return err != nil && d.isRetryable != nil && d.isRetryable(err)
}

var sqliteDialect = &dialect{
	name:   "sqlite",
	goose:  goose.DialectSQLite3,
	dollar: false,
	begin:  "BEGIN IMMEDIATE",
	isUnique: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	},
	isForeignKey: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	},
	isBusy: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		return e.Code()&0xff == sqlite3.SQLITE_BUSY || e.Code()&0xff == sqlite3.SQLITE_LOCKED
	},
	ilike:       "LIKE",
	snapshot:    sql.LevelDefault, // a read transaction in WAL mode is a snapshot
	tableExists: "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
	convTags:    "(SELECT json_group_array(tag) FROM conversation_tags t WHERE t.conversation_id = c.id)",
}

// rebind rewrites the ? placeholders of query for the dialect. Queries in
// this package never contain a literal '?' outside placeholders.
func (d *dialect) rebind(query string) string {
	if !d.dollar || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// placeholders returns "?, ?, ..." with n placeholders (n >= 1).
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
