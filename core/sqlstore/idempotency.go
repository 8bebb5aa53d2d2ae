package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opengateway/gateway/core"
)

// IdempotencyTTL is how long the first response to a request with an
// Idempotency-Key is kept for replays.
const IdempotencyTTL = 24 * time.Hour

// idempotencyLease is how long a pending claim is honoured: a claim older
// than this belongs to a request whose instance died before answering, and
// the next request with the key takes it over.
const idempotencyLease = 5 * time.Minute

// idempotencySweepEvery spaces the deletions of expired keys.
const idempotencySweepEvery = time.Minute

// BeginIdempotent claims (tokenHash, route, key) for a request whose content
// hashes to requestHash. It inserts the claim in a statement of its own, so
// of two concurrent requests with one key only one gets it. done is true, with
// the first response's status and body, when the key was answered already
// (within IdempotencyTTL). The key in use for another request body is a
// core.EUNPROCESSABLE error; the key held by a request still running is a
// core.ECONFLICT error.
func (s *Store) BeginIdempotent(ctx context.Context, tokenHash, route, key, requestHash string) (status int, body []byte, done bool, err error) {
	now := s.now().UTC()
	s.sweepIdempotency(ctx, now)
	for range 3 {
		res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO idempotency_keys (token_hash, route, idem_key, request_hash, state, created_at)
			VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (token_hash, route, idem_key) DO NOTHING`),
			tokenHash, route, key, requestHash, micros(now))
		if err != nil {
			return 0, nil, false, fmt.Errorf("sqlstore: claim idempotency key: %w", classify(err))
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return 0, nil, false, nil
		}
		// Taken: an expired key, or a claim whose request died, is ours again.
		res, err = s.db.ExecContext(ctx, s.q(`UPDATE idempotency_keys
			SET request_hash = ?, state = 'pending', status = 0, body = NULL, customer_id = '', created_at = ?
			WHERE token_hash = ? AND route = ? AND idem_key = ?
			AND (created_at < ? OR (state = 'pending' AND created_at < ?))`),
			requestHash, micros(now), tokenHash, route, key, micros(now.Add(-IdempotencyTTL)), micros(now.Add(-idempotencyLease)))
		if err != nil {
			return 0, nil, false, fmt.Errorf("sqlstore: take over idempotency key: %w", classify(err))
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return 0, nil, false, nil
		}
		var hash, state string
		err = s.db.QueryRowContext(ctx, s.q(`SELECT request_hash, state, status, body FROM idempotency_keys
			WHERE token_hash = ? AND route = ? AND idem_key = ?`), tokenHash, route, key).Scan(&hash, &state, &status, &body)
		if errors.Is(err, sql.ErrNoRows) {
			continue // abandoned meanwhile: claim it again
		}
		if err != nil {
			return 0, nil, false, fmt.Errorf("sqlstore: read idempotency key: %w", classify(err))
		}
		switch {
		case hash != requestHash:
			return 0, nil, false, core.Errorf(core.EUNPROCESSABLE, "this Idempotency-Key was used with a different request")
		case state != "done":
			return 0, nil, false, core.Errorf(core.ECONFLICT, "a request with this Idempotency-Key is in progress")
		}
		return status, body, true, nil
	}
	return 0, nil, false, fmt.Errorf("sqlstore: claim idempotency key: contended: %w", core.ErrTransient)
}

// FinishIdempotent records the response of a claimed request; customerID
// names whose data the body holds ("" for none), so that an erasure removes it.
func (s *Store) FinishIdempotent(ctx context.Context, tokenHash, route, key, customerID string, status int, body []byte) error {
	if body == nil {
		body = []byte{}
	}
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE idempotency_keys SET state = 'done', status = ?, body = ?, customer_id = ?
		WHERE token_hash = ? AND route = ? AND idem_key = ? AND state = 'pending'`),
		status, body, customerID, tokenHash, route, key)
	if err != nil {
		return fmt.Errorf("sqlstore: record idempotent response: %w", classify(err))
	}
	return nil
}

// AbandonIdempotent drops the claim of a request that failed, so that a
// retry with the same key runs again.
func (s *Store) AbandonIdempotent(ctx context.Context, tokenHash, route, key string) error {
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM idempotency_keys
		WHERE token_hash = ? AND route = ? AND idem_key = ? AND state = 'pending'`), tokenHash, route, key)
	if err != nil {
		return fmt.Errorf("sqlstore: abandon idempotency key: %w", classify(err))
	}
	return nil
}

// ForgetIdempotentResponses deletes the kept responses that hold a
// customer's data (customer erasure).
func (s *Store) ForgetIdempotentResponses(ctx context.Context, customerID string) error {
	if customerID == "" {
		return nil
	}
	_, err := s.db.ExecContext(ctx, s.q(`DELETE FROM idempotency_keys WHERE customer_id = ?`), customerID)
	if err != nil {
		return fmt.Errorf("sqlstore: forget idempotent responses: %w", classify(err))
	}
	return nil
}

// SweepIdempotency deletes keys older than IdempotencyTTL and returns how
// many. BeginIdempotent calls it at most once a minute; expired keys are
// ignored before they are swept.
func (s *Store) SweepIdempotency(ctx context.Context) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM idempotency_keys WHERE created_at < ?`),
		micros(s.now().UTC().Add(-IdempotencyTTL)))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: sweep idempotency keys: %w", classify(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// sweepIdempotency runs SweepIdempotency when the last sweep of this store
// is older than idempotencySweepEvery. A failed sweep is retried later: it
// only costs space.
func (s *Store) sweepIdempotency(ctx context.Context, now time.Time) {
	s.sweepMu.Lock()
	if !s.lastSweep.IsZero() && now.Sub(s.lastSweep) < idempotencySweepEvery {
		s.sweepMu.Unlock()
		return
	}
	s.lastSweep = now
	s.sweepMu.Unlock()
	_, _ = s.SweepIdempotency(ctx)
}
