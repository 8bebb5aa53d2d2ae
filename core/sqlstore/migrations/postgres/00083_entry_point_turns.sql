-- +goose Up
-- The round robin turn of each entry point, shared by every core instance:
-- the attach transaction that routes a new conversation increments its
-- entry point's row, so the row's lock orders the instances and the
-- agents take strict turns; a rolled back attach gives its turn back.
CREATE TABLE entry_point_turns (
    entry_point TEXT PRIMARY KEY,
    turn        BIGINT NOT NULL
);

-- +goose Down
DROP TABLE entry_point_turns;
