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
-- inbound_add adds deltas[i] customer messages to conversation conv_ids[i]
-- (a negative delta takes them away), and to the 'i' counts of the active
-- ones: the conversations' rows change here, so that the trigger of
-- conversations runs only as a conversation closes, reopens or changes
-- visible_to.
CREATE FUNCTION inbound_add(conv_ids TEXT[], deltas BIGINT[]) RETURNS void AS $$
BEGIN
    WITH u AS (
        UPDATE conversations c SET inbound_count = c.inbound_count + m.delta
        FROM unnest(conv_ids, deltas) AS m(conv_id, delta) WHERE c.id = m.conv_id
        RETURNING c.id AS conv_id, c.status AS conv_status, c.visible_to AS vis, c.inbound_count AS total, m.delta
    )
    INSERT INTO conversation_counts AS k (kind, key, visible_to, shard, n, inbound)
    SELECT 'i', '', u.vis, abs(hashtext(u.conv_id)) % 8,
        SUM((CASE WHEN u.total > 0 THEN 1 ELSE 0 END) - (CASE WHEN u.total - u.delta > 0 THEN 1 ELSE 0 END)), SUM(u.delta)
    FROM u WHERE u.conv_status <> 'closed' GROUP BY 3, 4
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = k.n + excluded.n, inbound = k.inbound + excluded.inbound;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose StatementBegin
-- message_inbound_add counts message m d times (1 or -1) if it is the
-- customer's (a move or a change of a message, seldom: row by row).
CREATE FUNCTION message_inbound_add(m messages, d INTEGER) RETURNS void AS $$
BEGIN
    IF m.kind = 'message' AND m.direction = 'inbound' THEN
        PERFORM inbound_add(ARRAY[m.conversation_id], ARRAY[d::BIGINT]);
        UPDATE conversation_reads SET read_count = read_count + d WHERE conversation_id = m.conversation_id AND read_at >= m.created_at;
    END IF;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION message_inbound_update_trigger() RETURNS trigger AS $$
BEGIN
    PERFORM message_inbound_add(OLD, -1);
    PERFORM message_inbound_add(NEW, 1);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose StatementBegin
-- message_inbound_statement counts the inserted (or deleted) messages of a
-- statement, grouped by conversation: a batch of a few hundred messages
-- updates each of its conversations once, and the counts once per row.
CREATE FUNCTION message_inbound_statement() RETURNS trigger AS $$
DECLARE
    d INTEGER := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
    conv_ids TEXT[];
    deltas BIGINT[];
BEGIN
    SELECT array_agg(g.conversation_id ORDER BY g.conversation_id), array_agg(g.delta ORDER BY g.conversation_id) INTO conv_ids, deltas
    FROM (SELECT c.conversation_id, d * COUNT(*) AS delta FROM changed c WHERE c.kind = 'message' AND c.direction = 'inbound'
        GROUP BY c.conversation_id) g;
    IF conv_ids IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM inbound_add(conv_ids, deltas);
    UPDATE conversation_reads r SET read_count = r.read_count + d * m.n
    FROM (SELECT r2.conversation_id, r2.agent, COUNT(*) AS n FROM changed m2
        JOIN conversation_reads r2 ON r2.conversation_id = m2.conversation_id AND r2.read_at >= m2.created_at
        WHERE m2.kind = 'message' AND m2.direction = 'inbound' GROUP BY r2.conversation_id, r2.agent) m
    WHERE r.conversation_id = m.conversation_id AND r.agent = m.agent;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER message_inbound_insert AFTER INSERT ON messages REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION message_inbound_statement();
CREATE TRIGGER message_inbound_delete AFTER DELETE ON messages REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION message_inbound_statement();
CREATE TRIGGER message_inbound_update AFTER UPDATE ON messages FOR EACH ROW
    WHEN ((OLD.conversation_id, OLD.kind, OLD.direction, OLD.created_at) IS DISTINCT FROM
        (NEW.conversation_id, NEW.kind, NEW.direction, NEW.created_at))
    EXECUTE FUNCTION message_inbound_update_trigger();

-- +goose StatementBegin
-- conversation_inbound_add adds conversation c to the 'i' counts d times
-- (as it closes, reopens or changes visible_to; inbound_add keeps them as
-- its messages come and go).
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
    WHEN ((OLD.status = 'closed', OLD.visible_to) IS DISTINCT FROM (NEW.status = 'closed', NEW.visible_to))
    EXECUTE FUNCTION conversation_inbound_trigger();

-- +goose Down
DROP TRIGGER conversation_inbound_update ON conversations;
DROP TRIGGER conversation_inbound_rows ON conversations;
DROP FUNCTION conversation_inbound_trigger();
DROP FUNCTION conversation_inbound_add(conversations, INTEGER);
DROP TRIGGER message_inbound_update ON messages;
DROP TRIGGER message_inbound_delete ON messages;
DROP TRIGGER message_inbound_insert ON messages;
DROP FUNCTION message_inbound_statement();
DROP FUNCTION message_inbound_update_trigger();
DROP FUNCTION message_inbound_add(messages, INTEGER);
DROP FUNCTION inbound_add(TEXT[], BIGINT[]);
DELETE FROM conversation_counts WHERE kind = 'i';
ALTER TABLE conversation_counts DROP COLUMN inbound;
ALTER TABLE conversation_reads DROP COLUMN read_count;
ALTER TABLE conversations DROP COLUMN inbound_count;
