-- +goose Up
-- The contacts of a conversation: one per interaction on a channel, open
-- (ended_at NULL) from its first message until an agent, a bot or
-- inactivity ends it. At most one contact per conversation and channel is
-- open. Times are microseconds since the epoch.
CREATE TABLE contacts (
    id               TEXT PRIMARY KEY,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    channel          TEXT NOT NULL,
    started_by       TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL,
    ended_at         BIGINT,
    end_reason       TEXT NOT NULL DEFAULT '',
    ended_by         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX contacts_conversation ON contacts (conversation_id, started_at);
CREATE UNIQUE INDEX contacts_open ON contacts (conversation_id, channel) WHERE ended_at IS NULL;
CREATE INDEX contacts_idle ON contacts (channel, last_activity_at) WHERE ended_at IS NULL;

-- +goose Down
DROP TABLE contacts;
