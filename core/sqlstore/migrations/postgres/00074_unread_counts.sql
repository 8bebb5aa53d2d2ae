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
ALTER TABLE conversations ADD COLUMN inbound_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversation_reads ADD COLUMN read_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conversation_counts ADD COLUMN inbound BIGINT NOT NULL DEFAULT 0;

-- The counts of the messages already there, grouped.
UPDATE conversations c SET inbound_count = m.n
FROM (SELECT conversation_id, COUNT(*) AS n FROM messages WHERE kind = 'message' AND direction = 'inbound' GROUP BY conversation_id) m
WHERE m.conversation_id = c.id;
UPDATE conversation_reads r SET read_count = m.n
FROM (SELECT r2.conversation_id, r2.agent, COUNT(*) AS n FROM conversation_reads r2
    JOIN messages m ON m.conversation_id = r2.conversation_id AND m.kind = 'message' AND m.direction = 'inbound' AND m.created_at <= r2.read_at
    GROUP BY r2.conversation_id, r2.agent) m
WHERE m.conversation_id = r.conversation_id AND m.agent = r.agent;
INSERT INTO conversation_counts (kind, key, visible_to, shard, n, inbound)
SELECT 'i', '', visible_to, abs(hashtext(id)) % 8, SUM(CASE WHEN inbound_count > 0 THEN 1 ELSE 0 END), SUM(inbound_count)
FROM conversations WHERE status <> 'closed' GROUP BY 3, 4;

-- +goose StatementBegin
-- message_inbound_add counts message m d times (1 or -1) if it is the customer's.
CREATE FUNCTION message_inbound_add(m messages, d INTEGER) RETURNS void AS $$
BEGIN
    IF m.kind = 'message' AND m.direction = 'inbound' THEN
        UPDATE conversations SET inbound_count = inbound_count + d WHERE id = m.conversation_id;
        UPDATE conversation_reads SET read_count = read_count + d WHERE conversation_id = m.conversation_id AND read_at >= m.created_at;
    END IF;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION message_inbound_trigger() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM message_inbound_add(OLD, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM message_inbound_add(NEW, 1);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER message_inbound_rows AFTER INSERT OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION message_inbound_trigger();
CREATE TRIGGER message_inbound_update AFTER UPDATE ON messages FOR EACH ROW
    WHEN ((OLD.conversation_id, OLD.kind, OLD.direction, OLD.created_at) IS DISTINCT FROM
        (NEW.conversation_id, NEW.kind, NEW.direction, NEW.created_at))
    EXECUTE FUNCTION message_inbound_trigger();

-- +goose StatementBegin
-- conversation_inbound_add adds conversation c to the 'i' counts d times.
CREATE FUNCTION conversation_inbound_add(c conversations, d INTEGER) RETURNS void AS $$
BEGIN
    IF c.status <> 'closed' THEN
        INSERT INTO conversation_counts AS k (kind, key, visible_to, shard, n, inbound)
        VALUES ('i', '', c.visible_to, abs(hashtext(c.id)) % 8, CASE WHEN c.inbound_count > 0 THEN d ELSE 0 END, d * c.inbound_count)
        ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = k.n + excluded.n, inbound = k.inbound + excluded.inbound;
    END IF;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION conversation_inbound_trigger() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM conversation_inbound_add(OLD, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM conversation_inbound_add(NEW, 1);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER conversation_inbound_rows AFTER INSERT OR DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversation_inbound_trigger();
CREATE TRIGGER conversation_inbound_update AFTER UPDATE ON conversations FOR EACH ROW
    WHEN ((OLD.status = 'closed', OLD.visible_to, OLD.inbound_count) IS DISTINCT FROM (NEW.status = 'closed', NEW.visible_to, NEW.inbound_count))
    EXECUTE FUNCTION conversation_inbound_trigger();

-- +goose Down
DROP TRIGGER conversation_inbound_update ON conversations;
DROP TRIGGER conversation_inbound_rows ON conversations;
DROP FUNCTION conversation_inbound_trigger();
DROP FUNCTION conversation_inbound_add(conversations, INTEGER);
DROP TRIGGER message_inbound_update ON messages;
DROP TRIGGER message_inbound_rows ON messages;
DROP FUNCTION message_inbound_trigger();
DROP FUNCTION message_inbound_add(messages, INTEGER);
DELETE FROM conversation_counts WHERE kind = 'i';
ALTER TABLE conversation_counts DROP COLUMN inbound;
ALTER TABLE conversation_reads DROP COLUMN read_count;
ALTER TABLE conversations DROP COLUMN inbound_count;
