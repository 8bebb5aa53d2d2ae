package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// MessagesByID reads messages by id, a statement per chunk.
func (t *tx) MessagesByID(ctx context.Context, ids []string) (map[string]core.StoredMessage, error) {
	out := make(map[string]core.StoredMessage, len(ids))
	err := inChunks(ids, func(in string, args []any) error {
		ms, err := t.messages(ctx, `id IN `+in, args...)
		for _, m := range ms {
			out[m.ID] = m
		}
		return err
	})
	return out, err
}

// TakeEarlyStatusesOf reads and deletes the early statuses of many sends,
// a statement or two per provider and chunk.
func (t *tx) TakeEarlyStatusesOf(ctx context.Context, keys []core.ProviderKey) (map[core.ProviderKey][]normalize.Status, error) {
	out := map[core.ProviderKey][]normalize.Status{}
	for provider, pids := range idsByProvider(keys) {
		err := inChunks(pids, func(in string, args []any) error { return t.takeEarly(ctx, provider, in, args, out) })
		if err != nil {
			return nil, fmt.Errorf("sqlstore: early statuses: %w", err)
		}
	}
	return out, nil
}

// takeEarly reads and deletes the early statuses of provider's ids of one
// chunk (in, args: inChunks).
func (t *tx) takeEarly(ctx context.Context, provider, in string, ids []any, out map[core.ProviderKey][]normalize.Status) error {
	args := append(append([]any{provider}, ids...), micros(t.now.Add(-earlyStatusTTL)))
	rows, err := t.query(ctx, `SELECT provider_message_id, status FROM early_statuses WHERE provider = ? AND provider_message_id IN `+in+`
		AND created_at >= ? ORDER BY created_at`, args...)
	if err != nil {
		return err
	}
	var found []any
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			rows.Close()
			return err
		}
		var st normalize.Status
		if json.Unmarshal([]byte(raw), &st) == nil {
			k := core.ProviderKey{Provider: provider, ID: id}
			out[k] = append(out[k], st)
			found = append(found, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(found) == 0 {
		return err
	}
	_, err = t.exec(ctx, `DELETE FROM early_statuses WHERE provider = ? AND provider_message_id IN (?`+
		strings.Repeat(", ?", len(found)-1)+`)`, append([]any{provider}, found...)...)
	return err
}

// SetDeliveries writes the delivery of many messages, a statement per
// chunk, as SetDelivery does one.
func (t *tx) SetDeliveries(ctx context.Context, ds []core.Delivery) error {
	rows := make([][]any, len(ds))
	for i, d := range ds {
		var errJSON, pmid sql.NullString
		if d.Error != nil {
			b, _ := json.Marshal(d.Error)
			errJSON = sql.NullString{String: string(b), Valid: true}
		}
		if d.ProviderMessageID != "" {
			pmid = sql.NullString{String: d.ProviderMessageID, Valid: true}
		}
		rows[i] = []any{d.ID, d.Status, d.Provider, pmid, errJSON}
	}
	err := t.updateFrom(ctx, "messages", []string{"id", "status", "provider", "provider_message_id", "error"},
		[]string{"text", "text", "text", "text", "text"}, []string{"status = v.status",
			"provider = CASE WHEN v.provider = '' THEN messages.provider ELSE v.provider END",
			"provider_message_id = COALESCE(v.provider_message_id, messages.provider_message_id)",
			"error = COALESCE(v.error, messages.error)"}, rows)
	if err != nil {
		return fmt.Errorf("sqlstore: set deliveries: %w", err)
	}
	return nil
}

// UpdateDispatches writes the sending of many replies, a statement per
// chunk, as UpdateDispatch does one.
func (t *tx) UpdateDispatches(ctx context.Context, us []core.DispatchUpdate) error {
	rows := make([][]any, len(us))
	for i, u := range us {
		rows[i] = []any{u.MessageID, u.State, u.Attempts, micros(u.Next), encodeLastError(u.LastError)}
	}
	err := t.updateFrom(ctx, "outbox", []string{"message_id", "state", "attempts", "next_attempt_at", "last_error"},
		[]string{"text", "text", "integer", "bigint", "text"}, []string{"state = v.state", "attempts = v.attempts",
			"next_attempt_at = v.next_attempt_at", "lease_until = NULL", "last_error = v.last_error"}, rows)
	if err != nil {
		return fmt.Errorf("sqlstore: update outbox: %w", err)
	}
	return nil
}
