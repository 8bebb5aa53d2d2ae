package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/opengateway/gateway/core"
)

// visibleTo is a condition keeping the conversations v sees, column being
// their visible_to: those visible to everyone ('[]') and those listing
// the agent. A nil viewer sees every conversation.
func (s *Store) visibleTo(column string, v *core.Viewer) (string, []any) {
	if v == nil || v.All {
		return "1 = 1", nil
	}
	if v.Agent == "" {
		return column + " = '[]'", nil
	}
	return "(" + column + " = '[]' OR " + s.hasElement(column) + ")", []any{v.Agent}
}

func (t *tx) SetVisibleTo(ctx context.Context, conversationID string, visibleTo []string, updatedAt time.Time) error {
	res, err := t.exec(ctx, `UPDATE conversations SET visible_to = ?, updated_at = ? WHERE id = ?`,
		encodeList(visibleTo), micros(updatedAt), conversationID)
	if err != nil {
		return fmt.Errorf("sqlstore: set visible_to: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return core.Errorf(core.ENOTFOUND, "conversation %s not found", conversationID)
	}
	return nil
}
