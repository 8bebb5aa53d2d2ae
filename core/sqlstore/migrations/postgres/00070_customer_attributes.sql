-- +goose Up
-- An operator's flat string fields of a customer, as a JSON object.
ALTER TABLE customers ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE customers DROP COLUMN attributes;
