-- Channels beyond the widget and email: a contact's phone number (SMS,
-- WhatsApp) and the transport of each outbox row, so the email sender and
-- the SMS/WhatsApp senders each claim only their own. Same tables as
-- migrations/sqlite/00006_channels.sql.

-- +goose Up
ALTER TABLE contacts ADD COLUMN phone TEXT NOT NULL DEFAULT '';
CREATE INDEX contacts_site_phone ON contacts (site_id, phone);
ALTER TABLE outbox ADD COLUMN transport TEXT NOT NULL DEFAULT 'email';
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (transport, state, next_attempt_at, id);

-- +goose Down
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);
ALTER TABLE outbox DROP COLUMN transport;
DROP INDEX contacts_site_phone;
ALTER TABLE contacts DROP COLUMN phone;
