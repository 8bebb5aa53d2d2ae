-- +goose Up
CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    merged_into TEXT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE identities (
    kind        TEXT NOT NULL,
    address     TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    -- address first: a batch looks up many addresses of one kind at once.
    PRIMARY KEY (address, kind)
);
CREATE INDEX identities_customer ON identities (customer_id);

CREATE TABLE conversations (
    id                     TEXT PRIMARY KEY,
    customer_id            TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    status                 TEXT NOT NULL,
    assignee               TEXT NOT NULL DEFAULT '',
    inbox                  TEXT NOT NULL DEFAULT '',
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    last_activity_at       BIGINT NOT NULL,
    closed_at              BIGINT,
    close_reason           TEXT NOT NULL DEFAULT '',
    waiting_since          BIGINT,
    channel                TEXT NOT NULL DEFAULT '',
    contact_address        TEXT NOT NULL DEFAULT '',
    business_address       TEXT NOT NULL DEFAULT '',
    last_inbound_at        BIGINT,
    unreplied              INTEGER NOT NULL DEFAULT 0,
    message_count          INTEGER NOT NULL DEFAULT 0,
    first_inbound_at       BIGINT,
    first_response_seconds DOUBLE PRECISION,
    resolution_seconds     DOUBLE PRECISION
);
-- The one rule of the model: a customer has at most one conversation that is not closed.
CREATE UNIQUE INDEX conversations_one_active ON conversations (customer_id) WHERE status <> 'closed';
CREATE INDEX conversations_customer ON conversations (customer_id, closed_at);
CREATE INDEX conversations_activity ON conversations (last_activity_at, id);
CREATE INDEX conversations_waiting ON conversations (waiting_since) WHERE status = 'waiting';

CREATE TABLE messages (
    id                  TEXT PRIMARY KEY,
    conversation_id     TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    customer_id         TEXT NOT NULL,
    kind                TEXT NOT NULL,
    direction           TEXT NOT NULL DEFAULT '',
    channel             TEXT NOT NULL DEFAULT '',
    provider            TEXT NOT NULL DEFAULT '',
    provider_message_id TEXT,
    status              TEXT NOT NULL DEFAULT '',
    error               TEXT,
    author              TEXT NOT NULL DEFAULT '',
    body                TEXT NOT NULL,
    created_at          BIGINT NOT NULL
);
-- Provider retries and Kafka redeliveries are dropped by (provider, provider_message_id);
-- the id first, since a batch looks up many ids of one provider at once.
CREATE UNIQUE INDEX messages_provider_id ON messages (provider_message_id, provider) WHERE provider_message_id IS NOT NULL;
CREATE INDEX messages_conversation ON messages (conversation_id, created_at, id);
CREATE INDEX messages_customer ON messages (customer_id);

-- Events written with the change that caused them, relayed to Kafka after commit.
CREATE TABLE event_outbox (
    id         BIGSERIAL PRIMARY KEY,
    topic      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE event_outbox;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE identities;
DROP TABLE customers;
