package connectors

import (
	"context"
	"sync"
	"time"
)

// deadlineSlot is how far apart the deadlines of webhook requests may be
// and still share one context: a request's handling is bounded by between
// the route's timeout and the timeout plus this.
const deadlineSlot = 100 * time.Millisecond

// deadlines hands out the contexts that bound the handling of webhook
// requests. The requests that arrive within a slot share one context and
// its one timer: a busy gateway would otherwise arm (and stop) a timer
// for every request.
type deadlines struct {
	timeout time.Duration

	mu    sync.Mutex
	ctx   context.Context
	until time.Time // when ctx ends
}

// at returns a context that ends between timeout and timeout+deadlineSlot
// after now. parent is used as it is only when it is the background (the
// server sets no context of its own); another parent gets a context of
// its own.
func (d *deadlines) at(parent context.Context, now time.Time) (context.Context, context.CancelFunc) {
	if parent != context.Background() {
		return context.WithTimeout(parent, d.timeout)
	}
	end := now.Add(d.timeout)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil || d.until.Before(end) || d.until.Sub(end) > deadlineSlot {
		ctx, cancel := context.WithDeadline(context.Background(), end.Add(deadlineSlot))
		context.AfterFunc(ctx, cancel) // the timer ends it; nothing else may
		d.ctx, d.until = ctx, end.Add(deadlineSlot)
	}
	return d.ctx, noCancel
}

func noCancel() {}
