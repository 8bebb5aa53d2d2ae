-- +goose Up
-- Idempotency-Key of the operator API: the first response to a mutation, kept
-- 24 hours per token and route. A row is inserted "pending" before the request
-- runs (the primary key makes a concurrent duplicate find it) and becomes
-- "done" with the response, or is deleted when the request failed (5xx).
CREATE TABLE idempotency_keys (
    token_hash   TEXT NOT NULL,
    route        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state        TEXT NOT NULL, -- pending, done
    status       INTEGER NOT NULL DEFAULT 0,
    body         BYTEA,
    customer_id  TEXT NOT NULL DEFAULT '', -- whose data the body holds (erasure)
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (token_hash, route, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_customer ON idempotency_keys (customer_id) WHERE customer_id <> '';

-- +goose Down
DROP TABLE idempotency_keys;
