package core

import (
	"context"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/normalize"
)

// Producer takes records to Kafka (kafkabus.Producer).
type Producer interface {
	Produce(ctx context.Context, recs ...kafkabus.Record) error
}

// Relay publishes the event outbox to Kafka: events are written in the
// transaction that caused them and relayed after it commits, so none is lost
// if the process dies in between (a crash can publish one twice; consumers
// dedupe on the event id).
type Relay struct {
	store   Store
	prod    Producer
	log     *slog.Logger
	metrics *Metrics
	wake    chan struct{}
	poll    time.Duration
}

// NewRelay returns a relay; Wake nudges it after a commit.
func NewRelay(store Store, prod Producer, log *slog.Logger, m *Metrics) *Relay {
	return &Relay{store: store, prod: prod, log: log, metrics: m, wake: make(chan struct{}, 1), poll: time.Second}
}

// Wake tells the relay there are new events. It never blocks.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends, then drains what is left once.
func (r *Relay) Run(ctx context.Context) {
	t := time.NewTicker(r.poll)
	defer t.Stop()
	for {
		r.drain(ctx)
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r.drain(final)
			cancel()
			return
		case <-r.wake:
		case <-t.C:
		}
	}
}

const relayBatch = 1000

func (r *Relay) drain(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := r.store.ClaimEvents(ctx, relayBatch, func(evs []OutboxEvent) error {
			recs := make([]kafkabus.Record, len(evs))
			for i, e := range evs {
				recs[i] = kafkabus.Record{Topic: e.Topic, Key: []byte(e.Key), Value: e.Value,
					Headers: []kafka.Header{{Key: "content-type", Value: []byte(normalize.ContentType)}}}
			}
			return r.prod.Produce(ctx, recs...)
		})
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("core: relay events", "error", err)
			}
			return
		}
		r.metrics.relayed.Add(float64(n))
		if n < relayBatch {
			return
		}
	}
}
