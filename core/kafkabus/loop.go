package kafkabus

import (
	"context"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core/retry"
)

// Handler does the work of one fetched batch. It returns nil once the
// batch's effects are durable (its database transactions committed, its
// dead letters acknowledged): only then are its offsets committed. Any
// error stops the loop without committing; it is the loop's failure unless
// the handler's ctx ended. A handler retries its own transient failures
// (core/retry) until they pass or ctx ends.
type Handler interface {
	Handle(ctx context.Context, batch []kafka.Message) error
}

// HandlerFunc is a function that is a Handler.
type HandlerFunc func(ctx context.Context, batch []kafka.Message) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, batch []kafka.Message) error { return f(ctx, batch) }

// Grace is how long the batch under way may still take once the loop's
// context ends: it is finished and committed, so a clean stop redelivers
// nothing. Past it the handler's context ends too, and the batch (not
// committed) is redelivered to whichever member takes its partitions.
const Grace = 10 * time.Second

// Loop is the one consume loop of the gateway: every consumer group
// (inbound.v1 into the core, commands.v1, outbound.v1, the web chat's
// events.v1) runs one. It fetches a batch, hands it to the handler, and
// commits the batch's offsets only after the handler returned nil. Fetch
// and commit failures are retried with backoff (core/retry) until they
// pass or the context ends. On a rebalance the reader (kafka-go) hands out
// the partitions it holds now; a batch of partitions that moved may be
// delivered to their new member as well, which every handler tolerates
// (commands carry ids, messages provider ids).
type Loop struct {
	// Name starts every log line of the loop ("core", "commands").
	Name    string
	Source  Source
	Handler Handler
	// MaxBatch is the most records handed over at once (default
	// DefaultBatch).
	MaxBatch int
	Log      *slog.Logger
}

// Run consumes until ctx ends, then finishes the batch under way (given up
// to Grace) and returns nil. It returns an error only when the handler
// fails for another reason than its context ending.
func (l Loop) Run(ctx context.Context) error {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(Grace, cancel) })
	defer stop()
	for {
		batch, ok := l.fetch(ctx)
		if !ok {
			return nil
		}
		if err := l.Handler.Handle(work, batch); err != nil {
			if work.Err() != nil {
				return nil
			}
			return err
		}
		commit := func() error { return l.Source.Commit(work, batch...) }
		if err := retry.Do(work, l.policy("commit offsets"), commit); err != nil {
			return nil // only when work ended: the batch is redelivered
		}
	}
}

// fetch waits for the next batch, retrying failed fetches until one
// passes; false once ctx ended.
func (l Loop) fetch(ctx context.Context) ([]kafka.Message, bool) {
	max := l.MaxBatch
	if max <= 0 {
		max = DefaultBatch
	}
	var batch []kafka.Message
	policy := l.policy("fetch")
	policy.Retryable = func(error) bool { return ctx.Err() == nil }
	for len(batch) == 0 {
		err := retry.Do(ctx, policy, func() (err error) {
			batch, err = l.Source.FetchBatch(ctx, max)
			return err
		})
		if err != nil || ctx.Err() != nil {
			return nil, false
		}
	}
	return batch, true
}

// policy retries every error from 100ms up to 5s, logging each retry.
func (l Loop) policy(what string) retry.Policy {
	return retry.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second,
		OnRetry: func(err error, wait time.Duration) {
			l.Log.Warn(l.Name+": retrying", "what", what, "in", wait, "error", err)
		}}
}

// Records is a Handler that applies the records of a batch one at a time,
// in order, and dead-letters those that can never be applied.
type Records struct {
	// Name starts its log lines ("outbox").
	Name string
	// Apply handles one record. It returns ("", nil) once the record's work
	// is durable; a reason and the cause when the record can never be
	// applied (it goes to the dead-letter topic with them); and ("", err)
	// only when ctx ended.
	Apply func(ctx context.Context, m kafka.Message) (refused string, err error)
	DLQ   DeadLetters
	Log   *slog.Logger
	// Done, when set, is called after each batch, before its offsets are
	// committed (a dispatcher's Wake).
	Done func()
}

var _ Handler = Records{}

// Handle applies the batch; it returns an error only when ctx ended.
func (r Records) Handle(ctx context.Context, batch []kafka.Message) error {
	for _, m := range batch {
		reason, err := r.Apply(ctx, m)
		if err == nil {
			continue
		}
		if reason == "" {
			return err
		}
		r.Log.Warn(r.Name+": record refused", "offset", m.Offset, "partition", m.Partition, "reason", reason, "error", err)
		produce := func() error { return r.DLQ.ProduceDLQ(ctx, m, reason, err) }
		if e := retry.Do(ctx, commitPolicy, produce); e != nil {
			return ctx.Err()
		}
	}
	if r.Done != nil {
		r.Done()
	}
	return nil
}
