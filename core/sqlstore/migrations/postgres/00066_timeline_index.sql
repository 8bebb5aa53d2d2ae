-- +goose Up
-- A customer's timeline pages through their messages oldest first by
-- (created_at, id); the index serves that order and every lookup by
-- customer_id the old one served.
CREATE INDEX messages_customer_time ON messages (customer_id, created_at, id);
DROP INDEX messages_customer;

-- +goose Down
CREATE INDEX messages_customer ON messages (customer_id);
DROP INDEX messages_customer_time;
