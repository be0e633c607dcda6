-- Routing: a site's routing settings and business hours, departments and
-- their members, agents' maximum capacity and load, the queue of chats
-- nobody has joined yet, and the offers of chats to agents.
-- Same tables, columns and indexes as migrations/postgres/00003_routing.sql.
--
-- The queue's sort keys (requested_at) and offers.offered_at are NOT NULL
-- (the zero time as its own microsecond value, like conversations.updated_at)
-- so that both dialects order them alike. Other unset times are NULL.

-- +goose Up
ALTER TABLE sites ADD COLUMN routing TEXT NOT NULL DEFAULT '{}';
-- hours NULL: always open.
ALTER TABLE sites ADD COLUMN hours TEXT;

ALTER TABLE users ADD COLUMN max_capacity INTEGER NOT NULL DEFAULT 10;
ALTER TABLE users ADD COLUMN load INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_offer_at BIGINT;
ALTER TABLE users ADD COLUMN missed_offers INTEGER NOT NULL DEFAULT 0;
-- Nobody's capacity may exceed their maximum.
UPDATE users SET max_capacity = capacity WHERE capacity > 10;

-- RecountLoad counts a user's present participations: an index of those
-- alone, rather than every chat the user was ever in.
CREATE INDEX participants_user_present ON participants (user_id) WHERE left_at IS NULL;
-- Load is what RecountLoad would say (no offers exist yet).
UPDATE users SET load = (SELECT COUNT(*) FROM participants p WHERE p.user_id = users.id AND p.left_at IS NULL);

-- ListRoutingAgents of a site's general queue: the site's members in id
-- order, without a sort. Replaces user_sites_site (site_id), its prefix.
CREATE INDEX user_sites_site_user ON user_sites (site_id, user_id);
DROP INDEX user_sites_site;

CREATE TABLE departments (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id               BIGINT  NOT NULL REFERENCES sites (id),
    name                  TEXT    NOT NULL,
    strategy              TEXT    NOT NULL DEFAULT '',
    offer_timeout_seconds INTEGER NOT NULL DEFAULT 0,
    max_wait_seconds      INTEGER NOT NULL DEFAULT 0,
    hours                 TEXT, -- NULL: the site's hours
    created_at            BIGINT
);
CREATE INDEX departments_site ON departments (site_id);

CREATE TABLE department_members (
    department_id BIGINT NOT NULL REFERENCES departments (id) ON DELETE CASCADE,
    user_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (department_id, user_id)
);
CREATE INDEX department_members_user ON department_members (user_id);

CREATE TABLE queue (
    chat_id         BIGINT  NOT NULL PRIMARY KEY REFERENCES chats (id),
    conversation_id BIGINT  NOT NULL,
    site_id         BIGINT  NOT NULL,
    department_id   BIGINT  NOT NULL DEFAULT 0, -- 0: the site's general queue (no FK)
    priority        TEXT    NOT NULL,
    priority_rank   INTEGER NOT NULL,           -- urgent 3, high 2, normal 1, low 0
    requested_at    BIGINT  NOT NULL,
    state           TEXT    NOT NULL,           -- waiting, pending
    deadline        BIGINT,                     -- max wait, NULL: none
    manual          BOOLEAN NOT NULL DEFAULT FALSE
);
-- The two orders a queue is served in (ListQueue), each one index range per
-- state, read in order up to the limit.
CREATE INDEX queue_oldest ON queue (site_id, department_id, state, requested_at, chat_id);
CREATE INDEX queue_priority ON queue (site_id, department_id, state, priority_rank DESC, requested_at, chat_id);
CREATE INDEX queue_deadline ON queue (deadline);

CREATE TABLE offers (
    chat_id      BIGINT  NOT NULL REFERENCES chats (id),
    user_id      BIGINT  NOT NULL REFERENCES users (id),
    kind         TEXT    NOT NULL,
    from_user_id BIGINT  NOT NULL DEFAULT 0,
    state        TEXT    NOT NULL,
    exclusive    BOOLEAN NOT NULL DEFAULT FALSE,
    offered_at   BIGINT  NOT NULL,
    expires_at   BIGINT, -- NULL: no timeout
    resolved_at  BIGINT,
    PRIMARY KEY (chat_id, user_id)
);
CREATE INDEX offers_user_state ON offers (user_id, state);
CREATE INDEX offers_state_expires ON offers (state, expires_at);

-- Chats waiting when this version is installed join their queue (routing
-- starts by sweeping the queues), so none is stranded by the upgrade.
INSERT INTO queue (chat_id, conversation_id, site_id, department_id, priority, priority_rank, requested_at, state, deadline, manual)
SELECT ch.id, c.id, c.site_id, c.department_id, c.priority,
       CASE c.priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END,
       COALESCE(ch.requested_at, 0), 'waiting', NULL, FALSE
FROM chats ch JOIN conversations c ON c.chat_id = ch.id
WHERE ch.state = 'waiting';

-- +goose Down
DROP TABLE offers;
DROP TABLE queue;
DROP TABLE department_members;
DROP TABLE departments;
CREATE INDEX user_sites_site ON user_sites (site_id);
DROP INDEX user_sites_site_user;
DROP INDEX participants_user_present;
ALTER TABLE users DROP COLUMN missed_offers;
ALTER TABLE users DROP COLUMN last_offer_at;
ALTER TABLE users DROP COLUMN load;
ALTER TABLE users DROP COLUMN max_capacity;
ALTER TABLE sites DROP COLUMN hours;
ALTER TABLE sites DROP COLUMN routing;
