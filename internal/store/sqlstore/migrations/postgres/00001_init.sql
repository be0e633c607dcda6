-- Switchboard schema, PostgreSQL dialect. Same tables, columns and indexes
-- as migrations/sqlite/00001_init.sql, so that one codec and one set of
-- queries serve both.
--
-- Conventions (shared with the SQLite dialect):
--   * ids are BIGINT identities assigned by the database and never reused;
--   * times are BIGINT unix microseconds UTC (not timestamptz: the codec is
--     shared, and microseconds are exactly what Go and the API carry); an
--     unset (zero) time is NULL, except conversations.updated_at, the
--     pagination key, which is NOT NULL and stores the zero time as its own
--     (very negative) microsecond value so that it sorts first;
--   * a reference "0 = none" is NULL where the column has a foreign key;
--   * lists and maps are JSON text (TEXT, not JSONB: the store never looks
--     inside them, and jsonb would refuse "\u0000" in a value that SQLite and
--     TEXT accept);
--   * flags are BOOLEAN; byte strings are BYTEA.
-- The indexes are exactly those of the SQLite schema (PostgreSQL does not
-- index foreign-key columns by itself; rows are never deleted but sessions).

-- +goose Up
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE sites (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_key        TEXT    NOT NULL UNIQUE,
    name            TEXT    NOT NULL,
    allowed_origins TEXT    NOT NULL DEFAULT '[]',
    widget_mode     TEXT    NOT NULL,
    created_at      BIGINT
);

CREATE TABLE users (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT    NOT NULL UNIQUE, -- lower-cased on write
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL DEFAULT '',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    availability  TEXT    NOT NULL,
    capacity      INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT,
    updated_at    BIGINT
);

CREATE TABLE user_sites (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    site_id BIGINT NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, site_id)
);
CREATE INDEX user_sites_site ON user_sites (site_id);

CREATE TABLE auth_sessions (
    token_hash BYTEA  NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT   NOT NULL,
    created_at BIGINT,
    expires_at BIGINT
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

CREATE TABLE contacts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id    BIGINT NOT NULL REFERENCES sites (id),
    name       TEXT   NOT NULL DEFAULT '',
    email      TEXT   NOT NULL DEFAULT '',
    attributes TEXT   NOT NULL DEFAULT '{}',
    created_at BIGINT
);
CREATE INDEX contacts_site ON contacts (site_id);

CREATE TABLE visitor_sessions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id    BIGINT NOT NULL REFERENCES sites (id),
    contact_id BIGINT REFERENCES contacts (id),
    token_hash BYTEA  NOT NULL UNIQUE,
    created_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX visitor_sessions_contact ON visitor_sessions (contact_id);

CREATE TABLE conversations (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id         BIGINT NOT NULL REFERENCES sites (id),
    contact_id      BIGINT REFERENCES contacts (id),
    channel         TEXT   NOT NULL,
    status          TEXT   NOT NULL,
    priority        TEXT   NOT NULL,
    assignee_id     BIGINT REFERENCES users (id),
    department_id   BIGINT NOT NULL DEFAULT 0,
    last_seq        BIGINT NOT NULL DEFAULT 0,
    chat_id         BIGINT NOT NULL DEFAULT 0, -- latest chat; no FK (chats reference conversations)
    chat_state      TEXT   NOT NULL DEFAULT '',
    preview         TEXT   NOT NULL DEFAULT '',
    last_message_at BIGINT,
    created_at      BIGINT,
    updated_at      BIGINT NOT NULL
);
-- Keyset pagination (updated_at DESC, id DESC), alone and behind the common filters.
CREATE INDEX conversations_updated ON conversations (updated_at DESC, id DESC);
CREATE INDEX conversations_site_updated ON conversations (site_id, updated_at DESC, id DESC);
CREATE INDEX conversations_status_updated ON conversations (status, updated_at DESC, id DESC);
CREATE INDEX conversations_assignee_updated ON conversations (assignee_id, updated_at DESC, id DESC);
CREATE INDEX conversations_contact_updated ON conversations (contact_id, updated_at DESC, id DESC);
CREATE INDEX conversations_chat_state_updated ON conversations (chat_state, updated_at DESC, id DESC);

CREATE TABLE conversation_tags (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    tag             TEXT   NOT NULL,
    PRIMARY KEY (conversation_id, tag)
);
CREATE INDEX conversation_tags_tag ON conversation_tags (tag, conversation_id);

CREATE TABLE chats (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id   BIGINT NOT NULL REFERENCES conversations (id),
    state             TEXT   NOT NULL,
    requested_at      BIGINT,
    offered_at        BIGINT,
    first_joined_at   BIGINT,
    first_response_at BIGINT,
    ended_at          BIGINT,
    ended_by          TEXT   NOT NULL DEFAULT '',
    ended_by_user_id  BIGINT NOT NULL DEFAULT 0,
    end_reason        TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX chats_conversation ON chats (conversation_id);

CREATE TABLE participants (
    chat_id   BIGINT NOT NULL REFERENCES chats (id),
    user_id   BIGINT NOT NULL REFERENCES users (id),
    joined_at BIGINT,
    left_at   BIGINT,
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX participants_user ON participants (user_id);

CREATE TABLE attachments (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    uploader_kind   TEXT   NOT NULL,
    uploader_id     BIGINT NOT NULL DEFAULT 0,
    name            TEXT   NOT NULL,
    content_type    TEXT   NOT NULL,
    size            BIGINT NOT NULL,
    blob_key        TEXT   NOT NULL,
    created_at      BIGINT
);
CREATE INDEX attachments_conversation ON attachments (conversation_id);

CREATE TABLE messages (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    seq             BIGINT NOT NULL,
    chat_id         BIGINT REFERENCES chats (id),
    author_kind     TEXT   NOT NULL,
    author_id       BIGINT NOT NULL DEFAULT 0,
    author_name     TEXT   NOT NULL DEFAULT '',
    client_id       TEXT   NOT NULL DEFAULT '',
    kind            TEXT   NOT NULL,
    visibility      TEXT   NOT NULL,
    body            TEXT   NOT NULL DEFAULT '',
    event           TEXT   NOT NULL DEFAULT '',
    attachment_id   BIGINT REFERENCES attachments (id),
    created_at      BIGINT,
    UNIQUE (conversation_id, seq)
);
-- The idempotency key: a retried client write finds its first ack, on any
-- node. A concurrent insert of the same key from another node waits for the
-- first transaction and then fails; AppendMessage avoids even that by
-- taking the conversation's row lock before it checks (see tx.go).
CREATE UNIQUE INDEX messages_client_id
    ON messages (conversation_id, author_kind, author_id, client_id)
    WHERE client_id <> '';
CREATE INDEX messages_chat ON messages (chat_id);

CREATE TABLE read_marks (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    reader_kind     TEXT   NOT NULL,
    reader_id       BIGINT NOT NULL,
    seq             BIGINT NOT NULL,
    at              BIGINT,
    PRIMARY KEY (conversation_id, reader_kind, reader_id)
);

-- +goose Down
DROP TABLE read_marks;
DROP TABLE messages;
DROP TABLE attachments;
DROP TABLE participants;
DROP TABLE chats;
DROP TABLE conversation_tags;
DROP TABLE conversations;
DROP TABLE visitor_sessions;
DROP TABLE contacts;
DROP TABLE auth_sessions;
DROP TABLE user_sites;
DROP TABLE users;
DROP TABLE sites;
DROP TABLE meta;
