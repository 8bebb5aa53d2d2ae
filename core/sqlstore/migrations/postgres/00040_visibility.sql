-- +goose Up
-- Who may see a conversation besides admins and bots: a JSON array of
-- agent names, '[]' for everyone; and the list each new conversation of a
-- customer starts with.
ALTER TABLE conversations ADD COLUMN visible_to TEXT NOT NULL DEFAULT '[]';
CREATE INDEX conversations_visible_to ON conversations USING GIN ((visible_to::jsonb));
ALTER TABLE customer_presets ADD COLUMN visible_to TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE customer_presets DROP COLUMN visible_to;
DROP INDEX conversations_visible_to;
ALTER TABLE conversations DROP COLUMN visible_to;
