-- Email: a site's email settings, the raw mail an inbound message was made
-- from, the outbox of mails to send, and the Message-IDs that tie mails to
-- their conversation. Same tables, columns and indexes as
-- migrations/postgres/00004_email.sql.
--
-- The outbox is written in the same transaction as the change that causes a
-- mail (DESIGN.md §2), and senders on any node lease due mails from it
-- (ClaimDueMail): a lease is lease_until/lease_by, released when the attempt
-- is recorded. next_attempt_at is NOT NULL (the zero time as its own
-- microsecond value: due at once) so that the claim reads one index range.

-- +goose Up
ALTER TABLE sites ADD COLUMN email TEXT NOT NULL DEFAULT '{}';
-- The original message/rfc822 of an inbound mail message (NULL: none).
ALTER TABLE messages ADD COLUMN raw_attachment_id BIGINT REFERENCES attachments (id);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BIGINT  REFERENCES conversations (id), -- NULL: none
    kind            TEXT    NOT NULL,
    dedupe_key      TEXT    NOT NULL UNIQUE,
    from_addr       TEXT    NOT NULL,
    to_addr         TEXT    NOT NULL,
    message_id      TEXT    NOT NULL DEFAULT '',
    body            BLOB    NOT NULL,
    state           TEXT    NOT NULL,           -- pending, sent, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    lease_until     BIGINT,                     -- NULL: not leased
    lease_by        TEXT    NOT NULL DEFAULT '',
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT,
    sent_at         BIGINT
);
-- ClaimDueMail: the due pending mails, oldest due first, one index range.
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);
-- ListMail: a conversation's mails in order.
CREATE INDEX outbox_conversation ON outbox (conversation_id, id);

CREATE TABLE mail_refs (
    message_id      TEXT   NOT NULL PRIMARY KEY, -- without angle brackets
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    created_at      BIGINT
);

-- +goose Down
DROP TABLE mail_refs;
DROP TABLE outbox;
ALTER TABLE messages DROP COLUMN raw_attachment_id;
ALTER TABLE sites DROP COLUMN email;
