-- Visit history for the console's customer sidebar: per contact, a visit
-- counter with first and last sight and what is known of where they are
-- (time zone, language, country and city), and their most recent page views
-- (the store keeps a bounded number per contact; older ones are deleted).
-- Same tables as migrations/sqlite/00009_visits.sql.

-- +goose Up
CREATE TABLE contact_visits (
    contact_id BIGINT  PRIMARY KEY REFERENCES contacts (id) ON DELETE CASCADE,
    site_id    BIGINT  NOT NULL REFERENCES sites (id),
    visits     INTEGER NOT NULL DEFAULT 0,
    first_seen BIGINT  NOT NULL,
    last_seen  BIGINT  NOT NULL,
    time_zone  TEXT    NOT NULL DEFAULT '',
    locale     TEXT    NOT NULL DEFAULT '',
    country    TEXT    NOT NULL DEFAULT '',
    city       TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE page_views (
    id                 BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id         BIGINT  NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    visitor_session_id BIGINT  NOT NULL,
    visit              INTEGER NOT NULL,
    url                TEXT    NOT NULL,
    title              TEXT    NOT NULL DEFAULT '',
    viewed_at          BIGINT  NOT NULL
);
-- A contact's views, newest first (the sidebar, the trim and the de-dup).
CREATE INDEX page_views_contact ON page_views (contact_id, id);

-- +goose Down
DROP TABLE page_views;
DROP TABLE contact_visits;
