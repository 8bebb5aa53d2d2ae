-- +goose Up
-- A reply the channel cannot carry in one send (Meta: one attachment per
-- message) goes as several provider messages, its parts: each sent part is
-- recorded with the provider's id (so its status callbacks find the message)
-- and its own delivery state; the message's state is the worst of them.
CREATE TABLE message_parts (
    message_id          TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    part                INTEGER NOT NULL,
    provider            TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status              TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    PRIMARY KEY (message_id, part)
);
CREATE UNIQUE INDEX message_parts_provider_id ON message_parts (provider_message_id, provider);

-- +goose Down
DROP TABLE message_parts;
