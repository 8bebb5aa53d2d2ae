-- +goose Up
-- Running counts of the customer's messages (kind message, inbound), so
-- that an agent's unread figures read the counts and the agent's read
-- marks instead of every customer message of the active conversations:
--   conversations.inbound_count: the conversation's customer messages;
--   conversation_reads.read_count: those created at or before read_at
--     (the ones the mark has read);
--   conversation_counts kind 'i', key '': n active conversations with a
--     customer message, inbound the sum of their inbound_count.
-- Triggers keep them in the same transaction as each insert, move and
-- delete of a message and each change of a conversation.
ALTER TABLE conversations ADD COLUMN inbound_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversation_reads ADD COLUMN read_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conversation_counts ADD COLUMN inbound INTEGER NOT NULL DEFAULT 0;

-- The counts of the messages already there, grouped.
UPDATE conversations SET inbound_count = m.n
FROM (SELECT conversation_id, COUNT(*) AS n FROM messages WHERE kind = 'message' AND direction = 'inbound' GROUP BY conversation_id) AS m
WHERE m.conversation_id = conversations.id;
UPDATE conversation_reads SET read_count = m.n
FROM (SELECT r2.conversation_id, r2.agent, COUNT(*) AS n FROM conversation_reads r2
    JOIN messages m ON m.conversation_id = r2.conversation_id AND m.kind = 'message' AND m.direction = 'inbound' AND m.created_at <= r2.read_at
    GROUP BY r2.conversation_id, r2.agent) AS m
WHERE m.conversation_id = conversation_reads.conversation_id AND m.agent = conversation_reads.agent;
INSERT INTO conversation_counts (kind, key, visible_to, shard, n, inbound)
SELECT 'i', '', visible_to, 0, SUM(CASE WHEN inbound_count > 0 THEN 1 ELSE 0 END), SUM(inbound_count)
FROM conversations WHERE status <> 'closed' GROUP BY visible_to;

-- +goose StatementBegin
CREATE TRIGGER message_inbound_insert AFTER INSERT ON messages
    WHEN NEW.kind = 'message' AND NEW.direction = 'inbound' BEGIN
    UPDATE conversations SET inbound_count = inbound_count + 1 WHERE id = NEW.conversation_id AND NEW.kind = 'message' AND NEW.direction = 'inbound';
    UPDATE conversation_reads SET read_count = read_count + 1 WHERE conversation_id = NEW.conversation_id AND read_at >= NEW.created_at
        AND NEW.kind = 'message' AND NEW.direction = 'inbound';
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER message_inbound_delete AFTER DELETE ON messages
    WHEN OLD.kind = 'message' AND OLD.direction = 'inbound' BEGIN
    UPDATE conversations SET inbound_count = inbound_count - 1 WHERE id = OLD.conversation_id AND OLD.kind = 'message' AND OLD.direction = 'inbound';
    UPDATE conversation_reads SET read_count = read_count - 1 WHERE conversation_id = OLD.conversation_id AND read_at >= OLD.created_at
        AND OLD.kind = 'message' AND OLD.direction = 'inbound';
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER message_inbound_update AFTER UPDATE ON messages
    WHEN OLD.conversation_id IS NOT NEW.conversation_id OR OLD.kind IS NOT NEW.kind OR OLD.direction IS NOT NEW.direction OR OLD.created_at IS NOT NEW.created_at BEGIN
    UPDATE conversations SET inbound_count = inbound_count - 1 WHERE id = OLD.conversation_id AND OLD.kind = 'message' AND OLD.direction = 'inbound';
    UPDATE conversation_reads SET read_count = read_count - 1 WHERE conversation_id = OLD.conversation_id AND read_at >= OLD.created_at
        AND OLD.kind = 'message' AND OLD.direction = 'inbound';
    UPDATE conversations SET inbound_count = inbound_count + 1 WHERE id = NEW.conversation_id AND NEW.kind = 'message' AND NEW.direction = 'inbound';
    UPDATE conversation_reads SET read_count = read_count + 1 WHERE conversation_id = NEW.conversation_id AND read_at >= NEW.created_at
        AND NEW.kind = 'message' AND NEW.direction = 'inbound';
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER conversation_inbound_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, inbound)
    SELECT 'i', '', NEW.visible_to, 0, CASE WHEN NEW.inbound_count > 0 THEN 1 ELSE 0 END, 1 * NEW.inbound_count WHERE NEW.status <> 'closed'
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, inbound = inbound + excluded.inbound;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER conversation_inbound_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, inbound)
    SELECT 'i', '', OLD.visible_to, 0, CASE WHEN OLD.inbound_count > 0 THEN -1 ELSE 0 END, -1 * OLD.inbound_count WHERE OLD.status <> 'closed'
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, inbound = inbound + excluded.inbound;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER conversation_inbound_update AFTER UPDATE ON conversations
    WHEN (OLD.status = 'closed') IS NOT (NEW.status = 'closed') OR OLD.visible_to IS NOT NEW.visible_to OR OLD.inbound_count IS NOT NEW.inbound_count BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, inbound)
    SELECT 'i', '', OLD.visible_to, 0, CASE WHEN OLD.inbound_count > 0 THEN -1 ELSE 0 END, -1 * OLD.inbound_count WHERE OLD.status <> 'closed'
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, inbound = inbound + excluded.inbound;
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, inbound)
    SELECT 'i', '', NEW.visible_to, 0, CASE WHEN NEW.inbound_count > 0 THEN 1 ELSE 0 END, 1 * NEW.inbound_count WHERE NEW.status <> 'closed'
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, inbound = inbound + excluded.inbound;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER conversation_inbound_update;
DROP TRIGGER conversation_inbound_delete;
DROP TRIGGER conversation_inbound_insert;
DROP TRIGGER message_inbound_update;
DROP TRIGGER message_inbound_delete;
DROP TRIGGER message_inbound_insert;
DELETE FROM conversation_counts WHERE kind = 'i';
ALTER TABLE conversation_counts DROP COLUMN inbound;
ALTER TABLE conversation_reads DROP COLUMN read_count;
ALTER TABLE conversations DROP COLUMN inbound_count;
