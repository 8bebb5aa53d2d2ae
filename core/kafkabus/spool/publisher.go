package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/retry"
)

// Producer takes records to Kafka and returns once they are acknowledged
// (kafkabus.Producer).
type Producer interface {
	Produce(ctx context.Context, recs ...kafkabus.Record) error
}

var _ Producer = (*kafkabus.Producer)(nil)

// Unavailable reports whether err means Kafka did not take the records
// (unreachable, not enough in-sync replicas, a produce timeout), as opposed
// to records that could never be produced.
func Unavailable(err error) bool {
	return errors.Is(err, kafkabus.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// Publisher produces to Kafka directly while the spool is empty, and
// spools records when Kafka does not take them, or when records wait in the
// spool already (so nothing overtakes them; the Drainer empties it).
type Publisher struct {
	kafka   Producer
	spool   *Spool
	drainer *Drainer
}

var _ Producer = (*Publisher)(nil)

// NewPublisher returns a publisher that spools to s what kafka does not
// take, and wakes d.
func NewPublisher(kafka Producer, s *Spool, d *Drainer) *Publisher {
	return &Publisher{kafka: kafka, spool: s, drainer: d}
}

// Produce returns nil once the records are in Kafka or fsynced in the
// spool. A full or failing spool returns an error wrapping
// kafkabus.ErrUnavailable.
func (p *Publisher) Produce(ctx context.Context, recs ...kafkabus.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if p.spool.Empty() {
		err := p.kafka.Produce(ctx, recs...)
		if err == nil || !Unavailable(err) {
			return err
		}
	}
	// Kafka may have taken some of the records before failing: they may
	// reach it twice (consumers drop duplicates by provider message id).
	if err := p.spool.Append(recs...); err != nil {
		return fmt.Errorf("%w: %v", kafkabus.ErrUnavailable, err)
	}
	p.drainer.Wake()
	return nil
}

// Drainer hands spooled records to Kafka, oldest first, and acknowledges
// them in the spool once Kafka has.
type Drainer struct {
	spool *Spool
	kafka Producer
	log   *slog.Logger
	wake  chan struct{}
	// BatchRecords and BatchBytes bound one produce call.
	BatchRecords int
	BatchBytes   int64
	// Retry paces produce attempts while Kafka does not take the records.
	Retry retry.Policy
}

// NewDrainer returns a drainer of s into kafka.
func NewDrainer(s *Spool, kafka Producer, log *slog.Logger) *Drainer {
	return &Drainer{spool: s, kafka: kafka, log: log, wake: make(chan struct{}, 1),
		BatchRecords: 500, BatchBytes: 1 << 20,
		Retry: retry.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second}}
}

// Wake tells the drainer records were spooled.
func (d *Drainer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run drains until ctx ends; records it has not handed over stay spooled.
func (d *Drainer) Run(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		if d.spool.Empty() {
			select {
			case <-ctx.Done():
				return
			case <-d.wake:
			}
			continue
		}
		err := d.drainOnce(ctx)
		if err == nil {
			if failures > 0 || d.spool.Empty() {
				d.log.Info("spool: records drained to Kafka", "records_left", d.spool.Records())
			}
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if failures == 0 {
			d.log.Warn("spool: Kafka does not take the spooled records yet; retrying", "records", d.spool.Records(), "error", err)
		}
		if !retry.Sleep(ctx, d.Retry.Backoff(min(failures, 10), err)) {
			return
		}
		failures++
	}
}

func (d *Drainer) drainOnce(ctx context.Context) error {
	b, err := d.spool.Read(d.BatchRecords, d.BatchBytes)
	if err != nil {
		return err
	}
	if len(b.Records) > 0 {
		if err := d.kafka.Produce(ctx, b.Records...); err != nil {
			return err
		}
	}
	return d.spool.Ack(b)
}
