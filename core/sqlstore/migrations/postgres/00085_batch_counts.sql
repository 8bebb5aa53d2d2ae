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
-- (2) Below: a customer message's changes of its conversation, and new
-- conversations, are counted directly.
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

-- +goose StatementBegin
-- conversation_counts_inserted counts the inserted conversations straight
-- from the statement's rows (conversation_counts_apply's sums, without
-- making arrays of the rows and unnesting them again).
CREATE OR REPLACE FUNCTION conversation_counts_inserted() RETURNS trigger AS $$
BEGIN
    WITH ch AS (
        SELECT n.*, 1 AS d FROM new_rows AS n
    ), r AS (
        SELECT ch.*, CASE WHEN ch.status <> 'closed' THEN 1 ELSE 0 END AS active,
            CASE WHEN ch.status <> 'closed' AND ch.handler = 'human' THEN ch.unreplied ELSE 0 END AS unrep,
            abs(hashtext(ch.id)) % 8 AS sh
        FROM ch
    ), deltas AS (
        SELECT 's' AS kind, r.status AS key, r.visible_to, r.inbox, r.sh, r.d AS n, 0 AS closed,
            CASE WHEN r.active = 1 AND r.assignee = '' THEN r.d ELSE 0 END AS unassigned, r.d * r.unrep AS unreplied,
            r.d * COALESCE(r.first_response_seconds, 0) AS fr_sum, CASE WHEN r.first_response_seconds IS NULL THEN 0 ELSE r.d END AS fr_n,
            r.d * COALESCE(r.resolution_seconds, 0) AS res_sum, CASE WHEN r.resolution_seconds IS NULL THEN 0 ELSE r.d END AS res_n,
            0 AS inbound
        FROM r
        UNION ALL
        SELECT 'a', a.value, a.visible_to, a.inbox, a.sh, a.d, 0, 0, a.d * a.unrep, 0, 0, 0, 0, 0
        FROM (SELECT DISTINCT r.id, r.d, j.value, r.visible_to, r.inbox, r.sh, r.unrep
            FROM r, jsonb_array_elements_text(r.assignees::jsonb) AS j(value) WHERE r.active = 1 AND r.assignees <> '[]') AS a
        UNION ALL
        SELECT 't', t.value, t.visible_to, t.inbox, t.sh, t.d * t.active, t.d * (1 - t.active), 0, t.d * t.unrep, 0, 0, 0, 0, 0
        FROM (SELECT DISTINCT r.id, r.d, j.value, r.visible_to, r.inbox, r.sh, r.unrep, r.active
            FROM r, jsonb_array_elements_text(r.topics::jsonb) AS j(value) WHERE r.topics <> '[]') AS t
        UNION ALL
        SELECT 'i', '', r.visible_to, r.inbox, r.sh, CASE WHEN r.inbound_count > 0 THEN r.d ELSE 0 END, 0, 0, 0, 0, 0, 0, 0,
            r.d * r.inbound_count
        FROM r WHERE r.active = 1
    )
    INSERT INTO conversation_counts AS k (kind, key, visible_to, inbox, shard, n, closed, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n, inbound)
    SELECT kind, key, visible_to, inbox, sh, SUM(n), SUM(closed), SUM(unassigned), SUM(unreplied), SUM(fr_sum), SUM(fr_n),
        SUM(res_sum), SUM(res_n), SUM(inbound)
    FROM deltas GROUP BY kind, key, visible_to, inbox, sh
    HAVING SUM(n) <> 0 OR SUM(closed) <> 0 OR SUM(unassigned) <> 0 OR SUM(unreplied) <> 0 OR SUM(fr_sum) <> 0
        OR SUM(fr_n) <> 0 OR SUM(res_sum) <> 0 OR SUM(res_n) <> 0 OR SUM(inbound) <> 0
    ORDER BY kind, key, visible_to, inbox, sh
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = k.n + excluded.n, closed = k.closed + excluded.closed,
        unassigned = k.unassigned + excluded.unassigned, unreplied = k.unreplied + excluded.unreplied,
        fr_sum = k.fr_sum + excluded.fr_sum, fr_n = k.fr_n + excluded.fr_n, res_sum = k.res_sum + excluded.res_sum,
        res_n = k.res_n + excluded.res_n, inbound = k.inbound + excluded.inbound;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose StatementBegin
-- conversation_counts_apply takes the conversations olds out of the counts
-- and adds news to them; the lists of assignees and topics are read only
-- when they are not empty (reading '[]' as JSON cost most of its time).
CREATE OR REPLACE FUNCTION conversation_counts_apply(olds conversations[], news conversations[]) RETURNS void AS $$
BEGIN
    WITH ch AS (
        SELECT (u.c).*, u.d FROM (SELECT o AS c, -1 AS d FROM unnest(olds) AS o UNION ALL SELECT n, 1 FROM unnest(news) AS n) AS u
    ), r AS (
        SELECT ch.*, CASE WHEN ch.status <> 'closed' THEN 1 ELSE 0 END AS active,
            CASE WHEN ch.status <> 'closed' AND ch.handler = 'human' THEN ch.unreplied ELSE 0 END AS unrep,
            abs(hashtext(ch.id)) % 8 AS sh
        FROM ch
    ), deltas AS (
        SELECT 's' AS kind, r.status AS key, r.visible_to, r.inbox, r.sh, r.d AS n, 0 AS closed,
            CASE WHEN r.active = 1 AND r.assignee = '' THEN r.d ELSE 0 END AS unassigned, r.d * r.unrep AS unreplied,
            r.d * COALESCE(r.first_response_seconds, 0) AS fr_sum, CASE WHEN r.first_response_seconds IS NULL THEN 0 ELSE r.d END AS fr_n,
            r.d * COALESCE(r.resolution_seconds, 0) AS res_sum, CASE WHEN r.resolution_seconds IS NULL THEN 0 ELSE r.d END AS res_n,
            0 AS inbound
        FROM r
        UNION ALL
        SELECT 'a', a.value, a.visible_to, a.inbox, a.sh, a.d, 0, 0, a.d * a.unrep, 0, 0, 0, 0, 0
        FROM (SELECT DISTINCT r.id, r.d, j.value, r.visible_to, r.inbox, r.sh, r.unrep
            FROM r, jsonb_array_elements_text(r.assignees::jsonb) AS j(value) WHERE r.active = 1 AND r.assignees <> '[]') AS a
        UNION ALL
        SELECT 't', t.value, t.visible_to, t.inbox, t.sh, t.d * t.active, t.d * (1 - t.active), 0, t.d * t.unrep, 0, 0, 0, 0, 0
        FROM (SELECT DISTINCT r.id, r.d, j.value, r.visible_to, r.inbox, r.sh, r.unrep, r.active
            FROM r, jsonb_array_elements_text(r.topics::jsonb) AS j(value) WHERE r.topics <> '[]') AS t
        UNION ALL
        SELECT 'i', '', r.visible_to, r.inbox, r.sh, CASE WHEN r.inbound_count > 0 THEN r.d ELSE 0 END, 0, 0, 0, 0, 0, 0, 0,
            r.d * r.inbound_count
        FROM r WHERE r.active = 1
    )
    INSERT INTO conversation_counts AS k (kind, key, visible_to, inbox, shard, n, closed, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n, inbound)
    SELECT kind, key, visible_to, inbox, sh, SUM(n), SUM(closed), SUM(unassigned), SUM(unreplied), SUM(fr_sum), SUM(fr_n),
        SUM(res_sum), SUM(res_n), SUM(inbound)
    FROM deltas GROUP BY kind, key, visible_to, inbox, sh
    HAVING SUM(n) <> 0 OR SUM(closed) <> 0 OR SUM(unassigned) <> 0 OR SUM(unreplied) <> 0 OR SUM(fr_sum) <> 0
        OR SUM(fr_n) <> 0 OR SUM(res_sum) <> 0 OR SUM(res_n) <> 0 OR SUM(inbound) <> 0
    ORDER BY kind, key, visible_to, inbox, sh
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = k.n + excluded.n, closed = k.closed + excluded.closed,
        unassigned = k.unassigned + excluded.unassigned, unreplied = k.unreplied + excluded.unreplied,
        fr_sum = k.fr_sum + excluded.fr_sum, fr_n = k.fr_n + excluded.fr_n, res_sum = k.res_sum + excluded.res_sum,
        res_n = k.res_n + excluded.res_n, inbound = k.inbound + excluded.inbound;
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION conversation_counts_inserted() RETURNS trigger AS $$
BEGIN
    PERFORM conversation_counts_apply(NULL, (SELECT array_agg(n::conversations) FROM new_rows AS n));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose StatementBegin
-- conversation_counts_apply takes the conversations olds out of the counts
-- and adds news to them.
CREATE OR REPLACE FUNCTION conversation_counts_apply(olds conversations[], news conversations[]) RETURNS void AS $$
BEGIN
    WITH ch AS (
        SELECT (u.c).*, u.d FROM (SELECT o AS c, -1 AS d FROM unnest(olds) AS o UNION ALL SELECT n, 1 FROM unnest(news) AS n) AS u
    ), r AS (
        SELECT ch.*, CASE WHEN ch.status <> 'closed' THEN 1 ELSE 0 END AS active,
            CASE WHEN ch.status <> 'closed' AND ch.handler = 'human' THEN ch.unreplied ELSE 0 END AS unrep,
            abs(hashtext(ch.id)) % 8 AS sh
        FROM ch
    ), deltas AS (
        SELECT 's' AS kind, r.status AS key, r.visible_to, r.inbox, r.sh, r.d AS n, 0 AS closed,
            CASE WHEN r.active = 1 AND r.assignee = '' THEN r.d ELSE 0 END AS unassigned, r.d * r.unrep AS unreplied,
            r.d * COALESCE(r.first_response_seconds, 0) AS fr_sum, CASE WHEN r.first_response_seconds IS NULL THEN 0 ELSE r.d END AS fr_n,
            r.d * COALESCE(r.resolution_seconds, 0) AS res_sum, CASE WHEN r.resolution_seconds IS NULL THEN 0 ELSE r.d END AS res_n,
            0 AS inbound
        FROM r
        UNION ALL
        SELECT 'a', a.value, a.visible_to, a.inbox, a.sh, a.d, 0, 0, a.d * a.unrep, 0, 0, 0, 0, 0
        FROM (SELECT DISTINCT r.id, r.d, j.value, r.visible_to, r.inbox, r.sh, r.unrep
            FROM r, jsonb_array_elements_text(r.assignees::jsonb) AS j(value) WHERE r.active = 1) AS a
        UNION ALL
        SELECT 't', t.value, t.visible_to, t.inbox, t.sh, t.d * t.active, t.d * (1 - t.active), 0, t.d * t.unrep, 0, 0, 0, 0, 0
        FROM (SELECT DISTINCT r.id, r.d, j.value, r.visible_to, r.inbox, r.sh, r.unrep, r.active
            FROM r, jsonb_array_elements_text(r.topics::jsonb) AS j(value)) AS t
        UNION ALL
        SELECT 'i', '', r.visible_to, r.inbox, r.sh, CASE WHEN r.inbound_count > 0 THEN r.d ELSE 0 END, 0, 0, 0, 0, 0, 0, 0,
            r.d * r.inbound_count
        FROM r WHERE r.active = 1
    )
    INSERT INTO conversation_counts AS k (kind, key, visible_to, inbox, shard, n, closed, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n, inbound)
    SELECT kind, key, visible_to, inbox, sh, SUM(n), SUM(closed), SUM(unassigned), SUM(unreplied), SUM(fr_sum), SUM(fr_n),
        SUM(res_sum), SUM(res_n), SUM(inbound)
    FROM deltas GROUP BY kind, key, visible_to, inbox, sh
    HAVING SUM(n) <> 0 OR SUM(closed) <> 0 OR SUM(unassigned) <> 0 OR SUM(unreplied) <> 0 OR SUM(fr_sum) <> 0
        OR SUM(fr_n) <> 0 OR SUM(res_sum) <> 0 OR SUM(res_n) <> 0 OR SUM(inbound) <> 0
    ORDER BY kind, key, visible_to, inbox, sh
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = k.n + excluded.n, closed = k.closed + excluded.closed,
        unassigned = k.unassigned + excluded.unassigned, unreplied = k.unreplied + excluded.unreplied,
        fr_sum = k.fr_sum + excluded.fr_sum, fr_n = k.fr_n + excluded.fr_n, res_sum = k.res_sum + excluded.res_sum,
        res_n = k.res_n + excluded.res_n, inbound = k.inbound + excluded.inbound;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
