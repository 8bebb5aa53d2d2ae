package kafkabus

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/retry"
	"github.com/opengateway/gateway/normalize"
)

// InboundHandler is what the inbound consumer needs of the conversation
// engine (core.Service).
type InboundHandler interface {
	// HandleInbound applies a batch in one transaction.
	HandleInbound(ctx context.Context, batch []core.Inbound) ([]string, error)
	// CopyMedia copies the pending attachments of a message (or of an
	// update, see core.Inbound.Files) before it is applied.
	CopyMedia(ctx context.Context, m *normalize.Message) error
}

// DeadLetterCounter counts dead-lettered records by reason (core.Metrics).
type DeadLetterCounter interface {
	DeadLetter(reason string)
}

// InboundConsumer feeds inbound.v1 to the engine: one database transaction
// per fetched batch, poison records to the dead-letter topic, transient
// failures retried. It is the Handler of the core's consume loop, which
// commits the offsets only after the transaction commits.
type InboundConsumer struct {
	svc      InboundHandler
	src      Source
	dlq      DeadLetters
	log      *slog.Logger
	dead     DeadLetterCounter
	maxBatch int
}

// DefaultBatch is the most records applied in one transaction: small
// batches keep webhook → events.v1 latency low (each batch waits for the
// one before it), large ones raise throughput.
const DefaultBatch = 100

// NewInboundConsumer returns the inbound consumer; maxBatch <= 0 means
// DefaultBatch.
func NewInboundConsumer(svc InboundHandler, src Source, dlq DeadLetters, log *slog.Logger, dead DeadLetterCounter, maxBatch int) *InboundConsumer {
	if maxBatch <= 0 {
		maxBatch = DefaultBatch
	}
	return &InboundConsumer{svc: svc, src: src, dlq: dlq, log: log, dead: dead, maxBatch: maxBatch}
}

// Run consumes inbound.v1 with the consume loop (Loop) until ctx ends.
func (c *InboundConsumer) Run(ctx context.Context) error {
	return Loop{Name: "core", Source: c.src, Handler: c, MaxBatch: c.maxBatch, Log: c.log}.Run(ctx)
}

var _ Handler = (*InboundConsumer)(nil)

// Handle applies one batch: undecodable records go to the dead-letter
// topic, the others to the engine in one transaction. It retries transient
// failures until they pass or ctx ends.
func (c *InboundConsumer) Handle(ctx context.Context, batch []kafka.Message) error {
	ins := make([]core.Inbound, 0, len(batch))
	recs := make([]kafka.Message, 0, len(batch))
	for _, m := range batch {
		in, err := core.DecodeInbound(m.Value)
		if err != nil {
			if err := c.deadLetter(ctx, m, "undecodable", err); err != nil {
				return err
			}
			continue
		}
		// The record's timestamp is when the ingest handed the accepted
		// webhook to Kafka: the gateway's receipt time.
		in.ReceivedAt = m.Time
		if f := in.Files(); f != nil {
			// The provider got its answer long ago.
			if err := c.svc.CopyMedia(ctx, f); err != nil {
				return err
			}
		}
		ins = append(ins, in)
		recs = append(recs, m)
	}
	return c.apply(ctx, ins, recs)
}

// apply runs the batch in one transaction; if it fails for good, each record
// is tried alone so that only the poison one goes to the dead-letter topic.
// recs[i] is the record ins[i] was decoded from.
func (c *InboundConsumer) apply(ctx context.Context, ins []core.Inbound, recs []kafka.Message) error {
	if len(ins) == 0 {
		return nil
	}
	transient := c.policy("apply batch", isTransient)
	err := retry.Do(ctx, transient, func() error { _, err := c.svc.HandleInbound(ctx, ins); return err })
	if err == nil || ctx.Err() != nil {
		return err
	}
	if len(ins) == 1 {
		return c.deadLetter(ctx, recs[0], "failed", err)
	}
	transient = c.policy("apply record", isTransient)
	for i := range ins {
		one := ins[i : i+1]
		err := retry.Do(ctx, transient, func() error { _, err := c.svc.HandleInbound(ctx, one); return err })
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return err
		default:
			if err := c.deadLetter(ctx, recs[i], "failed", err); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *InboundConsumer) deadLetter(ctx context.Context, m kafka.Message, reason string, err error) error {
	c.log.Warn("core: dead letter", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "reason", reason, "error", err)
	c.dead.DeadLetter(reason)
	return retry.Do(ctx, c.policy("dead letter", nil), func() error { return c.dlq.ProduceDLQ(ctx, m, reason, err) })
}

// policy retries errors that retryable accepts (nil: every error, for
// Kafka produces, which have no permanent failure worth skipping a record
// for) from 100ms up to 5s, until ctx ends.
func (c *InboundConsumer) policy(what string, retryable func(error) bool) retry.Policy {
	return retry.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second, Retryable: retryable,
		OnRetry: func(err error, wait time.Duration) {
			c.log.Warn("core: retrying", "what", what, "in", wait, "error", err)
		}}
}

func isTransient(err error) bool { return errors.Is(err, core.ErrTransient) }
