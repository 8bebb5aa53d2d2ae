-- +goose Up
-- An agent's own figures (AgentFigures) add up the agent's read marks of
-- active conversations. A mark stays when its conversation closes, so an
-- agent's marks grow with every conversation the agent ever read; each
-- mark now says whether its conversation is active (not closed), kept in
-- the transaction that closes or reopens it, and the figures walk only the
-- active marks (conversation_reads_active).
ALTER TABLE conversation_reads ADD COLUMN active BOOLEAN NOT NULL DEFAULT true;
UPDATE conversation_reads r SET active = false FROM conversations c WHERE c.id = r.conversation_id AND c.status = 'closed';
CREATE INDEX conversation_reads_active ON conversation_reads (agent) WHERE active;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION conversation_reads_follow_status() RETURNS trigger AS $$
BEGIN
    UPDATE conversation_reads r SET active = n.status <> 'closed'
    FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
    WHERE r.conversation_id = n.id AND (o.status = 'closed') <> (n.status = 'closed');
    RETURN NULL;
END $$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER conversation_reads_follow_status AFTER UPDATE ON conversations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION conversation_reads_follow_status();

-- +goose Down
DROP TRIGGER conversation_reads_follow_status ON conversations;
DROP FUNCTION conversation_reads_follow_status();
DROP INDEX conversation_reads_active;
ALTER TABLE conversation_reads DROP COLUMN active;
