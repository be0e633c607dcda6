-- Attachment contents kept in the database (internal/store/sqlstore/blobs.go),
-- so that every node of a cluster serves every attachment. PostgreSQL
-- deployments use them (--blobs db, their default); a single SQLite node keeps
-- its files in --data/blobs and leaves these tables empty: they exist on both
-- dialects so the schemas stay in step.
-- Same tables as migrations/postgres/00010_blobs.sql.

-- +goose Up
CREATE TABLE blob_objects (
    key          TEXT PRIMARY KEY,
    size         BIGINT NOT NULL,
    content_type TEXT NOT NULL,
    inline       INTEGER NOT NULL,
    chunk_size   INTEGER NOT NULL,
    created_at   BIGINT NOT NULL
);
-- An object's bytes in chunks of chunk_size (the last may be shorter), so a
-- ranged download reads only the chunks it needs.
CREATE TABLE blob_chunks (
    key  TEXT NOT NULL,
    n    INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (key, n)
);

-- +goose Down
DROP TABLE blob_chunks;
DROP TABLE blob_objects;
