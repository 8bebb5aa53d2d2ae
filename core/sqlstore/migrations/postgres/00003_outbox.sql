-- +goose Up
-- Replies waiting to be sent, written in the transaction that stores the message.
CREATE TABLE outbox (
    message_id      TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL,
    channel         TEXT NOT NULL,
    state           TEXT NOT NULL, -- pending, sending, done, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    last_error      TEXT NOT NULL DEFAULT '',
    client_ref      TEXT,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_conversation ON outbox (conversation_id, created_at, message_id);
-- Commands from outbound.v1 carry their own id: the same command never queues twice.
CREATE UNIQUE INDEX outbox_client_ref ON outbox (client_ref) WHERE client_ref IS NOT NULL;

-- Delivery statuses that arrived before the send was recorded (a fast
-- callback, or a dispatcher that died after the provider answered).
CREATE TABLE early_statuses (
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status              TEXT NOT NULL,
    created_at          BIGINT NOT NULL
);
CREATE INDEX early_statuses_id ON early_statuses (provider, provider_message_id);

-- +goose Down
DROP TABLE early_statuses;
DROP TABLE outbox;
