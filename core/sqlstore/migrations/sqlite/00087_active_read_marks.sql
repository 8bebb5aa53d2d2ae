-- +goose Up
-- Each read mark carries whether its conversation is active (not closed),
-- its customer messages, visibility and inbox, so that an agent's own
-- figures read the marks of active conversations alone
-- (conversation_reads_active); see the PostgreSQL migration.
ALTER TABLE conversation_reads ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
ALTER TABLE conversation_reads ADD COLUMN inbound_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversation_reads ADD COLUMN visible_to TEXT NOT NULL DEFAULT '[]';
ALTER TABLE conversation_reads ADD COLUMN inbox TEXT NOT NULL DEFAULT '';
UPDATE conversation_reads SET
    active = (SELECT c.status <> 'closed' FROM conversations c WHERE c.id = conversation_reads.conversation_id),
    inbound_count = (SELECT c.inbound_count FROM conversations c WHERE c.id = conversation_reads.conversation_id),
    visible_to = (SELECT c.visible_to FROM conversations c WHERE c.id = conversation_reads.conversation_id),
    inbox = (SELECT c.inbox FROM conversations c WHERE c.id = conversation_reads.conversation_id)
    WHERE conversation_id IN (SELECT id FROM conversations);
CREATE INDEX conversation_reads_active ON conversation_reads (agent) WHERE active;

-- +goose StatementBegin
CREATE TRIGGER conversation_reads_follow_status
    AFTER UPDATE OF status, inbound_count, visible_to, inbox ON conversations
    WHEN (OLD.status = 'closed') <> (NEW.status = 'closed') OR OLD.inbound_count <> NEW.inbound_count
        OR OLD.visible_to <> NEW.visible_to OR OLD.inbox <> NEW.inbox
BEGIN
    UPDATE conversation_reads SET active = NEW.status <> 'closed', inbound_count = NEW.inbound_count,
        visible_to = NEW.visible_to, inbox = NEW.inbox
    WHERE conversation_id = NEW.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER conversation_reads_follow_status;
DROP INDEX conversation_reads_active;
ALTER TABLE conversation_reads DROP COLUMN inbox;
ALTER TABLE conversation_reads DROP COLUMN visible_to;
ALTER TABLE conversation_reads DROP COLUMN inbound_count;
ALTER TABLE conversation_reads DROP COLUMN active;
