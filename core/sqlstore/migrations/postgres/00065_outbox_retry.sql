-- +goose Up
-- When the current round of a reply's sends began (GATEWAY_OUTBOX_MAX_AGE
-- counts from it): NULL until the reply is retried, meaning created_at.
-- outbox.last_error holds the last failure as JSON {code, message, provider_code}.
ALTER TABLE outbox ADD COLUMN queued_at BIGINT;
-- A dead letter's reason and error (JSON {reason, error}), written as the
-- record's dlq-* headers when it is relayed; NULL for every other event.
ALTER TABLE event_outbox ADD COLUMN dead_letter TEXT;

-- +goose Down
ALTER TABLE event_outbox DROP COLUMN dead_letter;
ALTER TABLE outbox DROP COLUMN queued_at;
