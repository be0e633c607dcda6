// Package pgtest gives a test a PostgreSQL database of its own: created
// from the server SWITCHBOARD_TEST_POSTGRES names, dropped when the test
// ends. Without that variable the test is skipped, or fails when
// SWITCHBOARD_TEST_STRICT=1 (as .ci/run sets it), so CI cannot pass by
// skipping. Only tests import it; it knows nothing of the schema (callers
// migrate with sqlstore when they need the tables).
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Env names the admin DSN; StrictEnv=1 turns skips into failures.
const (
	Env       = "SWITCHBOARD_TEST_POSTGRES"
	StrictEnv = "SWITCHBOARD_TEST_STRICT"
)

// AdminDSN returns the admin DSN, or skips (fails in strict mode) the test.
func AdminDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		if os.Getenv(StrictEnv) == "1" {
			t.Fatalf("%s not set (and %s=1: PostgreSQL tests may not be skipped)", Env, StrictEnv)
		}
		t.Skip(Env + " not set")
	}
	return dsn
}

var admin struct {
	once sync.Once
	db   *sql.DB
	err  error
}

// AdminDB is a small pool on the admin DSN, shared by a test binary's tests.
func AdminDB(t testing.TB) *sql.DB {
	t.Helper()
	dsn := AdminDSN(t)
	admin.once.Do(func() {
		admin.db, admin.err = sql.Open("pgx", dsn)
		if admin.err == nil {
			admin.db.SetMaxOpenConns(4)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			admin.err = admin.db.PingContext(ctx)
		}
	})
	if admin.err != nil {
		t.Fatalf("PostgreSQL admin connection (%s): %v", Env, admin.err)
	}
	return admin.db
}

// WithDatabase returns dsn with its database replaced by name.
func WithDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", Env, err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewDatabase creates an empty database, dropped (connections and all) when
// the test ends, and returns its DSN.
func NewDatabase(t testing.TB) string {
	t.Helper()
	db := AdminDB(t)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "sbtest_" + hex.EncodeToString(b)
	ctx := context.Background()
	var err error
	for attempt := range 5 {
		if _, err = db.ExecContext(ctx, "CREATE DATABASE "+name); err == nil {
			break
		}
		// Concurrent CREATE DATABASE can collide on template1.
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	return WithDatabase(t, AdminDSN(t), name)
}
