-- +goose Up
-- The running counts of conversations are kept per inbox too, so that
-- GET /v1/stats?inbox= reads them like the figures of every inbox (a
-- viewer, or an inbox, sums the rows it is given). The counts are made
-- again from the conversations.
DROP TRIGGER conversation_counts_update;
DROP TRIGGER conversation_counts_delete;
DROP TRIGGER conversation_counts_insert;
DROP TRIGGER conversation_inbound_update;
DROP TRIGGER conversation_inbound_delete;
DROP TRIGGER conversation_inbound_insert;
DROP TABLE conversation_counts;
CREATE TABLE conversation_counts (
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    visible_to TEXT NOT NULL,
    inbox      TEXT NOT NULL,
    shard      INTEGER NOT NULL,
    n          INTEGER NOT NULL DEFAULT 0,
    closed     INTEGER NOT NULL DEFAULT 0,
    unassigned INTEGER NOT NULL DEFAULT 0,
    unreplied  INTEGER NOT NULL DEFAULT 0,
    fr_sum     REAL NOT NULL DEFAULT 0,
    fr_n       INTEGER NOT NULL DEFAULT 0,
    res_sum    REAL NOT NULL DEFAULT 0,
    res_n      INTEGER NOT NULL DEFAULT 0,
    inbound    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key, visible_to, inbox, shard)
);

-- +goose StatementBegin
CREATE TRIGGER conversation_counts_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
    VALUES ('s', NEW.status, NEW.visible_to, NEW.inbox, 0, 1, CASE WHEN (NEW.status <> 'closed') AND NEW.assignee = '' THEN 1 ELSE 0 END, 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END),
        1 * COALESCE(NEW.first_response_seconds, 0), CASE WHEN NEW.first_response_seconds IS NULL THEN 0 ELSE 1 END,
        1 * COALESCE(NEW.resolution_seconds, 0), CASE WHEN NEW.resolution_seconds IS NULL THEN 0 ELSE 1 END)
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, unassigned = unassigned + excluded.unassigned,
        unreplied = unreplied + excluded.unreplied, fr_sum = fr_sum + excluded.fr_sum, fr_n = fr_n + excluded.fr_n,
        res_sum = res_sum + excluded.res_sum, res_n = res_n + excluded.res_n;
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unreplied)
    SELECT DISTINCT 'a', j.value, NEW.visible_to, NEW.inbox, 0, 1, 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END) FROM json_each(NEW.assignees) AS j WHERE (NEW.status <> 'closed')
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, unreplied = unreplied + excluded.unreplied;
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, closed, unreplied)
    SELECT DISTINCT 't', j.value, NEW.visible_to, NEW.inbox, 0, 1 * (NEW.status <> 'closed'), 1 * (1 - (NEW.status <> 'closed')), 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END) FROM json_each(NEW.topics) AS j WHERE true
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, closed = closed + excluded.closed,
        unreplied = unreplied + excluded.unreplied;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER conversation_counts_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
    VALUES ('s', OLD.status, OLD.visible_to, OLD.inbox, 0, -1, CASE WHEN (OLD.status <> 'closed') AND OLD.assignee = '' THEN -1 ELSE 0 END, -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END),
        -1 * COALESCE(OLD.first_response_seconds, 0), CASE WHEN OLD.first_response_seconds IS NULL THEN 0 ELSE -1 END,
        -1 * COALESCE(OLD.resolution_seconds, 0), CASE WHEN OLD.resolution_seconds IS NULL THEN 0 ELSE -1 END)
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, unassigned = unassigned + excluded.unassigned,
        unreplied = unreplied + excluded.unreplied, fr_sum = fr_sum + excluded.fr_sum, fr_n = fr_n + excluded.fr_n,
        res_sum = res_sum + excluded.res_sum, res_n = res_n + excluded.res_n;
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unreplied)
    SELECT DISTINCT 'a', j.value, OLD.visible_to, OLD.inbox, 0, -1, -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END) FROM json_each(OLD.assignees) AS j WHERE (OLD.status <> 'closed')
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, unreplied = unreplied + excluded.unreplied;
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, closed, unreplied)
    SELECT DISTINCT 't', j.value, OLD.visible_to, OLD.inbox, 0, -1 * (OLD.status <> 'closed'), -1 * (1 - (OLD.status <> 'closed')), -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END) FROM json_each(OLD.topics) AS j WHERE true
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, closed = closed + excluded.closed,
        unreplied = unreplied + excluded.unreplied;
END;
-- +goose StatementEnd

-- +goose StatementBegin
-- Most changes of a conversation (its last activity, its message count)
-- leave the counts as they are.
CREATE TRIGGER conversation_counts_update AFTER UPDATE ON conversations
    WHEN OLD.status IS NOT NEW.status OR OLD.assignee IS NOT NEW.assignee OR OLD.assignees IS NOT NEW.assignees OR OLD.topics IS NOT NEW.topics OR OLD.visible_to IS NOT NEW.visible_to OR OLD.inbox IS NOT NEW.inbox OR OLD.handler IS NOT NEW.handler OR OLD.unreplied IS NOT NEW.unreplied OR OLD.first_response_seconds IS NOT NEW.first_response_seconds OR OLD.resolution_seconds IS NOT NEW.resolution_seconds BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
    VALUES ('s', OLD.status, OLD.visible_to, OLD.inbox, 0, -1, CASE WHEN (OLD.status <> 'closed') AND OLD.assignee = '' THEN -1 ELSE 0 END, -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END),
        -1 * COALESCE(OLD.first_response_seconds, 0), CASE WHEN OLD.first_response_seconds IS NULL THEN 0 ELSE -1 END,
        -1 * COALESCE(OLD.resolution_seconds, 0), CASE WHEN OLD.resolution_seconds IS NULL THEN 0 ELSE -1 END)
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, unassigned = unassigned + excluded.unassigned,
        unreplied = unreplied + excluded.unreplied, fr_sum = fr_sum + excluded.fr_sum, fr_n = fr_n + excluded.fr_n,
        res_sum = res_sum + excluded.res_sum, res_n = res_n + excluded.res_n;
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unreplied)
    SELECT DISTINCT 'a', j.value, OLD.visible_to, OLD.inbox, 0, -1, -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END) FROM json_each(OLD.assignees) AS j WHERE (OLD.status <> 'closed')
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, unreplied = unreplied + excluded.unreplied;
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, closed, unreplied)
    SELECT DISTINCT 't', j.value, OLD.visible_to, OLD.inbox, 0, -1 * (OLD.status <> 'closed'), -1 * (1 - (OLD.status <> 'closed')), -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END) FROM json_each(OLD.topics) AS j WHERE true
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, closed = closed + excluded.closed,
        unreplied = unreplied + excluded.unreplied;
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
    VALUES ('s', NEW.status, NEW.visible_to, NEW.inbox, 0, 1, CASE WHEN (NEW.status <> 'closed') AND NEW.assignee = '' THEN 1 ELSE 0 END, 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END),
        1 * COALESCE(NEW.first_response_seconds, 0), CASE WHEN NEW.first_response_seconds IS NULL THEN 0 ELSE 1 END,
        1 * COALESCE(NEW.resolution_seconds, 0), CASE WHEN NEW.resolution_seconds IS NULL THEN 0 ELSE 1 END)
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, unassigned = unassigned + excluded.unassigned,
        unreplied = unreplied + excluded.unreplied, fr_sum = fr_sum + excluded.fr_sum, fr_n = fr_n + excluded.fr_n,
        res_sum = res_sum + excluded.res_sum, res_n = res_n + excluded.res_n;
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unreplied)
    SELECT DISTINCT 'a', j.value, NEW.visible_to, NEW.inbox, 0, 1, 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END) FROM json_each(NEW.assignees) AS j WHERE (NEW.status <> 'closed')
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, unreplied = unreplied + excluded.unreplied;
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, closed, unreplied)
    SELECT DISTINCT 't', j.value, NEW.visible_to, NEW.inbox, 0, 1 * (NEW.status <> 'closed'), 1 * (1 - (NEW.status <> 'closed')), 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END) FROM json_each(NEW.topics) AS j WHERE true
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, closed = closed + excluded.closed,
        unreplied = unreplied + excluded.unreplied;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER conversation_inbound_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, inbound)
    SELECT 'i', '', NEW.visible_to, NEW.inbox, 0, CASE WHEN NEW.inbound_count > 0 THEN 1 ELSE 0 END, 1 * NEW.inbound_count WHERE NEW.status <> 'closed'
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, inbound = inbound + excluded.inbound;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER conversation_inbound_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, inbound)
    SELECT 'i', '', OLD.visible_to, OLD.inbox, 0, CASE WHEN OLD.inbound_count > 0 THEN -1 ELSE 0 END, -1 * OLD.inbound_count WHERE OLD.status <> 'closed'
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, inbound = inbound + excluded.inbound;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER conversation_inbound_update AFTER UPDATE ON conversations
    WHEN (OLD.status = 'closed') IS NOT (NEW.status = 'closed') OR OLD.visible_to IS NOT NEW.visible_to OR OLD.inbox IS NOT NEW.inbox OR OLD.inbound_count IS NOT NEW.inbound_count BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, inbound)
    SELECT 'i', '', OLD.visible_to, OLD.inbox, 0, CASE WHEN OLD.inbound_count > 0 THEN -1 ELSE 0 END, -1 * OLD.inbound_count WHERE OLD.status <> 'closed'
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, inbound = inbound + excluded.inbound;
    INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, inbound)
    SELECT 'i', '', NEW.visible_to, NEW.inbox, 0, CASE WHEN NEW.inbound_count > 0 THEN 1 ELSE 0 END, 1 * NEW.inbound_count WHERE NEW.status <> 'closed'
    ON CONFLICT (kind, key, visible_to, inbox, shard) DO UPDATE SET n = n + excluded.n, inbound = inbound + excluded.inbound;
END;
-- +goose StatementEnd

INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
SELECT 's', status, visible_to, inbox, 0, COUNT(*), SUM(CASE WHEN status <> 'closed' AND assignee = '' THEN 1 ELSE 0 END),
    SUM(CASE WHEN status <> 'closed' AND handler = 'human' THEN unreplied ELSE 0 END),
    COALESCE(SUM(first_response_seconds), 0), COUNT(first_response_seconds), COALESCE(SUM(resolution_seconds), 0), COUNT(resolution_seconds)
FROM conversations GROUP BY status, visible_to, inbox;
INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, unreplied)
SELECT 'a', j.value, c.visible_to, c.inbox, 0, COUNT(DISTINCT c.id), SUM(CASE WHEN c.handler = 'human' THEN c.unreplied ELSE 0 END)
FROM conversations c, json_each(c.assignees) AS j WHERE c.status <> 'closed' GROUP BY j.value, c.visible_to, c.inbox;
INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, closed, unreplied)
SELECT 't', j.value, c.visible_to, c.inbox, 0, SUM(CASE WHEN c.status <> 'closed' THEN 1 ELSE 0 END), SUM(CASE WHEN c.status = 'closed' THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.status <> 'closed' AND c.handler = 'human' THEN c.unreplied ELSE 0 END)
FROM conversations c, json_each(c.topics) AS j GROUP BY j.value, c.visible_to, c.inbox;
INSERT INTO conversation_counts (kind, key, visible_to, inbox, shard, n, inbound)
SELECT 'i', '', visible_to, inbox, 0, SUM(CASE WHEN inbound_count > 0 THEN 1 ELSE 0 END), SUM(inbound_count)
FROM conversations WHERE status <> 'closed' GROUP BY visible_to, inbox;

-- +goose Down
DROP TRIGGER conversation_counts_update;
DROP TRIGGER conversation_counts_delete;
DROP TRIGGER conversation_counts_insert;
DROP TRIGGER conversation_inbound_update;
DROP TRIGGER conversation_inbound_delete;
DROP TRIGGER conversation_inbound_insert;
DROP TABLE conversation_counts;
CREATE TABLE conversation_counts (
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    visible_to TEXT NOT NULL,
    shard      INTEGER NOT NULL,
    n          INTEGER NOT NULL DEFAULT 0,
    closed     INTEGER NOT NULL DEFAULT 0,
    unassigned INTEGER NOT NULL DEFAULT 0,
    unreplied  INTEGER NOT NULL DEFAULT 0,
    fr_sum     REAL NOT NULL DEFAULT 0,
    fr_n       INTEGER NOT NULL DEFAULT 0,
    res_sum    REAL NOT NULL DEFAULT 0,
    res_n      INTEGER NOT NULL DEFAULT 0,
    inbound    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key, visible_to, shard)
);

-- +goose StatementBegin
CREATE TRIGGER conversation_counts_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
    VALUES ('s', NEW.status, NEW.visible_to, 0, 1, CASE WHEN (NEW.status <> 'closed') AND NEW.assignee = '' THEN 1 ELSE 0 END, 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END),
        1 * COALESCE(NEW.first_response_seconds, 0), CASE WHEN NEW.first_response_seconds IS NULL THEN 0 ELSE 1 END,
        1 * COALESCE(NEW.resolution_seconds, 0), CASE WHEN NEW.resolution_seconds IS NULL THEN 0 ELSE 1 END)
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, unassigned = unassigned + excluded.unassigned,
        unreplied = unreplied + excluded.unreplied, fr_sum = fr_sum + excluded.fr_sum, fr_n = fr_n + excluded.fr_n,
        res_sum = res_sum + excluded.res_sum, res_n = res_n + excluded.res_n;
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unreplied)
    SELECT DISTINCT 'a', j.value, NEW.visible_to, 0, 1, 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END) FROM json_each(NEW.assignees) AS j WHERE (NEW.status <> 'closed')
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, unreplied = unreplied + excluded.unreplied;
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, closed, unreplied)
    SELECT DISTINCT 't', j.value, NEW.visible_to, 0, 1 * (NEW.status <> 'closed'), 1 * (1 - (NEW.status <> 'closed')), 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END) FROM json_each(NEW.topics) AS j WHERE true
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, closed = closed + excluded.closed,
        unreplied = unreplied + excluded.unreplied;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER conversation_counts_delete AFTER DELETE ON conversations BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
    VALUES ('s', OLD.status, OLD.visible_to, 0, -1, CASE WHEN (OLD.status <> 'closed') AND OLD.assignee = '' THEN -1 ELSE 0 END, -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END),
        -1 * COALESCE(OLD.first_response_seconds, 0), CASE WHEN OLD.first_response_seconds IS NULL THEN 0 ELSE -1 END,
        -1 * COALESCE(OLD.resolution_seconds, 0), CASE WHEN OLD.resolution_seconds IS NULL THEN 0 ELSE -1 END)
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, unassigned = unassigned + excluded.unassigned,
        unreplied = unreplied + excluded.unreplied, fr_sum = fr_sum + excluded.fr_sum, fr_n = fr_n + excluded.fr_n,
        res_sum = res_sum + excluded.res_sum, res_n = res_n + excluded.res_n;
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unreplied)
    SELECT DISTINCT 'a', j.value, OLD.visible_to, 0, -1, -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END) FROM json_each(OLD.assignees) AS j WHERE (OLD.status <> 'closed')
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, unreplied = unreplied + excluded.unreplied;
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, closed, unreplied)
    SELECT DISTINCT 't', j.value, OLD.visible_to, 0, -1 * (OLD.status <> 'closed'), -1 * (1 - (OLD.status <> 'closed')), -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END) FROM json_each(OLD.topics) AS j WHERE true
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, closed = closed + excluded.closed,
        unreplied = unreplied + excluded.unreplied;
END;
-- +goose StatementEnd

-- +goose StatementBegin
-- Most changes of a conversation (its last activity, its message count)
-- leave the counts as they are.
CREATE TRIGGER conversation_counts_update AFTER UPDATE ON conversations
    WHEN OLD.status IS NOT NEW.status OR OLD.assignee IS NOT NEW.assignee OR OLD.assignees IS NOT NEW.assignees OR OLD.topics IS NOT NEW.topics OR OLD.visible_to IS NOT NEW.visible_to OR OLD.handler IS NOT NEW.handler OR OLD.unreplied IS NOT NEW.unreplied OR OLD.first_response_seconds IS NOT NEW.first_response_seconds OR OLD.resolution_seconds IS NOT NEW.resolution_seconds BEGIN
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
    VALUES ('s', OLD.status, OLD.visible_to, 0, -1, CASE WHEN (OLD.status <> 'closed') AND OLD.assignee = '' THEN -1 ELSE 0 END, -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END),
        -1 * COALESCE(OLD.first_response_seconds, 0), CASE WHEN OLD.first_response_seconds IS NULL THEN 0 ELSE -1 END,
        -1 * COALESCE(OLD.resolution_seconds, 0), CASE WHEN OLD.resolution_seconds IS NULL THEN 0 ELSE -1 END)
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, unassigned = unassigned + excluded.unassigned,
        unreplied = unreplied + excluded.unreplied, fr_sum = fr_sum + excluded.fr_sum, fr_n = fr_n + excluded.fr_n,
        res_sum = res_sum + excluded.res_sum, res_n = res_n + excluded.res_n;
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unreplied)
    SELECT DISTINCT 'a', j.value, OLD.visible_to, 0, -1, -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END) FROM json_each(OLD.assignees) AS j WHERE (OLD.status <> 'closed')
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, unreplied = unreplied + excluded.unreplied;
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, closed, unreplied)
    SELECT DISTINCT 't', j.value, OLD.visible_to, 0, -1 * (OLD.status <> 'closed'), -1 * (1 - (OLD.status <> 'closed')), -1 * (CASE WHEN OLD.status <> 'closed' AND OLD.handler = 'human' THEN OLD.unreplied ELSE 0 END) FROM json_each(OLD.topics) AS j WHERE true
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, closed = closed + excluded.closed,
        unreplied = unreplied + excluded.unreplied;
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
    VALUES ('s', NEW.status, NEW.visible_to, 0, 1, CASE WHEN (NEW.status <> 'closed') AND NEW.assignee = '' THEN 1 ELSE 0 END, 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END),
        1 * COALESCE(NEW.first_response_seconds, 0), CASE WHEN NEW.first_response_seconds IS NULL THEN 0 ELSE 1 END,
        1 * COALESCE(NEW.resolution_seconds, 0), CASE WHEN NEW.resolution_seconds IS NULL THEN 0 ELSE 1 END)
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, unassigned = unassigned + excluded.unassigned,
        unreplied = unreplied + excluded.unreplied, fr_sum = fr_sum + excluded.fr_sum, fr_n = fr_n + excluded.fr_n,
        res_sum = res_sum + excluded.res_sum, res_n = res_n + excluded.res_n;
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unreplied)
    SELECT DISTINCT 'a', j.value, NEW.visible_to, 0, 1, 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END) FROM json_each(NEW.assignees) AS j WHERE (NEW.status <> 'closed')
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, unreplied = unreplied + excluded.unreplied;
    INSERT INTO conversation_counts (kind, key, visible_to, shard, n, closed, unreplied)
    SELECT DISTINCT 't', j.value, NEW.visible_to, 0, 1 * (NEW.status <> 'closed'), 1 * (1 - (NEW.status <> 'closed')), 1 * (CASE WHEN NEW.status <> 'closed' AND NEW.handler = 'human' THEN NEW.unreplied ELSE 0 END) FROM json_each(NEW.topics) AS j WHERE true
    ON CONFLICT (kind, key, visible_to, shard) DO UPDATE SET n = n + excluded.n, closed = closed + excluded.closed,
        unreplied = unreplied + excluded.unreplied;
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

INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unassigned, unreplied, fr_sum, fr_n, res_sum, res_n)
SELECT 's', status, visible_to, 0, COUNT(*), SUM(CASE WHEN status <> 'closed' AND assignee = '' THEN 1 ELSE 0 END),
    SUM(CASE WHEN status <> 'closed' AND handler = 'human' THEN unreplied ELSE 0 END),
    COALESCE(SUM(first_response_seconds), 0), COUNT(first_response_seconds), COALESCE(SUM(resolution_seconds), 0), COUNT(resolution_seconds)
FROM conversations GROUP BY status, visible_to;
INSERT INTO conversation_counts (kind, key, visible_to, shard, n, unreplied)
SELECT 'a', j.value, c.visible_to, 0, COUNT(DISTINCT c.id), SUM(CASE WHEN c.handler = 'human' THEN c.unreplied ELSE 0 END)
FROM conversations c, json_each(c.assignees) AS j WHERE c.status <> 'closed' GROUP BY j.value, c.visible_to;
INSERT INTO conversation_counts (kind, key, visible_to, shard, n, closed, unreplied)
SELECT 't', j.value, c.visible_to, 0, SUM(CASE WHEN c.status <> 'closed' THEN 1 ELSE 0 END), SUM(CASE WHEN c.status = 'closed' THEN 1 ELSE 0 END),
    SUM(CASE WHEN c.status <> 'closed' AND c.handler = 'human' THEN c.unreplied ELSE 0 END)
FROM conversations c, json_each(c.topics) AS j GROUP BY j.value, c.visible_to;
INSERT INTO conversation_counts (kind, key, visible_to, shard, n, inbound)
SELECT 'i', '', visible_to, 0, SUM(CASE WHEN inbound_count > 0 THEN 1 ELSE 0 END), SUM(inbound_count)
FROM conversations WHERE status <> 'closed' GROUP BY visible_to;
