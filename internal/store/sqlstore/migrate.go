package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
)

// migrationsFS holds the numbered goose migrations of every dialect, under
// migrations/<dialect name>/.
//
//go:embed migrations
var migrationsFS embed.FS

// versionTable is goose's bookkeeping table (its default name).
const versionTable = goose.DefaultTablename

// ErrSchemaTooNew is returned by Open when the database was migrated by a
// newer Switchboard than this binary: running would risk corrupting data it
// does not understand.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

func newMigrator(d *dialect, db *sql.DB, log *slog.Logger) (*goose.Provider, error) {
	sub, err := fs.Sub(migrationsFS, "migrations/"+d.name)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(d.goose, db, sub,
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(log.With("component", "migrate")),
	)
}

// latestVersion is the newest migration this binary embeds.
func latestVersion(p *goose.Provider) int64 {
	src := p.ListSources()
	if len(src) == 0 {
		return 0
	}
	return src[len(src)-1].Version
}

// migrate applies pending migrations on db (the writer), refusing a database
// that is already past the newest embedded migration.
func migrate(ctx context.Context, d *dialect, db *sql.DB, log *slog.Logger) (latest int64, err error) {
	p, err := newMigrator(d, db, log)
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	latest = latestVersion(p)
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: read database version: %w", err)
	}
	if current > latest {
		return 0, fmt.Errorf("%w: database is at migration %d, this binary knows up to %d; upgrade Switchboard",
			ErrSchemaTooNew, current, latest)
	}
	if current == latest {
		return latest, nil
	}
	results, err := p.Up(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: apply: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}
	return latest, nil
}

// schemaVersion reads the applied migration version with q.
func schemaVersion(ctx context.Context, q queryer) (int64, error) {
	var v sql.NullInt64
	if err := queryRow(ctx, q, "SELECT MAX(version_id) FROM "+versionTable).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v.Int64, nil
}
