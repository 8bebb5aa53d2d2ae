package connectors

import (
	"context"
	"testing"
	"time"
)

// The webhook requests of a slot share one context, and so one timer;
// each still gets at least its timeout and at most a slot more.
func TestRequestsOfASlotShareADeadline(t *testing.T) {
	d := &deadlines{timeout: 10 * time.Second}
	t0 := time.Now()
	first, cancel := d.at(context.Background(), t0)
	cancel() // must not end the context the others share
	if first.Err() != nil {
		t.Fatal("a request's cancel ended the shared context")
	}
	for _, after := range []time.Duration{0, time.Millisecond, deadlineSlot / 2, deadlineSlot, deadlineSlot + time.Millisecond, time.Second} {
		now := t0.Add(after)
		ctx, _ := d.at(context.Background(), now)
		end, ok := ctx.Deadline()
		if !ok || end.Before(now.Add(d.timeout)) || end.After(now.Add(d.timeout+deadlineSlot)) {
			t.Errorf("+%v: deadline %v after the request, want between %v and %v", after, end.Sub(now), d.timeout, d.timeout+deadlineSlot)
		}
		if shared := ctx == first; shared != (after <= deadlineSlot) {
			t.Errorf("+%v: shares the first request's context: %v", after, shared)
		}
	}
	// A request with a context of its own keeps it (its values, its end).
	type key struct{}
	parent, stop := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx, cancel := d.at(parent, time.Now())
	defer cancel()
	stop()
	if ctx.Value(key{}) != "v" || ctx.Err() == nil {
		t.Errorf("a request's own context was not kept: value %v, err %v", ctx.Value(key{}), ctx.Err())
	}
}

// The shared context ends at its deadline: a request stuck on Kafka is
// still answered.
func TestSharedDeadlineEnds(t *testing.T) {
	d := &deadlines{timeout: 20 * time.Millisecond}
	ctx, _ := d.at(context.Background(), time.Now())
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the shared context did not end")
	}
	if next, _ := d.at(context.Background(), time.Now()); next == ctx || next.Err() != nil {
		t.Fatal("a request after the end got the ended context")
	}
}
