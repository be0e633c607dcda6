package sqlstore

import (
	"context"
	"database/sql"
	"testing"
)

// embeddedVersion is the number of migrations embedded for a dialect (they
// are numbered 1..n), so tests need no change when a migration is added.
func embeddedVersion(t *testing.T, dialect string) int64 {
	t.Helper()
	entries, err := migrationsFS.ReadDir("migrations/" + dialect)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(entries))
}

func TestDialectsHaveTheSameMigrations(t *testing.T) {
	if s, p := embeddedVersion(t, "sqlite"), embeddedVersion(t, "postgres"); s != p {
		t.Fatalf("sqlite has %d migrations, postgres %d: every schema change needs both", s, p)
	}
}

// checkMigrationsRoundTrip migrates a database up, all the way down (which
// must leave no table but goose's own, counted by countTables), and up again.
func checkMigrationsRoundTrip(t *testing.T, d *dialect, db *sql.DB, countTables string) {
	t.Helper()
	ctx := context.Background()
	p, err := newMigrator(d, db, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	var n int
	if err := db.QueryRow(countTables, versionTable).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d tables left after migrating down", n)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
