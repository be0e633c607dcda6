package identity

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"switchboard/internal/store"
	"switchboard/internal/store/sqlstore"
)

// newTestStore opens a fresh SQLite database in the test's temp dir.
func newTestStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "test.db"),
		sqlstore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	return st
}
