-- +goose Up
-- Commands of gateway.commands.v1 already applied or refused, by CloudEvent
-- id: a redelivered command finds its row and never acts twice. The row is
-- written in the transaction of the command's work (or of its command.failed
-- event), so the two commit together.
CREATE TABLE processed_commands (
    id         TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    result     TEXT NOT NULL, -- done, failed
    created_at BIGINT NOT NULL
);
CREATE INDEX processed_commands_created ON processed_commands (created_at);

-- +goose Down
DROP TABLE processed_commands;
