package sqlstore

import (
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
// Adding PostgreSQL: a migrations/postgres/00001_init.sql with the same
// tables and columns (BIGINT GENERATED ALWAYS AS IDENTITY for ids, BYTEA for
// BLOB), a dialect with dollar placeholders, begin "BEGIN", and error
// classifiers on SQLSTATE (23505 unique, 23503 foreign key, 40001/40P01 as
// busy), and an OpenPostgres that opens the pools and calls newStore. Note
// that in PostgreSQL a failed statement aborts the transaction until
// ROLLBACK TO SAVEPOINT: the Tx methods therefore check for conflicts and
// missing rows with a SELECT before writing, rather than catching constraint
// errors and carrying on.
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
	// isUnique reports a unique-constraint violation.
	isUnique func(error) bool
	// isForeignKey reports a foreign-key violation.
	isForeignKey func(error) bool
	// isBusy reports a lock error worth retrying the BEGIN for.
	isBusy func(error) bool
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
