-- +goose Up
-- Early statuses expire (a day) and the oldest go first when the table is full.
CREATE INDEX early_statuses_created ON early_statuses (created_at);

-- +goose Down
DROP INDEX early_statuses_created;
