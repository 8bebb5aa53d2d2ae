-- +goose Up
-- The conversation list's filters, each with an index in its order
-- (newest activity first), so that a page is a seek however many
-- conversations a year leaves: ?status=, ?assignee= (the assignee, the
-- first of the assignees; and the seldom conversations with several
-- assignees), ?unassigned=true, ?unreplied=true.
CREATE INDEX conversations_status_activity ON conversations (status, last_activity_at, id);
CREATE INDEX conversations_assignee_activity ON conversations (assignee, last_activity_at, id);
CREATE INDEX conversations_multi_assigned ON conversations (last_activity_at, id) WHERE assignees LIKE '%,%';
CREATE INDEX conversations_multi_assigned_status ON conversations (status, last_activity_at, id) WHERE assignees LIKE '%,%';
CREATE INDEX conversations_unreplied ON conversations (last_activity_at, id)
    WHERE unreplied > 0 AND handler = 'human' AND status <> 'closed';

-- +goose Down
DROP INDEX conversations_unreplied;
DROP INDEX conversations_multi_assigned_status;
DROP INDEX conversations_multi_assigned;
DROP INDEX conversations_assignee_activity;
DROP INDEX conversations_status_activity;
