// Package retry is the one retry loop of the gateway: exponential backoff
// with jitter, a Retry-After-style floor when the error carries one, and
// waits that end the moment the caller's context does. It owns no policy of
// its own beyond defaults and imports nothing of the gateway.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Policy says how often and how long to retry.
type Policy struct {
	// Base is the first wait (default 100ms); each retry doubles it.
	Base time.Duration
	// Max caps a wait (default 5s), before a Retry-After floor.
	Max time.Duration
	// Attempts bounds the calls of fn; 0 retries until ctx ends.
	Attempts int
	// Retryable reports whether an error is worth another try; nil retries
	// every error.
	Retryable func(error) bool
	// OnRetry is told of each failure that will be retried, and the wait.
	OnRetry func(err error, wait time.Duration)
}

// Delayer is implemented by errors that carry the least wait before the
// next try (a provider's Retry-After).
type Delayer interface {
	RetryDelay() time.Duration
}

// Backoff is the wait before retry number attempt (0 for the first
// retry): Base doubled per attempt and capped at Max, jittered to between
// half and all of it, and never shorter than the delay err carries.
func (p Policy) Backoff(attempt int, err error) time.Duration {
	base, limit := p.Base, p.Max
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if limit <= 0 {
		limit = 5 * time.Second
	}
	d := min(base, limit)
	for i := 0; i < attempt && d < limit; i++ {
		if d > limit/2 {
			d = limit
		} else {
			d *= 2
		}
	}
	d = d/2 + rand.N(d/2+1)
	var dl Delayer
	if errors.As(err, &dl) && dl.RetryDelay() > d {
		d = dl.RetryDelay()
	}
	return d
}

// Do calls fn until it returns nil, returns an error that is not
// retryable, has been called Attempts times, or ctx ends during a wait.
// fn is always called at least once; Do returns fn's last error (nil on
// success), so a caller that must tell "ctx ended" apart checks ctx.Err().
func Do(ctx context.Context, p Policy, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || (p.Retryable != nil && !p.Retryable(err)) {
			return err
		}
		if p.Attempts > 0 && attempt+1 >= p.Attempts {
			return err
		}
		wait := p.Backoff(attempt, err)
		if p.OnRetry != nil {
			p.OnRetry(err, wait)
		}
		if !Sleep(ctx, wait) {
			return err
		}
	}
}

// Sleep waits for d or until ctx ends, and reports whether the whole wait
// passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
