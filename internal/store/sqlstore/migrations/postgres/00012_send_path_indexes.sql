-- Fewer index entries written per message (issue 6). Every message moves
-- its conversation's updated_at (AppendMessage). SQLite rewrites only the
-- indexes holding a column an UPDATE sets: six inbox indexes carried
-- updated_at, four do now. PostgreSQL writes a new entry in every index of
-- the row (the UPDATE changes an indexed column, so it is never HOT), so on
-- conversations this saves it little (narrower entries, and the partial
-- index holds live chats only); dropping messages_chat saves one index
-- insert per message.
--
-- Kept, with updated_at: the inbox of every conversation, and behind site,
-- status and assignee, whose lists may hold most of a large database and are
-- read a page at a time in order from the index.
-- Replaced, without updated_at:
--   * a contact's conversations: a few; found by contact_id, then sorted.
--   * a chat state's conversations: only live chats (bot, waiting, pending,
--     active) are looked up by it, and they are few; ended chats, most of
--     the table, are left out of the (partial) index and listed through
--     conversations_updated.
-- Dropped: messages_chat. No query looks messages up by chat_id, and chats
-- are never deleted or renumbered, so the foreign key needs no index either.
-- Same indexes as migrations/sqlite/00012_send_path_indexes.sql.

-- +goose Up
DROP INDEX conversations_contact_updated;
CREATE INDEX conversations_contact ON conversations (contact_id);
DROP INDEX conversations_chat_state_updated;
CREATE INDEX conversations_live ON conversations (chat_state) WHERE chat_state NOT IN ('', 'ended');
DROP INDEX messages_chat;

-- +goose Down
CREATE INDEX messages_chat ON messages (chat_id);
DROP INDEX conversations_live;
CREATE INDEX conversations_chat_state_updated ON conversations (chat_state, updated_at DESC, id DESC);
DROP INDEX conversations_contact;
CREATE INDEX conversations_contact_updated ON conversations (contact_id, updated_at DESC, id DESC);
