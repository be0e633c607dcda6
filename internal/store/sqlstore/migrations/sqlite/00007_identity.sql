-- Visitor identity verification: a site's signing secret and whether it is
-- required (sites.identity, JSON), and the verified identity of a contact
-- (contacts.external_id: the site's user id, or "email:" and the address).
-- Same tables as migrations/postgres/00007_identity.sql.

-- +goose Up
ALTER TABLE sites ADD COLUMN identity TEXT NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
CREATE INDEX contacts_site_external ON contacts (site_id, external_id);

-- +goose Down
DROP INDEX contacts_site_external;
ALTER TABLE contacts DROP COLUMN external_id;
ALTER TABLE sites DROP COLUMN identity;
