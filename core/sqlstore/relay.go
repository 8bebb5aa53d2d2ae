package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opengateway/gateway/core"
)

// relayLockKey is the PostgreSQL advisory lock that gives one instance at a
// time the turn to publish the event outbox, so events keep their order.
// The lock is taken per schema (its second key is a hash of the schema
// name): gateways whose tables live in different schemas of one database
// have outboxes of their own and never wait for each other.
const relayLockKey = 7243011

// ClaimEvents publishes the oldest outbox events and deletes them.
func (s *Store) ClaimEvents(ctx context.Context, limit int, publish func([]core.OutboxEvent) error) (int, error) {
	n := 0
	err := s.inTx(ctx, func(t *tx) error {
		if s.dialect == Postgres {
			var got bool
			if err := t.row(ctx, `SELECT pg_try_advisory_xact_lock(?, hashtext(current_schema()))`, relayLockKey).Scan(&got); err != nil {
				return fmt.Errorf("sqlstore: relay lock: %w", err)
			}
			if !got {
				return nil
			}
		}
		rows, err := t.query(ctx, `SELECT id, topic, key, value, dead_letter FROM event_outbox ORDER BY id LIMIT ?`, limit)
		if err != nil {
			return fmt.Errorf("sqlstore: read outbox: %w", err)
		}
		var ids []any
		var evs []core.OutboxEvent
		for rows.Next() {
			var id int64
			var e core.OutboxEvent
			var dead sql.NullString
			if err := rows.Scan(&id, &e.Topic, &e.Key, &e.Value, &dead); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: read outbox: %w", err)
			}
			if dead.Valid {
				e.DeadLetter = &core.DeadLetter{}
				if err := json.Unmarshal([]byte(dead.String), e.DeadLetter); err != nil {
					e.DeadLetter.Reason = "unknown"
				}
			}
			ids = append(ids, id)
			evs = append(evs, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: read outbox: %w", err)
		}
		if len(evs) == 0 {
			return nil
		}
		if err := publish(evs); err != nil {
			return err
		}
		if err := t.deleteEvents(ctx, ids); err != nil {
			return err
		}
		n = len(evs)
		return nil
	})
	return n, err
}

// deleteEvents deletes the outbox events ids (int64s), by id, not by range:
// a row with a lower id may commit later. On PostgreSQL the ids are one
// array, the statement's text the same whatever their number.
func (t *tx) deleteEvents(ctx context.Context, ids []any) error {
	if t.s.dialect == Postgres {
		arr := make([]int64, len(ids))
		for i, id := range ids {
			arr[i] = id.(int64)
		}
		if _, err := t.exec(ctx, `DELETE FROM event_outbox WHERE id = ANY(?::bigint[])`, arr); err != nil {
			return fmt.Errorf("sqlstore: delete outbox: %w", err)
		}
		return nil
	}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		q := `DELETE FROM event_outbox WHERE id IN (?` + strings.Repeat(", ?", len(chunk)-1) + `)`
		if _, err := t.exec(ctx, q, chunk...); err != nil {
			return fmt.Errorf("sqlstore: delete outbox: %w", err)
		}
	}
	return nil
}
