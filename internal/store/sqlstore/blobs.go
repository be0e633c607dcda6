package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/blob"
)

// Blobs is a blob.Store keeping attachment contents in PostgreSQL (tables
// blob_objects and blob_chunks, migration 00010), so that every node of a
// cluster can serve an attachment another node received. A file uploaded to
// a node's local directory would be missing on the others.
//
// It uses its own small connection pool, not the store's group-commit
// writer: an upload of several megabytes must not hold up the messages
// committed beside it. An object is written in one transaction (chunks,
// then its row), so it is either complete or absent, never partial; a
// failed or abandoned upload rolls back and leaves nothing.
//
// Open reads lazily, one chunk at a time, so serving a range reads only the
// chunks it covers and memory per download is one chunk.
type Blobs struct {
	db        *sql.DB
	chunkSize int
	now       func() time.Time
}

// BlobOptions tune OpenPostgresBlobs. Zero values take the defaults.
type BlobOptions struct {
	MaxConns  int // connections for uploads and downloads (default 4)
	ChunkSize int // bytes per stored chunk (default 256 KiB)
	// StatementTimeout bounds each statement (default 60 s: a chunk on a
	// slow disk, not a whole upload, which streams at the client's pace).
	StatementTimeout time.Duration
	ConnectTimeout   time.Duration // as PostgresOptions.ConnectTimeout
}

const (
	defaultBlobConns     = 4
	defaultBlobChunkSize = 256 << 10
	defaultBlobTimeout   = time.Minute
)

var _ blob.Store = (*Blobs)(nil)

// OpenPostgresBlobs opens the blob store of the PostgreSQL database at dsn,
// which must already be migrated (OpenPostgres with Migrate, or `switchboard
// migrate`).
func OpenPostgresBlobs(ctx context.Context, dsn string, opts BlobOptions) (*Blobs, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = defaultBlobConns
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = defaultBlobChunkSize
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = defaultBlobTimeout
	}
	cfg, err := postgresConfig(dsn, PostgresOptions{StatementTimeout: opts.StatementTimeout, ConnectTimeout: opts.ConnectTimeout}.withDefaults())
	if err != nil {
		return nil, err
	}
	db := openPostgresDB(cfg, nil)
	db.SetMaxOpenConns(opts.MaxConns)
	db.SetMaxIdleConns(opts.MaxConns)
	db.SetConnMaxIdleTime(postgresReaderIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres blobs %s: %w", describePostgres(cfg), pgClassify(err))
	}
	return &Blobs{db: db, chunkSize: opts.ChunkSize, now: time.Now}, nil
}

// Close closes the pool.
func (b *Blobs) Close() error { return b.db.Close() }

func blobNotFound() error { return apperr.NotFound("attachment") }

// Put stores r's content under a new key; see blob.Store.Put.
func (b *Blobs) Put(ctx context.Context, name string, r io.Reader, maxBytes int64) (obj blob.Object, err error) {
	in, err := blob.Accept(ctx, r, maxBytes)
	if err != nil {
		return blob.Object{}, err
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return blob.Object{}, fmt.Errorf("blob put: %w", pgClassify(err))
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	key := blob.NewKey()
	buf := make([]byte, b.chunkSize)
	filled := copy(buf, in.Head) // Head is at most 512 bytes: it fits
	size := int64(filled)
	for n := 0; ; n++ {
		m, rerr := io.ReadFull(in.Rest, buf[filled:])
		filled += m
		size += int64(m)
		if err := in.Check(size); err != nil {
			return blob.Object{}, err
		}
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return blob.Object{}, in.ReadErr(ctx, rerr)
		}
		if filled > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO blob_chunks (key, n, data) VALUES ($1, $2, $3)`,
				key, n, buf[:filled]); err != nil {
				return blob.Object{}, fmt.Errorf("blob put chunk: %w", pgClassify(err))
			}
		}
		if rerr != nil { // EOF: the last chunk is stored
			break
		}
		filled = 0
	}
	obj = blob.Object{Key: key, Size: size, ContentType: in.ContentType, Inline: in.Inline}
	if _, err := tx.ExecContext(ctx, `INSERT INTO blob_objects (key, size, content_type, inline, chunk_size, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, key, size, obj.ContentType, obj.Inline, b.chunkSize, b.now().UnixMicro()); err != nil {
		return blob.Object{}, fmt.Errorf("blob put: %w", pgClassify(err))
	}
	if err := tx.Commit(); err != nil {
		return blob.Object{}, fmt.Errorf("blob put commit: %w", pgClassify(err))
	}
	return obj, nil
}

// Open returns the object's content positioned at its start; see
// blob.Store.Open. The chunks are read as the caller reads, with ctx.
func (b *Blobs) Open(ctx context.Context, key string) (io.ReadSeekCloser, blob.Object, error) {
	if err := ctx.Err(); err != nil {
		return nil, blob.Object{}, err
	}
	if !blob.ValidKey(key) {
		return nil, blob.Object{}, blobNotFound()
	}
	obj := blob.Object{Key: key}
	var chunk int64
	err := b.db.QueryRowContext(ctx, `SELECT size, content_type, inline, chunk_size FROM blob_objects WHERE key = $1`, key).
		Scan(&obj.Size, &obj.ContentType, &obj.Inline, &chunk)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, blob.Object{}, blobNotFound()
	}
	if err != nil {
		return nil, blob.Object{}, fmt.Errorf("blob open: %w", pgClassify(err))
	}
	if chunk <= 0 {
		return nil, blob.Object{}, fmt.Errorf("blob open %s: corrupt chunk size %d", key, chunk)
	}
	return &chunkReader{ctx: ctx, db: b.db, key: key, size: obj.Size, chunk: chunk, cur: -1}, obj, nil
}

// Delete removes the object; see blob.Store.Delete.
func (b *Blobs) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !blob.ValidKey(key) {
		return blobNotFound()
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("blob delete: %w", pgClassify(err))
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM blob_objects WHERE key = $1`, `DELETE FROM blob_chunks WHERE key = $1`} {
		if _, err := tx.ExecContext(ctx, q, key); err != nil {
			return fmt.Errorf("blob delete: %w", pgClassify(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("blob delete: %w", pgClassify(err))
	}
	return nil
}

// chunkReader reads an object chunk by chunk, keeping only the current one.
type chunkReader struct {
	ctx   context.Context
	db    *sql.DB
	key   string
	size  int64
	chunk int64
	off   int64
	cur   int64 // index of the chunk in data; -1: none
	data  []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.off >= c.size {
		return 0, io.EOF
	}
	idx := c.off / c.chunk
	if idx != c.cur {
		c.data = c.data[:0]
		err := c.db.QueryRowContext(c.ctx, `SELECT data FROM blob_chunks WHERE key = $1 AND n = $2`, c.key, idx).Scan(&c.data)
		if errors.Is(err, sql.ErrNoRows) {
			// Deleted while being read.
			return 0, fmt.Errorf("blob read %s chunk %d: %w", c.key, idx, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return 0, fmt.Errorf("blob read %s: %w", c.key, pgClassify(err))
		}
		c.cur = idx
	}
	in := c.off - idx*c.chunk
	if in >= int64(len(c.data)) {
		return 0, fmt.Errorf("blob read %s chunk %d: %w", c.key, idx, io.ErrUnexpectedEOF)
	}
	n := copy(p, c.data[in:])
	c.off += int64(n)
	return n, nil
}

func (c *chunkReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += c.off
	case io.SeekEnd:
		offset += c.size
	default:
		return 0, errors.New("blob seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("blob seek: negative position")
	}
	c.off = offset
	return offset, nil
}

func (c *chunkReader) Close() error {
	c.data = nil
	return nil
}
