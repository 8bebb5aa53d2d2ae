package kafkabus

import (
	"context"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/retry"
	"github.com/opengateway/gateway/normalize"
)

// EventClaimer hands out the event outbox in order, one instance at a
// time (core.Store).
type EventClaimer interface {
	ClaimEvents(ctx context.Context, limit int, publish func([]core.OutboxEvent) error) (int, error)
}

// RelayCounter counts relayed events (core.Metrics).
type RelayCounter interface {
	Relayed(events int)
}

// Relay publishes the event outbox to Kafka: events are written in the
// transaction that caused them and relayed after it commits, so none is lost
// if the process dies in between (a crash can publish one twice; consumers
// dedupe on the event id).
type Relay struct {
	store   EventClaimer
	prod    Publisher
	log     *slog.Logger
	metrics RelayCounter
	wake    chan struct{}
	poll    time.Duration
}

// NewRelay returns a relay; Wake nudges it after a commit.
func NewRelay(store EventClaimer, prod Publisher, log *slog.Logger, m RelayCounter) *Relay {
	return &Relay{store: store, prod: prod, log: log, metrics: m, wake: make(chan struct{}, 1), poll: time.Second}
}

// Wake tells the relay there are new events. It never blocks.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends, then drains what is left once. After a failed
// drain it waits out a backoff (up to the poll interval) instead of the
// next wake-up, so a Kafka outage is not hammered on every commit.
func (r *Relay) Run(ctx context.Context) {
	t := time.NewTicker(r.poll)
	defer t.Stop()
	backoff := retry.Policy{Base: 100 * time.Millisecond, Max: r.poll}
	for failures := 0; ; {
		if err := r.drain(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("core: relay events", "error", err)
			failures++
			if retry.Sleep(ctx, backoff.Backoff(failures-1, err)) {
				continue
			}
		} else {
			failures = 0
		}
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := r.drain(final); err != nil && final.Err() == nil {
				r.log.Warn("core: relay events", "error", err)
			}
			cancel()
			return
		case <-r.wake:
		case <-t.C:
		}
	}
}

const relayBatch = 1000

// relayBatchTimeout bounds one batch (claim, produce, mark) once it has
// started; the end of the relay's context does not cut it short.
const relayBatchTimeout = 15 * time.Second

// drain publishes claimed events until fewer than a batch are left. A
// batch under way when ctx ends is finished: cutting it short after Kafka
// took some of its records would leave them claimed-but-unmarked, and
// publish them a second time after a restart.
func (r *Relay) drain(ctx context.Context) error {
	for ctx.Err() == nil {
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), relayBatchTimeout)
		n, err := r.store.ClaimEvents(bctx, relayBatch, func(evs []core.OutboxEvent) error {
			recs := make([]Record, len(evs))
			for i, e := range evs {
				recs[i] = Record{Topic: e.Topic, Key: []byte(e.Key), Value: e.Value,
					Headers: []kafka.Header{{Key: "content-type", Value: []byte(normalize.ContentType)}}}
				if dl := e.DeadLetter; dl != nil { // a reply the outbox failed: plain JSON, not a CloudEvent
					recs[i].Headers = append([]kafka.Header{{Key: "content-type", Value: []byte("application/json")}},
						DeadLetterHeaders(dl.Reason, dl.Error, OutboxSource, -1, -1)...)
				}
			}
			return r.prod.Produce(bctx, recs...)
		})
		cancel()
		if err != nil {
			return err
		}
		r.metrics.Relayed(n)
		if n < relayBatch {
			return nil
		}
	}
	return nil
}
