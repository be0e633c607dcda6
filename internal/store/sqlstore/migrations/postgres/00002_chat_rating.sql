-- The visitor's satisfaction rating of an ended chat (1-5; 0: not rated),
-- with an optional comment. Analytics reads it per chat and per agent.

-- +goose Up
ALTER TABLE chats ADD COLUMN rating INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chats ADD COLUMN rating_comment TEXT NOT NULL DEFAULT '';
ALTER TABLE chats ADD COLUMN rated_at BIGINT;

-- +goose Down
ALTER TABLE chats DROP COLUMN rated_at;
ALTER TABLE chats DROP COLUMN rating_comment;
ALTER TABLE chats DROP COLUMN rating;
