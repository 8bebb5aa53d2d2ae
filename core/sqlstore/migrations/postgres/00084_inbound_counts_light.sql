-- +goose Up
-- A message's insert changes its conversation's inbound count alone
-- (00074); its counts row of kind 'i' is now adjusted directly from the
-- statement's old and new rows, instead of taking the whole conversation
-- out of every count and adding it back (00079, 00080), which did the same
-- at many times the work for each message of a batch.
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

-- +goose Down
-- +goose StatementBegin
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
