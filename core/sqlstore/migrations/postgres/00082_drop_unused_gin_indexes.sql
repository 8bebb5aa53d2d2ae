-- +goose Up
-- Conversations' GIN indexes on assignees and visible_to serve no read any
-- more, and each was written on every change of a conversation's activity:
-- the conversations of several assignees are walked by their partial
-- index (00073), and a viewer's condition (visible_to = '[]' OR it names
-- the viewer) is tested on the rows a list walks (no index can serve the
-- OR), while the figures come from running counts (00072).
DROP INDEX conversations_assignees;
DROP INDEX conversations_visible_to;

-- +goose Down
CREATE INDEX conversations_assignees ON conversations USING GIN ((assignees::jsonb));
CREATE INDEX conversations_visible_to ON conversations USING GIN ((visible_to::jsonb));
