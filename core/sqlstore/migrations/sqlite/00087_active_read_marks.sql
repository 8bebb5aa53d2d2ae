-- +goose Up
-- An agent's read marks say whether their conversation is active (not
-- closed), so that the agent's own figures walk only the active ones
-- (conversation_reads_active); see the PostgreSQL migration.
ALTER TABLE conversation_reads ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
UPDATE conversation_reads SET active = 0
    WHERE conversation_id IN (SELECT id FROM conversations WHERE status = 'closed');
CREATE INDEX conversation_reads_active ON conversation_reads (agent) WHERE active;

-- +goose StatementBegin
CREATE TRIGGER conversation_reads_follow_status AFTER UPDATE OF status ON conversations
    WHEN (OLD.status = 'closed') <> (NEW.status = 'closed')
BEGIN
    UPDATE conversation_reads SET active = NEW.status <> 'closed' WHERE conversation_id = NEW.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER conversation_reads_follow_status;
DROP INDEX conversation_reads_active;
ALTER TABLE conversation_reads DROP COLUMN active;
