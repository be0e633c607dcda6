-- Staff profile pictures, and unverified visitor attributes.
-- users.avatar_key names the picture's object in the blob store ('' when
-- none). The picture is served publicly at
-- /api/v1/avatars/{key}, so the key is looked up (users_avatar_key) to serve
-- only keys that are a user's current avatar, never another blob.
-- contacts.visitor_attributes (JSON object) holds the attributes a visitor's
-- widget sent without a verified identity, kept apart from the verified
-- contacts.attributes so that they can never overwrite them.
-- Same tables as migrations/postgres/00011_avatars_visitor_attributes.sql.

-- +goose Up
ALTER TABLE users ADD COLUMN avatar_key TEXT NOT NULL DEFAULT '';
CREATE INDEX users_avatar_key ON users (avatar_key);
ALTER TABLE contacts ADD COLUMN visitor_attributes TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE contacts DROP COLUMN visitor_attributes;
DROP INDEX users_avatar_key;
ALTER TABLE users DROP COLUMN avatar_key;
