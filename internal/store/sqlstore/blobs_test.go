package sqlstore

import (
	"context"
	"testing"

	"switchboard/internal/blob"
	"switchboard/internal/blob/blobtest"
	"switchboard/internal/store/sqlstore/pgtest"
)

func TestPostgresBlobsContract(t *testing.T) {
	pgtest.AdminDSN(t)
	blobtest.Run(t, func(t *testing.T) (blob.Store, func() int) {
		dsn := pgtest.NewDatabase(t)
		openPG(t, dsn, PostgresOptions{}) // migrates
		// Small chunks, so every test crosses chunk boundaries.
		b, err := OpenPostgresBlobs(context.Background(), dsn, BlobOptions{ChunkSize: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b, func() int {
			var objects, orphans int
			if err := b.db.QueryRow(`SELECT count(*) FROM blob_objects`).Scan(&objects); err != nil {
				t.Fatal(err)
			}
			if err := b.db.QueryRow(`SELECT count(*) FROM blob_chunks c
				WHERE NOT EXISTS (SELECT 1 FROM blob_objects o WHERE o.key = c.key)`).Scan(&orphans); err != nil {
				t.Fatal(err)
			}
			if orphans != 0 {
				t.Errorf("%d chunks belong to no object", orphans)
			}
			return objects
		}
	})
}

func TestPostgresBlobsOpenFailsFast(t *testing.T) {
	_, err := OpenPostgresBlobs(context.Background(), "postgres://nobody@127.0.0.1:1/x?connect_timeout=1", BlobOptions{})
	if err == nil {
		t.Fatal("opened a store on a closed port")
	}
}
