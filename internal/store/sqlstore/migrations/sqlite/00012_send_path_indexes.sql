-- Fewer index entries written per message (issue 6). Every message moves its
-- conversation's updated_at (AppendMessage), and an UPDATE rewrites the
-- entry of every index that holds a column it sets: each index on
-- (x, updated_at, id) costs a delete and an insert per message. The INSERT of
-- the message writes one entry in each of the table's indexes.
--
-- Kept, with updated_at: the inbox of every conversation, and behind site,
-- status and assignee, whose lists may hold most of a large database and are
-- read a page at a time in order from the index.
-- Replaced, without updated_at (so a message no longer touches them):
--   * a contact's conversations: a few; found by contact_id, then sorted.
--   * a chat state's conversations: only live chats (bot, waiting, pending,
--     active) are looked up by it, and they are few; ended chats, most of
--     the table, are left out of the (partial) index and listed through
--     conversations_updated. A query uses it when it repeats the index's
--     WHERE verbatim (ListConversations does).
-- Dropped: messages_chat. No query looks messages up by chat_id, and chats
-- are never deleted or renumbered, so the foreign key needs no index either.
-- Same indexes as migrations/postgres/00012_send_path_indexes.sql.

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
