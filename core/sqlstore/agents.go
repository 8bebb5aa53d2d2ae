package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opengateway/gateway/core"
)

// hasElement is a condition with one placeholder: the JSON array of names
// in column holds the argument.
func (s *Store) hasElement(column string) string {
	if s.dialect == Postgres {
		return column + "::jsonb @> jsonb_build_array(?::text)"
	}
	return "EXISTS (SELECT 1 FROM json_each(" + column + ") WHERE value = ?)"
}

func (t *tx) CustomerPresets(ctx context.Context, customerID string) (core.Presets, bool, error) {
	var p core.Presets
	var assignees, visibleTo string
	var updated int64
	err := t.row(ctx, `SELECT assignees, inbox, visible_to, updated_at FROM customer_presets WHERE customer_id = ?`, customerID).
		Scan(&assignees, &p.Inbox, &visibleTo, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Presets{Assignees: []string{}, VisibleTo: []string{}}, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("sqlstore: presets: %w", err)
	}
	if p.Assignees, err = decodeList(assignees); err != nil {
		return p, false, fmt.Errorf("sqlstore: presets of %s: %w", customerID, err)
	}
	if p.VisibleTo, err = decodeList(visibleTo); err != nil {
		return p, false, fmt.Errorf("sqlstore: presets of %s: %w", customerID, err)
	}
	p.UpdatedAt = fromMicros(updated)
	return p, true, nil
}

func (t *tx) SetCustomerPresets(ctx context.Context, customerID string, p core.Presets) error {
	_, err := t.exec(ctx, `INSERT INTO customer_presets (customer_id, assignees, inbox, visible_to, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (customer_id) DO UPDATE SET assignees = excluded.assignees, inbox = excluded.inbox,
		visible_to = excluded.visible_to, updated_at = excluded.updated_at`,
		customerID, encodeList(p.Assignees), p.Inbox, encodeList(p.VisibleTo), micros(p.UpdatedAt))
	if err != nil {
		return fmt.Errorf("sqlstore: set presets: %w", err)
	}
	return nil
}

func (t *tx) MarkRead(ctx context.Context, conversationID, agent string, at time.Time) error {
	_, err := t.exec(ctx, `INSERT INTO conversation_reads (conversation_id, agent, read_at) VALUES (?, ?, ?)
		ON CONFLICT (conversation_id, agent) DO UPDATE SET read_at = excluded.read_at`, conversationID, agent, micros(at))
	if err != nil {
		return fmt.Errorf("sqlstore: mark read: %w", err)
	}
	return nil
}

// unreadFrom joins a conversation's customer messages (m) with the
// agent's read mark (r): the first placeholder is the agent.
const unreadFrom = `messages m LEFT JOIN conversation_reads r ON r.conversation_id = m.conversation_id AND r.agent = ?`

// unreadWhere keeps the customer's messages after the read mark.
const unreadWhere = `m.kind = 'message' AND m.direction = 'inbound' AND (r.read_at IS NULL OR m.created_at > r.read_at)`

func (t *tx) Unread(ctx context.Context, agent string, conversationIDs []string) (map[string]int, error) {
	reset, err := t.planWithout(ctx, "enable_seqscan") // a page's messages by messages_conversation
	if err != nil {
		return nil, err
	}
	defer reset()
	out := map[string]int{}
	for start := 0; start < len(conversationIDs); start += chunkSize {
		chunk := conversationIDs[start:min(start+chunkSize, len(conversationIDs))]
		args := []any{agent}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := t.query(ctx, `SELECT m.conversation_id, COUNT(*) FROM `+unreadFrom+`
			WHERE m.conversation_id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`) AND `+unreadWhere+`
			GROUP BY m.conversation_id`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: unread: %w", err)
		}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *tx) AgentFigures(ctx context.Context, agent string) (core.AgentFigures, error) {
	f := core.AgentFigures{Agent: agent}
	var err error
	own := &core.Viewer{Agent: agent}
	if f.Assigned, f.Unreplied, err = t.assignedTo(ctx, agent, own); err != nil {
		return f, err
	}
	vis, visArgs := t.s.visibleTo("c.visible_to", own)
	err = t.row(ctx, `SELECT COUNT(*), COUNT(DISTINCT m.conversation_id) FROM `+unreadFrom+`
		JOIN conversations c ON c.id = m.conversation_id WHERE c.status <> 'closed' AND `+unreadWhere+` AND `+vis,
		append([]any{agent}, visArgs...)...).
		Scan(&f.Unread, &f.UnreadConversations)
	if err != nil {
		return f, fmt.Errorf("sqlstore: agent unread: %w", err)
	}
	return f, nil
}
