package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/normalize"
)

// Source is a consumer-group reader (kafkabus.Consumer).
type Source interface {
	FetchBatch(ctx context.Context, max int) ([]kafka.Message, error)
	Commit(ctx context.Context, msgs ...kafka.Message) error
}

// Sink produces records (dead letters).
type Sink interface {
	ProduceDLQ(ctx context.Context, m kafka.Message, reason string, err error) error
}

// Consumer feeds inbound.v1 to the service: one database transaction per
// fetched batch, the offsets committed only after it commits, poison records
// to the dead-letter topic, transient failures retried without committing.
type Consumer struct {
	svc      *Service
	src      Source
	dlq      Sink
	log      *slog.Logger
	maxBatch int
}

// DefaultBatch is the most records applied in one transaction: small
// batches keep webhook → events.v1 latency low (each batch waits for the
// one before it), large ones raise throughput.
const DefaultBatch = 100

// NewConsumer returns the inbound consumer; maxBatch <= 0 means DefaultBatch.
func NewConsumer(svc *Service, src Source, dlq Sink, log *slog.Logger, maxBatch int) *Consumer {
	if maxBatch <= 0 {
		maxBatch = DefaultBatch
	}
	return &Consumer{svc: svc, src: src, dlq: dlq, log: log, maxBatch: maxBatch}
}

// Run consumes until ctx ends. A batch under way when ctx ends is finished
// and committed (given up to 10 seconds), so a clean stop redelivers nothing.
func (c *Consumer) Run(ctx context.Context) error {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(10*time.Second, cancel) })
	defer stop()
	for {
		batch, err := c.src.FetchBatch(ctx, c.maxBatch)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Error("core: fetch", "error", err)
			if !sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		if err := c.handle(work, batch); err != nil {
			if work.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// handle processes one batch and commits its offsets; it retries transient
// failures until they pass or ctx ends.
func (c *Consumer) handle(ctx context.Context, batch []kafka.Message) error {
	ins := make([]Inbound, 0, len(batch))
	recs := make([]kafka.Message, 0, len(batch))
	for _, m := range batch {
		in, err := decodeInbound(m.Value)
		if err != nil {
			if err := c.deadLetter(ctx, m, "undecodable", err); err != nil {
				return err
			}
			continue
		}
		if in.Message != nil && c.svc.hasPendingMedia(in.Message) {
			// Files are copied before the transaction, never inside it; the
			// provider got its answer long ago.
			if err := c.svc.media.Copy(ctx, in.Message); err != nil {
				return err
			}
		}
		ins = append(ins, in)
		recs = append(recs, m)
	}
	if err := c.apply(ctx, ins, recs); err != nil {
		return err
	}
	return retryAll(ctx, c.log, "commit offsets", func() error { return c.src.Commit(ctx, batch...) })
}

// apply runs the batch in one transaction; if it fails for good, each record
// is tried alone so that only the poison one goes to the dead-letter topic.
// recs[i] is the record ins[i] was decoded from.
func (c *Consumer) apply(ctx context.Context, ins []Inbound, recs []kafka.Message) error {
	if len(ins) == 0 {
		return nil
	}
	err := retry(ctx, c.log, "apply batch", func() error { _, err := c.svc.HandleInbound(ctx, ins); return err })
	if err == nil || ctx.Err() != nil {
		return err
	}
	if len(ins) == 1 {
		return c.deadLetter(ctx, recs[0], "failed", err)
	}
	for i := range ins {
		one := ins[i : i+1]
		err := retry(ctx, c.log, "apply record", func() error { _, err := c.svc.HandleInbound(ctx, one); return err })
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

func (c *Consumer) deadLetter(ctx context.Context, m kafka.Message, reason string, err error) error {
	c.log.Warn("core: dead letter", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "reason", reason, "error", err)
	c.svc.metrics.deadLetter(reason)
	return retryAll(ctx, c.log, "dead letter", func() error { return c.dlq.ProduceDLQ(ctx, m, reason, err) })
}

func decodeInbound(b []byte) (Inbound, error) {
	ev, err := normalize.DecodeEvent(b)
	if err != nil {
		return Inbound{}, err
	}
	in := Inbound{Event: ev}
	switch ev.Type {
	case normalize.TypeMessageReceived:
		m, err := ev.DecodeMessage()
		if err != nil {
			return Inbound{}, err
		}
		in.Message = &m
	case normalize.TypeMessageStatus:
		s, err := ev.DecodeStatus()
		if err != nil {
			return Inbound{}, err
		}
		in.Status = &s
	default:
		return Inbound{}, fmt.Errorf("%w: unknown type %q", normalize.ErrEvent, ev.Type)
	}
	return in, nil
}

// retry runs fn until it succeeds, fails permanently, or ctx ends; errors
// wrapping ErrTransient back off from 100ms to 5s.
func retry(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	return retryIf(ctx, log, what, fn, func(err error) bool { return errors.Is(err, ErrTransient) })
}

// retryAll retries every error but the end of ctx (Kafka commits and
// produces, which have no permanent failure worth skipping a record for).
func retryAll(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	return retryIf(ctx, log, what, fn, func(error) bool { return ctx.Err() == nil })
}

func retryIf(ctx context.Context, log *slog.Logger, what string, fn func() error, transient func(error) bool) error {
	wait := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil || !transient(err) {
			return err
		}
		log.Warn("core: retrying", "what", what, "in", wait, "error", err)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
