package sqlstore

import (
	"context"
	"fmt"
	"time"
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

// SweepCommands deletes the ids of commands handled before keep ago and
// returns how many. A command redelivered or replayed after that would be
// applied again, so keep must exceed the retention of gateway.commands.v1.
func (s *Store) SweepCommands(ctx context.Context, keep time.Duration) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM processed_commands WHERE created_at < ?`), micros(s.now().UTC().Add(-keep)))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: sweep processed commands: %w", classify(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}
