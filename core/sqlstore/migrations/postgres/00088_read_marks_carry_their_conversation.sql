-- +goose Up
-- An agent's own figures (AgentFigures) looked up the conversation of each
-- of the agent's active read marks, for its customer messages, visibility
-- and inbox: a lookup a mark, 12 ms for an agent with 1,200 open
-- conversations read. Each mark now carries those of its conversation,
-- kept in the transaction that changes them, and the figures read the
-- marks alone.
ALTER TABLE conversation_reads ADD COLUMN inbound_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversation_reads ADD COLUMN visible_to TEXT NOT NULL DEFAULT '[]';
ALTER TABLE conversation_reads ADD COLUMN inbox TEXT NOT NULL DEFAULT '';
UPDATE conversation_reads r SET inbound_count = c.inbound_count, visible_to = c.visible_to, inbox = c.inbox,
    active = c.status <> 'closed'
    FROM conversations c WHERE c.id = r.conversation_id;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION conversation_reads_follow_status() RETURNS trigger AS $$
BEGIN
    UPDATE conversation_reads r SET active = n.status <> 'closed', inbound_count = n.inbound_count,
        visible_to = n.visible_to, inbox = n.inbox
    FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
    WHERE r.conversation_id = n.id AND ((o.status = 'closed') <> (n.status = 'closed')
        OR o.inbound_count <> n.inbound_count OR o.visible_to <> n.visible_to OR o.inbox <> n.inbox);
    RETURN NULL;
END $$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION conversation_reads_follow_status() RETURNS trigger AS $$
BEGIN
    UPDATE conversation_reads r SET active = n.status <> 'closed'
    FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
    WHERE r.conversation_id = n.id AND (o.status = 'closed') <> (n.status = 'closed');
    RETURN NULL;
END $$ LANGUAGE plpgsql;
-- +goose StatementEnd
ALTER TABLE conversation_reads DROP COLUMN inbox;
ALTER TABLE conversation_reads DROP COLUMN visible_to;
ALTER TABLE conversation_reads DROP COLUMN inbound_count;
