-- +goose Up
-- A batch of the core adds its customer messages to their conversations'
-- inbound counts in the one write it makes of each conversation (its insert
-- or its update), instead of the messages' insert trigger updating every
-- conversation of the batch a second time. The batch says so for its own
-- inserts by setting gateway.inbound_counted to 'on' in its transaction
-- (and back to '' after them); every other insert of messages (the API's,
-- a direct INSERT) is counted by the trigger as before. The read marks'
-- counts of inserted messages are kept by the trigger either way.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION message_inbound_statement() RETURNS trigger AS $$
DECLARE
    d INTEGER := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
    conv_ids TEXT[];
    deltas BIGINT[];
BEGIN
    IF TG_OP = 'DELETE' OR current_setting('gateway.inbound_counted', true) IS DISTINCT FROM 'on' THEN
        SELECT array_agg(g.conversation_id ORDER BY g.conversation_id), array_agg(g.delta ORDER BY g.conversation_id)
        INTO conv_ids, deltas
        FROM (SELECT c.conversation_id, d * COUNT(*) AS delta FROM changed c WHERE c.kind = 'message' AND c.direction = 'inbound'
            GROUP BY c.conversation_id) g;
        IF conv_ids IS NULL THEN
            RETURN NULL;
        END IF;
        PERFORM inbound_add(conv_ids, deltas);
    END IF;
    UPDATE conversation_reads r SET read_count = r.read_count + d * m.n
    FROM (SELECT r2.conversation_id, r2.agent, COUNT(*) AS n FROM changed m2
        JOIN conversation_reads r2 ON r2.conversation_id = m2.conversation_id AND r2.read_at >= m2.created_at
        WHERE m2.kind = 'message' AND m2.direction = 'inbound' GROUP BY r2.conversation_id, r2.agent) m
    WHERE r.conversation_id = m.conversation_id AND r.agent = m.agent;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION message_inbound_statement() RETURNS trigger AS $$
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
