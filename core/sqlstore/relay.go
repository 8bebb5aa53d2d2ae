package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/opengateway/gateway/core"
)

// relayLockKey is the PostgreSQL advisory lock that gives one instance at a
// time the turn to publish the event outbox, so events keep their order.
// The lock is taken per schema (its second key is a hash of the schema
// name): gateways whose tables live in different schemas of one database
// have outboxes of their own and never wait for each other.
const relayLockKey = 7243011

// ClaimEvents publishes the oldest outbox events and deletes them: one
// statement deletes and returns them (in the transaction: a failed publish
// rolls the delete back), by id, not by range, because a row with a lower
// id may commit later.
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
		evs, err := t.takeEvents(ctx, limit)
		if err != nil || len(evs) == 0 {
			return err
		}
		if err := publish(evs); err != nil {
			return err
		}
		n = len(evs)
		return nil
	})
	return n, err
}

// takeEvents deletes the oldest limit events of the outbox and returns
// them in order.
func (t *tx) takeEvents(ctx context.Context, limit int) ([]core.OutboxEvent, error) {
	rows, err := t.query(ctx, `DELETE FROM event_outbox WHERE id IN (SELECT id FROM event_outbox ORDER BY id LIMIT ?)
		RETURNING id, topic, key, value, dead_letter`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: take outbox: %w", err)
	}
	defer rows.Close()
	type taken struct {
		id int64
		ev core.OutboxEvent
	}
	var all []taken
	for rows.Next() {
		var e taken
		var dead sql.NullString
		if err := rows.Scan(&e.id, &e.ev.Topic, &e.ev.Key, &e.ev.Value, &dead); err != nil {
			return nil, fmt.Errorf("sqlstore: take outbox: %w", err)
		}
		if dead.Valid {
			e.ev.DeadLetter = &core.DeadLetter{}
			if err := json.Unmarshal([]byte(dead.String), e.ev.DeadLetter); err != nil {
				e.ev.DeadLetter.Reason = "unknown"
			}
		}
		all = append(all, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: take outbox: %w", err)
	}
	slices.SortFunc(all, func(a, b taken) int { return cmp.Compare(a.id, b.id) }) // RETURNING keeps no order
	evs := make([]core.OutboxEvent, len(all))
	for i, e := range all {
		evs[i] = e.ev
	}
	return evs, nil
}
