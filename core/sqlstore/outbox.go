package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

func (t *tx) LastInbound(ctx context.Context, conversationID, channel string) (core.StoredMessage, bool, error) {
	return t.lastInbound(ctx, "conversation_id", conversationID, channel)
}

func (t *tx) CustomerLastInbound(ctx context.Context, customerID, channel string) (core.StoredMessage, bool, error) {
	return t.lastInbound(ctx, "customer_id", customerID, channel)
}

// lastInbound returns the last customer message whose column (conversation_id
// or customer_id) is id, on a channel ("" for any). Noise (a reaction, a
// Get Started tap: normalize.Message.Noise) is passed over: it opens no
// window and is not what a reply answers.
func (t *tx) lastInbound(ctx context.Context, column, id, channel string) (core.StoredMessage, bool, error) {
	q := `SELECT ` + messageColumns + ` FROM messages WHERE ` + column + ` = ? AND direction = 'inbound' AND kind = 'message'`
	args := []any{id}
	if channel != "" {
		q += ` AND channel = ?`
		args = append(args, channel)
	}
	rows, err := t.query(ctx, q+` ORDER BY created_at DESC, id DESC`, args...)
	if err != nil {
		return core.StoredMessage{}, false, fmt.Errorf("sqlstore: last inbound: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return core.StoredMessage{}, false, fmt.Errorf("sqlstore: last inbound: %w", err)
		}
		if !m.Message.Noise() {
			return m, true, nil
		}
	}
	if err := rows.Err(); err != nil {
		return core.StoredMessage{}, false, fmt.Errorf("sqlstore: last inbound: %w", err)
	}
	return core.StoredMessage{}, false, nil
}

func (t *tx) MessageByID(ctx context.Context, id string) (core.StoredMessage, bool, error) {
	m, err := scanMessage(t.row(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return core.StoredMessage{}, false, nil
	}
	if err != nil {
		return core.StoredMessage{}, false, fmt.Errorf("sqlstore: message: %w", err)
	}
	return m, true, nil
}

func (t *tx) SetDelivery(ctx context.Context, id, status, provider, providerMessageID string, derr *core.DeliveryError) error {
	var errJSON sql.NullString
	if derr != nil {
		b, _ := json.Marshal(derr)
		errJSON = sql.NullString{String: string(b), Valid: true}
	}
	var pmid sql.NullString
	if providerMessageID != "" {
		pmid = sql.NullString{String: providerMessageID, Valid: true}
	}
	_, err := t.exec(ctx, `UPDATE messages SET status = ?, provider = CASE WHEN ? = '' THEN provider ELSE ? END,
		provider_message_id = COALESCE(?, provider_message_id), error = COALESCE(?, error) WHERE id = ?`,
		status, provider, provider, pmid, errJSON, id)
	if err != nil {
		return fmt.Errorf("sqlstore: set delivery: %w", err)
	}
	return nil
}

func (t *tx) Enqueue(ctx context.Context, j core.DispatchJob) error {
	var ref sql.NullString
	if j.ClientRef != "" {
		ref = sql.NullString{String: j.ClientRef, Valid: true}
	}
	_, err := t.exec(ctx, `INSERT INTO outbox (message_id, conversation_id, channel, state, attempts, next_attempt_at, client_ref, payload, created_at)
		VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?)`,
		j.MessageID, j.ConversationID, j.Channel, micros(j.CreatedAt), ref, string(j.Payload), micros(j.CreatedAt))
	if err != nil {
		if isUniqueViolation(err) {
			return core.Errorf(core.ECONFLICT, "a reply with this reference is already queued")
		}
		return fmt.Errorf("sqlstore: insert outbox: %w", err)
	}
	return nil
}

func (t *tx) QueuedByClientRef(ctx context.Context, ref string) (core.StoredMessage, bool, error) {
	var id string
	err := t.row(ctx, `SELECT message_id FROM outbox WHERE client_ref = ?`, ref).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return core.StoredMessage{}, false, nil
	}
	if err != nil {
		return core.StoredMessage{}, false, fmt.Errorf("sqlstore: outbox by ref: %w", err)
	}
	return t.MessageByID(ctx, id)
}

func (t *tx) UpdateDispatch(ctx context.Context, messageID, state string, attempts int, next time.Time, lastErr *core.DeliveryError) error {
	_, err := t.exec(ctx, `UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, lease_until = NULL, last_error = ? WHERE message_id = ?`,
		state, attempts, micros(next), encodeLastError(lastErr), messageID)
	if err != nil {
		return fmt.Errorf("sqlstore: update outbox: %w", err)
	}
	return nil
}

func (t *tx) Requeue(ctx context.Context, messageID string) (bool, error) {
	res, err := t.exec(ctx, `UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL, last_error = '',
		queued_at = ? WHERE message_id = ?`, micros(t.now), micros(t.now), messageID)
	if err != nil {
		return false, fmt.Errorf("sqlstore: requeue outbox: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	// The provider's id of a send that failed after it was taken goes: the
	// new send records its own, and a resend must not take the old one for it.
	if _, err := t.exec(ctx, `UPDATE messages SET status = 'queued', error = NULL, provider_message_id = NULL WHERE id = ?`, messageID); err != nil {
		return false, fmt.Errorf("sqlstore: requeue message: %w", err)
	}
	return true, nil
}

// encodeLastError is outbox.last_error: the error as JSON, ” for none.
func encodeLastError(e *core.DeliveryError) string {
	if e == nil {
		return ""
	}
	b, _ := json.Marshal(core.DeliveryError{Code: e.Code, Message: truncate(e.Message, 1000), ProviderCode: truncate(e.ProviderCode, 100)})
	return string(b)
}

// decodeLastError reads outbox.last_error; a row of an older version holds
// the error's text alone.
func decodeLastError(s string) *core.DeliveryError {
	if s == "" {
		return nil
	}
	var e core.DeliveryError
	if json.Unmarshal([]byte(s), &e) == nil && e.Code != "" {
		return &e
	}
	return &core.DeliveryError{Code: "send_failed", Message: s}
}

// scanSending fills in a reply's sending from its outbox row, as the last
// of messageColumns reads it: "state attempts next_attempt_at last_error".
// The next attempt is shown only while the reply waits to be sent.
func scanSending(m *core.StoredMessage, s string) {
	f := strings.SplitN(s, " ", 4)
	if len(f) < 3 {
		return
	}
	attempts, err := strconv.Atoi(f[1])
	if err != nil {
		return
	}
	m.Attempts = &attempts
	if next, err := strconv.ParseInt(f[2], 10, 64); err == nil && (f[0] == core.DispatchPending || f[0] == core.DispatchSending) {
		at := fromMicros(next)
		m.NextAttemptAt = &at
	}
	if len(f) == 4 {
		m.LastError = decodeLastError(f[3])
	}
}

// Early statuses wait for a send about to be recorded (a fast callback, a
// dispatcher that died after the provider answered), and many are for
// sends the gateway never made (a SendGrid account's other mail, junk):
// each is kept at most earlyStatusTTL, an id at most earlyPerMessage times,
// the table at most Store.earlyMax rows (the oldest dropped first), and a
// status whose id is longer than any provider's (earlyMaxID) not at all.
const (
	earlyStatusTTL  = 24 * time.Hour
	earlyPerMessage = 10
	earlyMaxID      = 256
	earlyMaxText    = 1000 // of the provider's error message
)

func (t *tx) AddEarlyStatus(ctx context.Context, st normalize.Status) error {
	if len(st.ProviderMessageID) > earlyMaxID || len(st.MessageID) > earlyMaxID {
		return nil
	}
	st.ErrorMessage = truncate(st.ErrorMessage, earlyMaxText)
	st.ProviderStatus, st.ErrorCode = truncate(st.ProviderStatus, 100), truncate(st.ErrorCode, 100)
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, `DELETE FROM early_statuses WHERE created_at < ?`, micros(t.now.Add(-earlyStatusTTL))); err != nil {
		return fmt.Errorf("sqlstore: expire early statuses: %w", err)
	}
	var same, all int
	if err := t.row(ctx, `SELECT COUNT(*) FROM early_statuses WHERE provider = ? AND provider_message_id = ?`,
		st.Provider, st.ProviderMessageID).Scan(&same); err != nil {
		return fmt.Errorf("sqlstore: early status: %w", err)
	}
	if same >= earlyPerMessage {
		return nil
	}
	if err := t.row(ctx, `SELECT COUNT(*) FROM early_statuses`).Scan(&all); err != nil {
		return fmt.Errorf("sqlstore: early status: %w", err)
	}
	if all >= t.s.earlyMax {
		if _, err := t.exec(ctx, `DELETE FROM early_statuses WHERE created_at <= (SELECT MIN(created_at) FROM early_statuses)`); err != nil {
			return fmt.Errorf("sqlstore: drop oldest early status: %w", err)
		}
	}
	if _, err := t.exec(ctx, `INSERT INTO early_statuses (provider, provider_message_id, status, created_at) VALUES (?, ?, ?, ?)`,
		st.Provider, st.ProviderMessageID, string(b), micros(t.now)); err != nil {
		return fmt.Errorf("sqlstore: early status: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (t *tx) TakeEarlyStatuses(ctx context.Context, provider, providerMessageID string) ([]normalize.Status, error) {
	rows, err := t.query(ctx, `SELECT status FROM early_statuses WHERE provider = ? AND provider_message_id = ? AND created_at >= ? ORDER BY created_at`,
		provider, providerMessageID, micros(t.now.Add(-earlyStatusTTL)))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: early statuses: %w", err)
	}
	var out []normalize.Status
	for rows.Next() {
		var raw string
		var st normalize.Status
		if err := rows.Scan(&raw); err != nil {
			rows.Close()
			return nil, err
		}
		if json.Unmarshal([]byte(raw), &st) == nil {
			out = append(out, st)
		}
	}
	rows.Close()
	if len(out) > 0 {
		if _, err := t.exec(ctx, `DELETE FROM early_statuses WHERE provider = ? AND provider_message_id = ?`, provider, providerMessageID); err != nil {
			return nil, fmt.Errorf("sqlstore: early statuses: %w", err)
		}
	}
	return out, rows.Err()
}

// ClaimDispatch leases due replies, the oldest unsent of each conversation,
// by the store's clock.
func (s *Store) ClaimDispatch(ctx context.Context, lease time.Duration, limit int) ([]core.DispatchJob, error) {
	now := s.now().UTC()
	leaseUntil := now.Add(lease)
	var jobs []core.DispatchJob
	err := s.inTx(ctx, func(t *tx) error {
		q := `SELECT o.message_id, o.conversation_id, o.channel, o.state, o.attempts, COALESCE(o.client_ref, ''), o.payload, o.created_at,
			COALESCE(o.queued_at, o.created_at)
			FROM outbox o
			WHERE ((o.state = 'pending' AND o.next_attempt_at <= ?) OR (o.state = 'sending' AND o.lease_until <= ?))
			AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.conversation_id = o.conversation_id AND p.state IN ('pending', 'sending')
				AND (p.created_at < o.created_at OR (p.created_at = o.created_at AND p.message_id < o.message_id)))
			ORDER BY o.next_attempt_at, o.created_at LIMIT ?`
		if s.dialect == Postgres {
			q += ` FOR UPDATE OF o SKIP LOCKED`
		}
		rows, err := t.query(ctx, q, micros(now), micros(now), limit)
		if err != nil {
			return fmt.Errorf("sqlstore: claim outbox: %w", err)
		}
		for rows.Next() {
			var j core.DispatchJob
			var payload string
			var created, queued int64
			if err := rows.Scan(&j.MessageID, &j.ConversationID, &j.Channel, &j.State, &j.Attempts, &j.ClientRef, &payload, &created, &queued); err != nil {
				rows.Close()
				return fmt.Errorf("sqlstore: claim outbox: %w", err)
			}
			j.Payload, j.CreatedAt, j.QueuedAt, j.Resend = []byte(payload), fromMicros(created), fromMicros(queued), j.State == core.DispatchSending
			jobs = append(jobs, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(jobs) == 0 {
			return nil
		}
		args := []any{micros(leaseUntil)}
		for _, j := range jobs {
			args = append(args, j.MessageID)
		}
		_, err = t.exec(ctx, `UPDATE outbox SET state = 'sending', lease_until = ? WHERE message_id IN (?`+strings.Repeat(", ?", len(jobs)-1)+`)`, args...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

func (t *tx) OutboundUpTo(ctx context.Context, provider string, id core.Identity, at time.Time) ([]core.StoredMessage, error) {
	return t.messages(ctx, `direction = 'outbound' AND provider = ? AND status IN ('queued', 'sent', 'delivered') AND created_at <= ?
		AND customer_id = (SELECT customer_id FROM identities WHERE kind = ? AND address = ?) ORDER BY created_at, id`,
		provider, micros(at), id.Kind, id.Address)
}

func (t *tx) InsertPart(ctx context.Context, p core.MessagePart) (bool, error) {
	res, err := t.exec(ctx, `INSERT INTO message_parts (message_id, part, provider, provider_message_id, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, p.MessageID, p.Part, p.Provider, p.ProviderMessageID, p.Status, micros(t.now))
	if err != nil {
		return false, fmt.Errorf("sqlstore: insert part: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

const partColumns = `message_id, part, provider, provider_message_id, status`

func (t *tx) PartByProviderID(ctx context.Context, provider, providerMessageID string) (core.MessagePart, bool, error) {
	var p core.MessagePart
	err := t.row(ctx, `SELECT `+partColumns+` FROM message_parts WHERE provider = ? AND provider_message_id = ?`, provider, providerMessageID).
		Scan(&p.MessageID, &p.Part, &p.Provider, &p.ProviderMessageID, &p.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("sqlstore: part by provider id: %w", err)
	}
	return p, true, nil
}

func (t *tx) Parts(ctx context.Context, messageID string) ([]core.MessagePart, error) {
	rows, err := t.query(ctx, `SELECT `+partColumns+` FROM message_parts WHERE message_id = ? ORDER BY part`, messageID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: parts: %w", err)
	}
	defer rows.Close()
	var out []core.MessagePart
	for rows.Next() {
		var p core.MessagePart
		if err := rows.Scan(&p.MessageID, &p.Part, &p.Provider, &p.ProviderMessageID, &p.Status); err != nil {
			return nil, fmt.Errorf("sqlstore: parts: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (t *tx) SetPartStatus(ctx context.Context, messageID string, part int, status string) error {
	if _, err := t.exec(ctx, `UPDATE message_parts SET status = ? WHERE message_id = ? AND part = ?`, status, messageID, part); err != nil {
		return fmt.Errorf("sqlstore: set part status: %w", err)
	}
	return nil
}
