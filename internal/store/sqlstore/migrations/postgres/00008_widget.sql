-- Per-site widget settings (sites.widget, JSON: colour, position, greeting,
-- launcher text, pre-chat form, string overrides, language, direction) and
-- the built-in assistant's answers (sites.bot, JSON). Same tables as
-- migrations/sqlite/00008_widget.sql.

-- +goose Up
ALTER TABLE sites ADD COLUMN widget TEXT NOT NULL DEFAULT '{}';
ALTER TABLE sites ADD COLUMN bot TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE sites DROP COLUMN bot;
ALTER TABLE sites DROP COLUMN widget;
