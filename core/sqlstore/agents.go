package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// MarkRead sets the agent's read mark of a conversation at at, with the
// number of customer messages created at or before it (read_count, kept
// by the triggers of migration 00074 as messages come, move and go) and
// what the agent's figures need of the conversation (whether it is active,
// its customer messages, visibility and inbox: kept by the trigger of
// migration 00087 as the conversation changes). On
// PostgreSQL the conversation's row is locked first: a transaction adding
// a customer message updates that row, so either its messages are
// committed before the count or its trigger sees the committed mark.
func (t *tx) MarkRead(ctx context.Context, conversationID, agent string, at time.Time) error {
	if t.s.dialect == Postgres {
		if _, err := t.exec(ctx, `SELECT id FROM conversations WHERE id = ? FOR UPDATE`, conversationID); err != nil {
			return fmt.Errorf("sqlstore: mark read: %w", err)
		}
	}
	_, err := t.exec(ctx, `INSERT INTO conversation_reads (conversation_id, agent, read_at, read_count, active, inbound_count, visible_to, inbox)
		SELECT ?, ?, ?, (SELECT COUNT(*) FROM messages WHERE conversation_id = c.id AND created_at <= ? AND `+inbound+`),
			c.status <> 'closed', c.inbound_count, c.visible_to, c.inbox
		FROM conversations c WHERE c.id = ?
		ON CONFLICT (conversation_id, agent) DO UPDATE SET read_at = excluded.read_at, read_count = excluded.read_count,
			active = excluded.active, inbound_count = excluded.inbound_count, visible_to = excluded.visible_to, inbox = excluded.inbox`,
		conversationID, agent, micros(at), micros(at), conversationID)
	if err != nil {
		return fmt.Errorf("sqlstore: mark read: %w", err)
	}
	return nil
}

// inbound keeps the customer's messages.
const inbound = `kind = 'message' AND direction = 'inbound'`

// unreadFrom joins a conversation's customer messages (m) with the
// agent's read mark (r): the first placeholder is the agent.
const unreadFrom = `messages m LEFT JOIN conversation_reads r ON r.conversation_id = m.conversation_id AND r.agent = ?`

// unreadWhere keeps the customer's messages after the read mark.
const unreadWhere = `m.kind = 'message' AND m.direction = 'inbound' AND (r.read_at IS NULL OR m.created_at > r.read_at)`

// Unread reads the conversations' unread counts from running counts
// (migration 00074): each one's customer messages less those the agent's
// read mark has read; by the conversations' key, so with no planner setting.
func (t *tx) Unread(ctx context.Context, agent string, conversationIDs []string) (map[string]int, error) {
	out := map[string]int{}
	err := inChunks(conversationIDs, func(in string, args []any) error {
		rows, err := t.query(ctx, `SELECT c.id, c.inbound_count - COALESCE((SELECT r.read_count FROM conversation_reads r
			WHERE r.conversation_id = c.id AND r.agent = ?), 0) FROM conversations c WHERE c.id IN `+in, append([]any{agent}, args...)...)
		if err != nil {
			return fmt.Errorf("sqlstore: unread: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			if n > 0 {
				out[id] = n
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AgentFigures reads an agent's own figures, of the conversations the agent
// sees, in one statement (on PostgreSQL with sequential scans off for the
// rest of the transaction: the agent's marks of active
// conversations by conversation_reads_active, each carrying its
// conversation's customer messages, visibility and inbox: migration
// 00087), from
// running counts: the active conversations assigned to the agent and
// their unreplied messages (kind 'a' of conversation_counts, migration
// 00072); the customer messages of the active conversations (kind 'i',
// migration 00074) less those the agent's marks have read, and the
// active conversations with a customer message less those the agent has
// read to the end.
func (t *tx) AgentFigures(ctx context.Context, agent, inbox string) (core.AgentFigures, error) {
	f := core.AgentFigures{Agent: agent}
	// The figures read with the sessions of a list (listPlan): they have
	// no sort to turn off, and one pool of sessions fewer is one fewer to
	// warm (each new session's first reads fill its catalog caches).
	if t.s.dialect == Postgres {
		for _, m := range []string{"enable_seqscan", "enable_sort"} {
			if err := t.turnOff(ctx, m); err != nil {
				return f, fmt.Errorf("sqlstore: agent figures: %w", err)
			}
		}
	}
	own := &core.Viewer{Agent: agent}
	vis, visArgs := t.s.visibleTo("visible_to", own)
	vis, visArgs = inboxIs(vis, visArgs, "inbox", inbox)
	rvis, rvisArgs := t.s.visibleTo("r.visible_to", own)
	rvis, rvisArgs = inboxIs(rvis, rvisArgs, "r.inbox", inbox)
	args := append(append(append(append([]any{agent}, visArgs...), visArgs...), agent), rvisArgs...)
	var all, allConversations, read, readConversations int
	err := t.row(ctx, `SELECT a.n, a.unreplied, i.inbound, i.n, m.read, m.done FROM
		(SELECT COALESCE(SUM(n), 0) AS n, COALESCE(SUM(unreplied), 0) AS unreplied FROM conversation_counts
			WHERE kind = 'a' AND key = ? AND `+vis+`) AS a,
		(SELECT COALESCE(SUM(inbound), 0) AS inbound, COALESCE(SUM(n), 0) AS n FROM conversation_counts
			WHERE kind = 'i' AND key = '' AND `+vis+`) AS i,
		(SELECT COALESCE(SUM(r.read_count), 0) AS read,
			COALESCE(SUM(CASE WHEN r.read_count = r.inbound_count AND r.inbound_count > 0 THEN 1 ELSE 0 END), 0) AS done
			FROM conversation_reads r WHERE r.agent = ? AND r.active AND `+rvis+`) AS m`, args...).
		Scan(&f.Assigned, &f.Unreplied, &all, &allConversations, &read, &readConversations)
	if err != nil {
		return f, fmt.Errorf("sqlstore: agent figures: %w", err)
	}
	f.Unread, f.UnreadConversations = all-read, allConversations-readConversations
	return f, nil
}
