package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// NextTurn implements core.RoutingTx: one statement that makes the entry
// point's row (turn 0) or increments it, and reads the turn it took.
func (t *tx) NextTurn(ctx context.Context, entryPoint string) (int64, error) {
	var n int64
	err := t.row(ctx, `INSERT INTO entry_point_turns (entry_point, turn) VALUES (?, 0)
		ON CONFLICT (entry_point) DO UPDATE SET turn = entry_point_turns.turn + 1
		RETURNING turn`, entryPoint).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: next turn of %s: %w", entryPoint, err)
	}
	return n, nil
}

// ConversationEntryPoint implements core.EventTx.
func (t *tx) ConversationEntryPoint(ctx context.Context, conversationID string) (string, bool, error) {
	var ep string
	err := t.row(ctx, `SELECT entry_point FROM conversations WHERE id = ?`, conversationID).Scan(&ep)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("sqlstore: entry point of conversation %s: %w", conversationID, err)
	}
	return ep, true, nil
}
