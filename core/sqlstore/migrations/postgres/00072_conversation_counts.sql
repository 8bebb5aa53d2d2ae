-- +goose Up
-- Running counts of conversations, so that GET /v1/stats reads a small
-- table instead of counting a year of conversations. A trigger keeps them
-- in the same transaction as each change of a conversation. Rows are kept
-- per visible_to (a viewer sums the rows of the lists it sees) and per
-- shard (a hash of the conversation id, so that concurrent transactions
-- seldom wait on one row); a figure is the sum over the rows:
--   kind 's', key status: n conversations; unassigned active ones;
--     unreplied of active human-handled ones; the sums and counts of
--     first_response_seconds and resolution_seconds.
--   kind 'a', key agent: n active conversations the agent is an assignee
--     of; unreplied of those a human handles.
--   kind 't', key topic: n active and closed conversations with the
--     topic; unreplied of the active human-handled ones.
CREATE TABLE conversation_counts (
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    visible_to TEXT NOT NULL,
    shard      INTEGER NOT NULL,
    n          BIGINT NOT NULL DEFAULT 0,
    closed     BIGINT NOT NULL DEFAULT 0,
    unassigned BIGINT NOT NULL DEFAULT 0,
    unreplied  BIGINT NOT NULL DEFAULT 0,
    fr_sum     DOUBLE PRECISION NOT NULL DEFAULT 0,
    fr_n       BIGINT NOT NULL DEFAULT 0,
    res_sum    DOUBLE PRECISION NOT NULL DEFAULT 0,
    res_n      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key, visible_to, shard)
);

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

-- The counts of the conversations already there, grouped (a year of them
-- one by one would be slow).
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

-- +goose Down
DROP TRIGGER conversation_counts_update ON conversations;
DROP TRIGGER conversation_counts_rows ON conversations;
DROP FUNCTION conversation_counts_trigger();
DROP FUNCTION conversation_counts_add(conversations, INTEGER);
DROP TABLE conversation_counts;
