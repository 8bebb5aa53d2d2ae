-- +goose Up
-- The running counts of conversations are kept per inbox too, so that
-- GET /v1/stats?inbox= reads them like the figures of every inbox (a
-- viewer, or an inbox, sums the rows it is given). The counts are made
-- again from the conversations.
DELETE FROM conversation_counts;
ALTER TABLE conversation_counts ADD COLUMN inbox TEXT NOT NULL DEFAULT '';
ALTER TABLE conversation_counts DROP CONSTRAINT conversation_counts_pkey;
ALTER TABLE conversation_counts ADD PRIMARY KEY (kind, key, visible_to, inbox, shard);

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

-- +goose StatementBegin
-- conversation_counts_updated counts only the conversations whose counted
-- columns changed (most changes, such as the last activity, leave them).
CREATE OR REPLACE FUNCTION conversation_counts_updated() RETURNS trigger AS $$
DECLARE
    olds conversations[];
    news conversations[];
BEGIN
    SELECT array_agg(o::conversations), array_agg(n::conversations) INTO olds, news
    FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
    WHERE (o.status, o.assignee, o.assignees, o.topics, o.visible_to, o.inbox, o.handler, o.unreplied, o.first_response_seconds,
        o.resolution_seconds, o.inbound_count) IS DISTINCT FROM (n.status, n.assignee, n.assignees, n.topics, n.visible_to, n.inbox,
        n.handler, n.unreplied, n.first_response_seconds, n.resolution_seconds, n.inbound_count);
    IF olds IS NOT NULL THEN
        PERFORM conversation_counts_apply(olds, news);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
SELECT 's', status, visible_to, inbox, abs(hashtext(id)) % 8, COUNT(*), SUM(CASE WHEN status <> 'closed' AND assignee = '' THEN 1 ELSE 0 END),
    SUM(CASE WHEN status <> 'closed' AND handler = 'human' THEN unreplied ELSE 0 END),
    COALESCE(SUM(first_response_seconds), 0), COUNT(first_response_seconds), COALESCE(SUM(resolution_seconds), 0), COUNT(resolution_seconds)
FROM conversations GROUP BY 2, 3, 4, 5;
INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unreplied)
SELECT 'a', j.value, c.visible_to, c.inbox, abs(hashtext(c.id)) % 8, COUNT(DISTINCT c.id), SUM(CASE WHEN c.handler = 'human' THEN c.unreplied ELSE 0 END)
FROM conversations c, jsonb_array_elements_text(c.assignees::jsonb) AS j(value) WHERE c.status <> 'closed' GROUP BY 2, 3, 4, 5;
INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, closed, unreplied)
SELECT 't', j.value, c.visible_to, c.inbox, abs(hashtext(c.id)) % 8, SUM(CASE WHEN c.status <> 'closed' THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.status = 'closed' THEN 1 ELSE 0 END), SUM(CASE WHEN c.status <> 'closed' AND c.handler = 'human' THEN c.unreplied ELSE 0 END)
FROM conversations c, jsonb_array_elements_text(c.topics::jsonb) AS j(value) GROUP BY 2, 3, 4, 5;
INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, inbound)
SELECT 'i', '', visible_to, inbox, abs(hashtext(id)) % 8, SUM(CASE WHEN inbound_count > 0 THEN 1 ELSE 0 END), SUM(inbound_count)
FROM conversations WHERE status <> 'closed' GROUP BY 3, 4, 5;

-- +goose Down
DELETE FROM conversation_counts;
ALTER TABLE conversation_counts DROP CONSTRAINT conversation_counts_pkey;
ALTER TABLE conversation_counts DROP COLUMN inbox;
ALTER TABLE conversation_counts ADD PRIMARY KEY (kind, key, visible_to, shard);

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
        SELECT 's' AS kind, r.status AS key, r.visible_to, r.sh, r.d AS n, 0 AS closed,
            CASE WHEN r.active = 1 AND r.assignee = '' THEN r.d ELSE 0 END AS unassigned, r.d * r.unrep AS unreplied,
            r.d * COALESCE(r.first_response_seconds, 0) AS fr_sum, CASE WHEN r.first_response_seconds IS NULL THEN 0 ELSE r.d END AS fr_n,
            r.d * COALESCE(r.resolution_seconds, 0) AS res_sum, CASE WHEN r.resolution_seconds IS NULL THEN 0 ELSE r.d END AS res_n,
            0 AS inbound
        FROM r
        UNION ALL
        SELECT 'a', a.value, a.visible_to, a.sh, a.d, 0, 0, a.d * a.unrep, 0, 0, 0, 0, 0
        FROM (SELECT DISTINCT r.id, r.d, j.value, r.visible_to, r.sh, r.unrep
            FROM r, jsonb_array_elements_text(r.assignees::jsonb) AS j(value) WHERE r.active = 1) AS a
        UNION ALL
        SELECT 't', t.value, t.visible_to, t.sh, t.d * t.active, t.d * (1 - t.active), 0, t.d * t.unrep, 0, 0, 0, 0, 0
        FROM (SELECT DISTINCT r.id, r.d, j.value, r.visible_to, r.sh, r.unrep, r.active
            FROM r, jsonb_array_elements_text(r.topics::jsonb) AS j(value)) AS t
        UNION ALL
        SELECT 'i', '', r.visible_to, r.sh, CASE WHEN r.inbound_count > 0 THEN r.d ELSE 0 END, 0, 0, 0, 0, 0, 0, 0,
            r.d * r.inbound_count
        FROM r WHERE r.active = 1
    )
    INSERT INTO conversation_counts AS k (kind, key, visible_to, shard, n, closed, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n, inbound)
    SELECT kind, key, visible_to, sh, SUM(n), SUM(closed), SUM(unassigned), SUM(unreplied), SUM(fr_sum), SUM(fr_n),
        SUM(res_sum), SUM(res_n), SUM(inbound)
    FROM deltas GROUP BY kind, key, visible_to, sh
    HAVING SUM(n) <> 0 OR SUM(closed) <> 0 OR SUM(unassigned) <> 0 OR SUM(unreplied) <> 0 OR SUM(fr_sum) <> 0
        OR SUM(fr_n) <> 0 OR SUM(res_sum) <> 0 OR SUM(res_n) <> 0 OR SUM(inbound) <> 0
    ORDER BY kind, key, visible_to, sh
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = k.n + excluded.n, closed = k.closed + excluded.closed,
        unassigned = k.unassigned + excluded.unassigned, unreplied = k.unreplied + excluded.unreplied,
        fr_sum = k.fr_sum + excluded.fr_sum, fr_n = k.fr_n + excluded.fr_n, res_sum = k.res_sum + excluded.res_sum,
        res_n = k.res_n + excluded.res_n, inbound = k.inbound + excluded.inbound;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose StatementBegin
-- conversation_counts_updated counts only the conversations whose counted
-- columns changed (most changes, such as the last activity, leave them).
CREATE OR REPLACE FUNCTION conversation_counts_updated() RETURNS trigger AS $$
DECLARE
    olds conversations[];
    news conversations[];
BEGIN
    SELECT array_agg(o::conversations), array_agg(n::conversations) INTO olds, news
    FROM old_rows AS o JOIN new_rows AS n ON n.id = o.id
    WHERE (o.status, o.assignee, o.assignees, o.topics, o.visible_to, o.handler, o.unreplied, o.first_response_seconds,
        o.resolution_seconds, o.inbound_count) IS DISTINCT FROM (n.status, n.assignee, n.assignees, n.topics, n.visible_to,
        n.handler, n.unreplied, n.first_response_seconds, n.resolution_seconds, n.inbound_count);
    IF olds IS NOT NULL THEN
        PERFORM conversation_counts_apply(olds, news);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
SELECT 's', status, visible_to, abs(hashtext(id)) % 8, COUNT(*), SUM(CASE WHEN status <> 'closed' AND assignee = '' THEN 1 ELSE 0 END),
    SUM(CASE WHEN status <> 'closed' AND handler = 'human' THEN unreplied ELSE 0 END),
    COALESCE(SUM(first_response_seconds), 0), COUNT(first_response_seconds), COALESCE(SUM(resolution_seconds), 0), COUNT(resolution_seconds)
FROM conversations GROUP BY 2, 3, 4;
INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unreplied)
SELECT 'a', j.value, c.visible_to, abs(hashtext(c.id)) % 8, COUNT(DISTINCT c.id), SUM(CASE WHEN c.handler = 'human' THEN c.unreplied ELSE 0 END)
FROM conversations c, jsonb_array_elements_text(c.assignees::jsonb) AS j(value) WHERE c.status <> 'closed' GROUP BY 2, 3, 4;
INSERT INTO conversation_counts (kind, key, visible_to, shard, n, closed, unreplied)
SELECT 't', j.value, c.visible_to, abs(hashtext(c.id)) % 8, SUM(CASE WHEN c.status <> 'closed' THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.status = 'closed' THEN 1 ELSE 0 END), SUM(CASE WHEN c.status <> 'closed' AND c.handler = 'human' THEN c.unreplied ELSE 0 END)
FROM conversations c, jsonb_array_elements_text(c.topics::jsonb) AS j(value) GROUP BY 2, 3, 4;
INSERT INTO conversation_counts (kind, key, visible_to, shard, n, inbound)
SELECT 'i', '', visible_to, abs(hashtext(id)) % 8, SUM(CASE WHEN inbound_count > 0 THEN 1 ELSE 0 END), SUM(inbound_count)
FROM conversations WHERE status <> 'closed' GROUP BY 3, 4;
