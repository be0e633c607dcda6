package sqlstore

import (
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
