-- Quick replies: canned answers agents insert by typing "/" and a
-- shortcut. owner_id NULL: shared (managed by admins); otherwise one user's.
-- Same tables as migrations/sqlite/00005_quick_replies.sql.

-- +goose Up
CREATE TABLE quick_replies (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id   BIGINT REFERENCES users (id) ON DELETE CASCADE, -- NULL: shared
    shortcut   TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    created_at BIGINT,
    updated_at BIGINT
);
-- One shortcut per owner, and once among the shared ones.
CREATE UNIQUE INDEX quick_replies_shortcut ON quick_replies (COALESCE(owner_id, 0), shortcut);

-- +goose Down
DROP TABLE quick_replies;
