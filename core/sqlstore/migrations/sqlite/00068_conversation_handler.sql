-- +goose Up
-- Who answers a conversation's customer: 'human', or 'bot:<name>' (an AI
-- agent); and when a closed conversation was last reopened (microseconds
-- since the epoch), which its resolution time counts from.
ALTER TABLE conversations ADD COLUMN handler TEXT NOT NULL DEFAULT 'human';
ALTER TABLE conversations ADD COLUMN reopened_at BIGINT;

-- +goose Down
ALTER TABLE conversations DROP COLUMN reopened_at;
ALTER TABLE conversations DROP COLUMN handler;
