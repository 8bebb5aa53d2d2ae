package sqlstore

import (
	"context"
	"fmt"
)

// RecordCommand records, in the transaction, that the command id of
// gateway.commands.v1 was handled with result (done or failed); false when
// it was recorded already (a redelivery).
func (t *tx) RecordCommand(ctx context.Context, id, typ, result string) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO processed_commands (id, type, result, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, id, typ, result, micros(t.now))
	if err != nil {
		return false, fmt.Errorf("sqlstore: record command: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: record command: %w", err)
	}
	return n == 1, nil
}
