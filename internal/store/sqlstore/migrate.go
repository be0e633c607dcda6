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
	"github.com/pressly/goose/v3/lock"
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

// ErrSchemaTooOld is returned by OpenPostgres without PostgresOptions.Migrate
// when the database lacks migrations this binary needs: run
// `switchboard migrate` (MigratePostgres) first.
var ErrSchemaTooOld = errors.New("database schema is older than this binary")

// migrationLockID is the PostgreSQL advisory lock held while migrating, so
// that nodes starting together migrate one at a time (crc32 of
// "switchboard-migrate"; goose's own default is shared by every goose user).
const migrationLockID int64 = 0x5b0a4d31

func newMigrator(d *dialect, db *sql.DB, log *slog.Logger) (*goose.Provider, error) {
	sub, err := fs.Sub(migrationsFS, "migrations/"+d.name)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(log.With("component", "migrate")),
	}
	if d.goose == goose.DialectPostgres {
		// Wait up to 5 minutes (300 × 1s) for another node's migration.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(d.goose, db, sub, opts...)
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
// that is already past the newest embedded migration. In PostgreSQL goose
// holds an advisory lock while it applies them, so that several nodes
// starting at once migrate one after the other (the later ones find nothing
// left to do).
func migrate(ctx context.Context, d *dialect, db *sql.DB, log *slog.Logger) (latest int64, err error) {
	p, err := newMigrator(d, db, log)
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	latest = latestVersion(p)
	// Read the version without goose, which would create its table outside
	// the lock (two nodes doing that at once collide in PostgreSQL).
	current, err := dbVersion(ctx, d, poolQ{d: d, x: db})
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

// checkSchema returns the newest embedded migration if db is exactly at it,
// and ErrSchemaTooOld or ErrSchemaTooNew otherwise. It writes nothing.
func checkSchema(ctx context.Context, d *dialect, db *sql.DB, log *slog.Logger) (int64, error) {
	p, err := newMigrator(d, db, log)
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	latest := latestVersion(p)
	current, err := dbVersion(ctx, d, poolQ{d: d, x: db})
	if err != nil {
		return 0, fmt.Errorf("migrations: read database version: %w", err)
	}
	switch {
	case current > latest:
		return 0, fmt.Errorf("%w: database is at migration %d, this binary knows up to %d; upgrade Switchboard",
			ErrSchemaTooNew, current, latest)
	case current < latest:
		return 0, fmt.Errorf("%w: database is at migration %d, this binary needs %d; run `switchboard migrate` first",
			ErrSchemaTooOld, current, latest)
	}
	return latest, nil
}

// dbVersion is schemaVersion, or 0 when the database has no version table
// yet (a new database).
func dbVersion(ctx context.Context, d *dialect, q queryer) (int64, error) {
	var n int
	if err := queryRow(ctx, q, d.tableExists, versionTable).Scan(&n); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	return schemaVersion(ctx, q)
}

// schemaVersion reads the applied migration version with q.
func schemaVersion(ctx context.Context, q queryer) (int64, error) {
	var v sql.NullInt64
	if err := queryRow(ctx, q, "SELECT MAX(version_id) FROM "+versionTable).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v.Int64, nil
}
