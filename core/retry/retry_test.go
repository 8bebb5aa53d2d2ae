package retry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/retry"
)

// The wait doubles per attempt, stays between half and all of the
// doubled base, and never exceeds Max.
func TestBackoffGrowsJitteredAndCapped(t *testing.T) {
	p := retry.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second}
	for attempt, full := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000, 2000} {
		full *= time.Millisecond
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Backoff(attempt, nil)
			if d < full/2 || d > full {
				t.Fatalf("attempt %d: wait %v, want between %v and %v", attempt, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Fatalf("attempt %d: the wait is not jittered (%v)", attempt, seen)
		}
	}
	if d := p.Backoff(500, nil); d > 2*time.Second || d < time.Second {
		t.Fatalf("a large attempt overflowed the cap: %v", d)
	}
}

func TestBackoffDefaults(t *testing.T) {
	var p retry.Policy
	if d := p.Backoff(0, nil); d < 50*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("first default wait %v, want 50ms..100ms", d)
	}
	if d := p.Backoff(20, nil); d < 2500*time.Millisecond || d > 5*time.Second {
		t.Fatalf("capped default wait %v, want 2.5s..5s", d)
	}
}

type throttled struct{ after time.Duration }

func (e throttled) Error() string             { return "429 too many requests" }
func (e throttled) RetryDelay() time.Duration { return e.after }
func wrapped(d time.Duration) error           { return fmt.Errorf("send: %w", throttled{d}) }
func never(error) bool                        { return false }
func always(error) bool                       { return true }
func quick(n int) retry.Policy {
	return retry.Policy{Base: time.Millisecond, Max: time.Millisecond, Attempts: n}
}
func counting(n *int, err error) func() error  { return func() error { *n++; return err } }
func failingUntil(n *int, ok int) func() error { return func() error { *n++; return errIf(*n < ok) } }
func errIf(b bool) error {
	if b {
		return errors.New("down")
	}
	return nil
}

// A Retry-After longer than the backoff is the wait; a shorter one is not.
func TestBackoffHonoursRetryAfter(t *testing.T) {
	p := retry.Policy{Base: 100 * time.Millisecond, Max: time.Second}
	if d := p.Backoff(0, wrapped(30*time.Second)); d != 30*time.Second {
		t.Fatalf("wait %v, want the 30s Retry-After", d)
	}
	if d := p.Backoff(0, wrapped(time.Millisecond)); d < 50*time.Millisecond {
		t.Fatalf("wait %v: a short Retry-After shortened the backoff", d)
	}
}

func TestDo(t *testing.T) {
	ctx := context.Background()
	var n int
	if err := retry.Do(ctx, quick(0), failingUntil(&n, 3)); err != nil || n != 3 {
		t.Fatalf("err %v after %d calls, want success on the third", err, n)
	}
	n = 0
	boom := errors.New("boom")
	if err := retry.Do(ctx, quick(4), counting(&n, boom)); !errors.Is(err, boom) || n != 4 {
		t.Fatalf("err %v after %d calls, want boom after 4", err, n)
	}
	n = 0
	p := quick(0)
	p.Retryable = never
	if err := retry.Do(ctx, p, counting(&n, boom)); !errors.Is(err, boom) || n != 1 {
		t.Fatalf("err %v after %d calls, want a permanent error returned at once", err, n)
	}
	n = 0
	p.Retryable = always
	var waits []time.Duration
	p.Attempts = 3
	p.OnRetry = func(_ error, d time.Duration) { waits = append(waits, d) }
	_ = retry.Do(ctx, p, counting(&n, boom))
	if len(waits) != 2 {
		t.Fatalf("OnRetry told of %d waits, want 2", len(waits))
	}
}

// Ending ctx ends the wait at once: the policy's wait is an hour, the
// test gives Do five seconds.
func TestDoReturnsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	boom := errors.New("boom")
	var n int
	done := make(chan error, 1)
	go func() { done <- retry.Do(ctx, retry.Policy{Base: time.Hour, Max: time.Hour}, counting(&n, boom)) }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) || n != 1 {
			t.Fatalf("err %v after %d calls, want the last error after one call", err, n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Do kept waiting after ctx ended")
	}
	if retry.Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on an ended ctx reported a full wait")
	}
	if !retry.Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep cut a wait short without cause")
	}
}
