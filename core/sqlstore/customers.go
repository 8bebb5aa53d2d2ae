package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opengateway/gateway/core"
)

func encodeAttributes(a map[string]string) (string, error) {
	if len(a) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("sqlstore: encode attributes: %w", err)
	}
	return string(b), nil
}

func decodeAttributes(s string) (map[string]string, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	var a map[string]string
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil, fmt.Errorf("sqlstore: decode attributes: %w", err)
	}
	return a, nil
}

func (t *tx) InsertCustomer(ctx context.Context, c core.Customer) error {
	attrs, err := encodeAttributes(c.Attributes)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, `INSERT INTO customers (id, name, attributes, created_at) VALUES (?, ?, ?, ?)`,
		c.ID, c.Name, attrs, micros(c.CreatedAt)); err != nil {
		return fmt.Errorf("sqlstore: insert customer: %w", err)
	}
	return nil
}

func (t *tx) UpdateCustomer(ctx context.Context, c core.Customer) error {
	attrs, err := encodeAttributes(c.Attributes)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, `UPDATE customers SET name = ?, attributes = ? WHERE id = ?`, c.Name, attrs, c.ID); err != nil {
		return fmt.Errorf("sqlstore: update customer: %w", err)
	}
	return nil
}

func (t *tx) AddIdentity(ctx context.Context, customerID string, id core.Identity, at time.Time) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO identities (kind, address, customer_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (address, kind) DO NOTHING`, id.Kind, id.Address, customerID, micros(at))
	if err != nil {
		return false, fmt.Errorf("sqlstore: add identity: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: add identity: %w", err)
	}
	return n == 1, nil
}

func (t *tx) RemoveIdentity(ctx context.Context, customerID string, id core.Identity) error {
	if _, err := t.exec(ctx, `DELETE FROM identities WHERE kind = ? AND address = ? AND customer_id = ?`,
		id.Kind, id.Address, customerID); err != nil {
		return fmt.Errorf("sqlstore: remove identity: %w", err)
	}
	return nil
}
