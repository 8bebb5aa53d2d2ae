-- +goose Up
-- (1) A batch of the core adds its customer messages to their conversations'
-- inbound counts in the one write it makes of each conversation (its insert
-- or its update), instead of the messages' insert trigger updating every
-- conversation of the batch a second time. The batch says so before each
-- of its own inserts by setting gateway.inbound_counted to 'on' in its
-- transaction, and the trigger of that insert sets it back to ''; every
-- other insert of messages (the API's, a direct INSERT) is counted by the
-- trigger as before. The read marks'
-- counts of inserted messages are kept by the trigger either way.
-- (2) Below: a customer message's changes of its conversation are counted
-- directly.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION message_inbound_statement() RETURNS trigger AS $$
DECLARE
    d INTEGER := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
    conv_ids TEXT[];
    deltas BIGINT[];
    counted BOOLEAN := TG_OP = 'INSERT' AND current_setting('gateway.inbound_counted', true) = 'on';
BEGIN
    IF counted THEN
        PERFORM set_config('gateway.inbound_counted', '', true);
    ELSE
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

-- +goose StatementBegin
-- conversation_counts_updated: a conversation whose counted columns other
-- than unreplied and inbound_count are as they were (a customer message:
-- unreplied and inbound_count grow, nothing else counted changes) has its
-- counts rows adjusted directly by the two differences, grouped over the
-- statement; only the others are taken out of every count and added back
-- (conversation_counts_apply, which costs many times as much a row).
CREATE OR REPLACE FUNCTION conversation_counts_updated() RETURNS trigger AS $$
DECLARE
    olds conversations[];
    news conversations[];
BEGIN
    SELECT array_agg(o::conversations), array_agg(n::conversations) INTO olds, news
    FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
    WHERE (o.status, o.assignee, o.assignees, o.topics, o.visible_to, o.inbox, o.handler, o.first_response_seconds,
        o.resolution_seconds) IS DISTINCT FROM (n.status, n.assignee, n.assignees, n.topics, n.visible_to, n.inbox,
        n.handler, n.first_response_seconds, n.resolution_seconds);
    IF olds IS NOT NULL THEN
        PERFORM conversation_counts_apply(olds, news);
    END IF;
    WITH ch AS (
        SELECT n.id, n.status, n.visible_to, n.inbox, n.assignees, n.topics, abs(hashtext(n.id)) % 8 AS sh,
            CASE WHEN n.status <> 'closed' AND n.handler = 'human' THEN n.unreplied - o.unreplied ELSE 0 END AS unrep,
            CASE WHEN n.status <> 'closed' THEN (CASE WHEN n.inbound_count > 0 THEN 1 ELSE 0 END)
                - (CASE WHEN o.inbound_count > 0 THEN 1 ELSE 0 END) ELSE 0 END AS i_n,
            CASE WHEN n.status <> 'closed' THEN n.inbound_count - o.inbound_count ELSE 0 END AS i_inbound
        FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
        WHERE (o.unreplied, o.inbound_count) IS DISTINCT FROM (n.unreplied, n.inbound_count)
            AND (o.status, o.assignee, o.assignees, o.topics, o.visible_to, o.inbox, o.handler, o.first_response_seconds,
            o.resolution_seconds) IS NOT DISTINCT FROM (n.status, n.assignee, n.assignees, n.topics, n.visible_to, n.inbox,
            n.handler, n.first_response_seconds, n.resolution_seconds)
    ), deltas AS (
        SELECT 's' AS kind, ch.status AS key, ch.visible_to, ch.inbox, ch.sh, 0 AS n, ch.unrep AS unreplied, 0 AS inbound
        FROM ch WHERE ch.unrep <> 0
        UNION ALL
        SELECT 'a', j.value, ch.visible_to, ch.inbox, ch.sh, 0, ch.unrep, 0
        FROM ch, LATERAL (SELECT DISTINCT value FROM jsonb_array_elements_text(ch.assignees::jsonb)) AS j
        WHERE ch.unrep <> 0 AND ch.assignees <> '[]'
        UNION ALL
        SELECT 't', j.value, ch.visible_to, ch.inbox, ch.sh, 0, ch.unrep, 0
        FROM ch, LATERAL (SELECT DISTINCT value FROM jsonb_array_elements_text(ch.topics::jsonb)) AS j
        WHERE ch.unrep <> 0 AND ch.topics <> '[]'
        UNION ALL
        SELECT 'i', '', ch.visible_to, ch.inbox, ch.sh, ch.i_n, 0, ch.i_inbound
        FROM ch WHERE ch.i_n <> 0 OR ch.i_inbound <> 0
    )
    INSERT INTO conversation_counts AS k (kind, key, visible_to, inbox, shard, n, unreplied, inbound)
    SELECT kind, key, visible_to, inbox, sh, SUM(n), SUM(unreplied), SUM(inbound)
    FROM deltas GROUP BY kind, key, visible_to, inbox, sh
    HAVING SUM(n) <> 0 OR SUM(unreplied) <> 0 OR SUM(inbound) <> 0
    ORDER BY kind, key, visible_to, inbox, sh
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = k.n + excluded.n, unreplied = k.unreplied + excluded.unreplied,
        inbound = k.inbound + excluded.inbound;
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION conversation_counts_updated() RETURNS trigger AS $$
DECLARE
    olds conversations[];
    news conversations[];
BEGIN
    SELECT array_agg(o::conversations), array_agg(n::conversations) INTO olds, news
    FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
    WHERE (o.status, o.assignee, o.assignees, o.topics, o.visible_to, o.inbox, o.handler, o.unreplied, o.first_response_seconds,
        o.resolution_seconds) IS DISTINCT FROM (n.status, n.assignee, n.assignees, n.topics, n.visible_to, n.inbox,
        n.handler, n.unreplied, n.first_response_seconds, n.resolution_seconds);
    IF olds IS NOT NULL THEN
        PERFORM conversation_counts_apply(olds, news);
    END IF;
    INSERT INTO conversation_counts AS k (kind, key, visible_to, inbox, shard, n, inbound)
    SELECT 'i', '', n.visible_to, n.inbox, abs(hashtext(n.id)) % 8,
        SUM((CASE WHEN n.inbound_count > 0 THEN 1 ELSE 0 END) - (CASE WHEN o.inbound_count > 0 THEN 1 ELSE 0 END)),
        SUM(n.inbound_count - o.inbound_count)
    FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
    WHERE n.status <> 'closed' AND o.inbound_count <> n.inbound_count
        AND (o.status, o.assignee, o.assignees, o.topics, o.visible_to, o.inbox, o.handler, o.unreplied, o.first_response_seconds,
        o.resolution_seconds) IS NOT DISTINCT FROM (n.status, n.assignee, n.assignees, n.topics, n.visible_to, n.inbox,
        n.handler, n.unreplied, n.first_response_seconds, n.resolution_seconds)
    GROUP BY 3, 4, 5
    ORDER BY 3, 4, 5
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = k.n + excluded.n, inbound = k.inbound + excluded.inbound;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
