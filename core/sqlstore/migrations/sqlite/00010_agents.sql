-- +goose Up
-- Who a conversation is assigned to (one agent, or several with
-- GATEWAY_MULTI_ASSIGN) and its topics: JSON arrays of strings. The
-- assignee column keeps the first assignee.
ALTER TABLE conversations ADD COLUMN assignees TEXT NOT NULL DEFAULT '[]';
ALTER TABLE conversations ADD COLUMN topics TEXT NOT NULL DEFAULT '[]';
UPDATE conversations SET assignees = '["' || replace(replace(assignee, '\', '\\'), '"', '\"') || '"]' WHERE assignee <> '';


-- Per agent, how far each conversation has been read.
CREATE TABLE conversation_reads (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    agent           TEXT NOT NULL,
    read_at         BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, agent)
);
CREATE INDEX conversation_reads_agent ON conversation_reads (agent);

-- What each new conversation of a customer starts with.
CREATE TABLE customer_presets (
    customer_id TEXT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    assignees   TEXT NOT NULL DEFAULT '[]',
    inbox       TEXT NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE customer_presets;
DROP TABLE conversation_reads;
ALTER TABLE conversations DROP COLUMN topics;
ALTER TABLE conversations DROP COLUMN assignees;
