-- +goose Up
-- The running counts of conversations (00072, 00074) are kept once per
-- statement instead of once per row: a batch that updates 500
-- conversations (each customer message changes `unreplied`) now adds its
-- deltas up and writes each counts row once, in key order, where a row
-- trigger wrote up to six counts rows per conversation. The figures are
-- the same.
DROP TRIGGER conversation_counts_update ON conversations;
DROP TRIGGER conversation_counts_rows ON conversations;
DROP TRIGGER conversation_inbound_update ON conversations;
DROP TRIGGER conversation_inbound_rows ON conversations;
DROP FUNCTION conversation_counts_trigger();
DROP FUNCTION conversation_counts_add(conversations, INTEGER);
DROP FUNCTION conversation_inbound_trigger();
DROP FUNCTION conversation_inbound_add(conversations, INTEGER);

-- +goose StatementBegin
-- conversation_counts_apply takes the conversations olds out of the counts
-- and adds news to them.
CREATE FUNCTION conversation_counts_apply(olds conversations[], news conversations[]) RETURNS void AS $$
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
CREATE FUNCTION conversation_counts_inserted() RETURNS trigger AS $$
BEGIN
    PERFORM conversation_counts_apply(NULL, (SELECT array_agg(n::conversations) FROM new_rows AS n));
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION conversation_counts_deleted() RETURNS trigger AS $$
BEGIN
    PERFORM conversation_counts_apply((SELECT array_agg(o::conversations) FROM old_rows AS o), NULL);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose StatementBegin
-- conversation_counts_updated counts only the conversations whose counted
-- columns changed (most changes, such as the last activity, leave them).
CREATE FUNCTION conversation_counts_updated() RETURNS trigger AS $$
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

CREATE TRIGGER conversation_counts_insert AFTER INSERT ON conversations REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION conversation_counts_inserted();
CREATE TRIGGER conversation_counts_delete AFTER DELETE ON conversations REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION conversation_counts_deleted();
CREATE TRIGGER conversation_counts_update AFTER UPDATE ON conversations REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION conversation_counts_updated();

-- A customer message changes its conversation twice (its inbound count,
-- then its activity); room on each page lets the first be a heap-only
-- update, which writes no index.
ALTER TABLE conversations SET (fillfactor = 80);

-- +goose StatementBegin
-- inbound_add changes conversations' inbound counts; the update trigger
-- counts them.
CREATE OR REPLACE FUNCTION inbound_add(conv_ids TEXT[], deltas BIGINT[]) RETURNS void AS $$
BEGIN
    UPDATE conversations c SET inbound_count = c.inbound_count + m.delta
    FROM unnest(conv_ids, deltas) AS m(conv_id, delta) WHERE c.id = m.conv_id;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE conversations RESET (fillfactor);
DROP TRIGGER conversation_counts_update ON conversations;
DROP TRIGGER conversation_counts_delete ON conversations;
DROP TRIGGER conversation_counts_insert ON conversations;
DROP FUNCTION conversation_counts_updated();
DROP FUNCTION conversation_counts_deleted();
DROP FUNCTION conversation_counts_inserted();
DROP FUNCTION conversation_counts_apply(conversations[], conversations[]);

-- +goose StatementBegin
-- conversation_counts_add adds conversation c to the counts d times (1 or -1).
CREATE FUNCTION conversation_counts_add(c conversations, d INTEGER) RETURNS void AS $$
DECLARE
    active INTEGER := CASE WHEN c.status <> 'closed' THEN 1 ELSE 0 END;
    unrep BIGINT := CASE WHEN c.status <> 'closed' AND c.handler = 'human' THEN c.unreplied ELSE 0 END;
    sh INTEGER := abs(hashtext(c.id)) % 8;
BEGIN
    INSERT INTO conversation_counts AS k (kind, key, visible_to, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
    VALUES ('s', c.status, c.visible_to, sh, d, CASE WHEN active = 1 AND c.assignee = '' THEN d ELSE 0 END, d * unrep,
        d * COALESCE(c.first_response_seconds, 0), CASE WHEN c.first_response_seconds IS NULL THEN 0 ELSE d END,
        d * COALESCE(c.resolution_seconds, 0), CASE WHEN c.resolution_seconds IS NULL THEN 0 ELSE d END)
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = k.n + excluded.n, unassigned = k.unassigned + excluded.unassigned,
        unreplied = k.unreplied + excluded.unreplied, fr_sum = k.fr_sum + excluded.fr_sum, fr_n = k.fr_n + excluded.fr_n,
        res_sum = k.res_sum + excluded.res_sum, res_n = k.res_n + excluded.res_n;
    IF active = 1 THEN
        INSERT INTO conversation_counts AS k (kind, key, visible_to, shard, n, unreplied)
        SELECT DISTINCT 'a', j.value, c.visible_to, sh, d, d * unrep FROM jsonb_array_elements_text(c.assignees::jsonb) AS j(value)
        ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = k.n + excluded.n, unreplied = k.unreplied + excluded.unreplied;
    END IF;
    INSERT INTO conversation_counts AS k (kind, key, visible_to, shard, n, closed, unreplied)
    SELECT DISTINCT 't', j.value, c.visible_to, sh, d * active, d * (1 - active), d * unrep FROM jsonb_array_elements_text(c.topics::jsonb) AS j(value)
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = k.n + excluded.n, closed = k.closed + excluded.closed,
        unreplied = k.unreplied + excluded.unreplied;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION conversation_counts_trigger() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM conversation_counts_add(OLD, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM conversation_counts_add(NEW, 1);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
-- +goose StatementEnd

CREATE TRIGGER conversation_counts_rows AFTER INSERT OR DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversation_counts_trigger();
-- Most changes of a conversation (its last activity, its message count)
-- leave the counts as they are.
CREATE TRIGGER conversation_counts_update AFTER UPDATE ON conversations FOR EACH ROW
    WHEN ((OLD.status, OLD.assignee, OLD.assignees, OLD.topics, OLD.visible_to, OLD.handler, OLD.unreplied,
        OLD.first_response_seconds, OLD.resolution_seconds) IS DISTINCT FROM (NEW.status, NEW.assignee, NEW.assignees,
        NEW.topics, NEW.visible_to, NEW.handler, NEW.unreplied, NEW.first_response_seconds, NEW.resolution_seconds))
    EXECUTE FUNCTION conversation_counts_trigger();

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

-- +goose StatementBegin
-- inbound_add adds deltas[i] customer messages to conversation conv_ids[i]
-- (a negative delta takes them away), and to the 'i' counts of the active
-- ones: the conversations' rows change here, so that the trigger of
-- conversations runs only as a conversation closes, reopens or changes
-- visible_to.
CREATE OR REPLACE FUNCTION inbound_add(conv_ids TEXT[], deltas BIGINT[]) RETURNS void AS $$
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
