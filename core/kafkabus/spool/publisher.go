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
	kafka   kafkabus.Publisher
	spool   *Spool
	drainer *Drainer
	share   int64 // spool bytes past which this publisher spools nothing (0: all of it)
}

var _ kafkabus.Publisher = (*Publisher)(nil)

// NewPublisher returns a publisher that spools to s what kafka does not
// take, and wakes d.
func NewPublisher(kafka kafkabus.Publisher, s *Spool, d *Drainer) *Publisher {
	return &Publisher{kafka: kafka, spool: s, drainer: d}
}

// Share returns a publisher of the same spool that spools records only
// while the spool holds less than maxBytes: what it publishes can never take
// the room the others need (the web chat's share leaves the rest to the
// providers' webhooks). Past its share it returns an error wrapping
// kafkabus.ErrUnavailable, as a full spool does.
func (p *Publisher) Share(maxBytes int64) *Publisher {
	q := *p
	q.share = max(maxBytes, 1)
	return &q
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
	if err := p.spool.AppendWithin(p.share, recs...); err != nil {
		return fmt.Errorf("%w: %v", kafkabus.ErrUnavailable, err)
	}
	p.drainer.Wake()
	return nil
}

// Drainer hands spooled records to Kafka, oldest first, and acknowledges
// them in the spool once Kafka has.
type Drainer struct {
	spool *Spool
	kafka kafkabus.Publisher
	log   *slog.Logger
	wake  chan struct{}
	// BatchRecords and BatchBytes bound one produce call.
	BatchRecords int
	BatchBytes   int64
	// Retry paces produce attempts while Kafka does not take the records.
	Retry retry.Policy
	// isolate counts the records still to send one at a time after Kafka
	// refused a record of a batch.
	isolate int
}

// NewDrainer returns a drainer of s into kafka.
func NewDrainer(s *Spool, kafka kafkabus.Publisher, log *slog.Logger) *Drainer {
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

// drainOnce hands one batch to Kafka. When Kafka refuses a record of it
// for good (kafkabus.ErrRejected), the batch's records go one at a time
// until the refused one is found and set aside (Spool.Reject): it never
// holds up the records behind it.
func (d *Drainer) drainOnce(ctx context.Context) error {
	n := d.BatchRecords
	if d.isolate > 0 {
		n = 1
	}
	b, err := d.spool.Read(n, d.BatchBytes)
	if err != nil {
		return err
	}
	if len(b.Records) > 0 {
		err := d.kafka.Produce(ctx, b.Records...)
		switch {
		case errors.Is(err, kafkabus.ErrRejected) && len(b.Records) > 1:
			d.isolate = len(b.Records)
			return nil
		case errors.Is(err, kafkabus.ErrRejected):
			path, rerr := d.spool.Reject(b)
			if rerr != nil {
				return rerr
			}
			r := b.Records[0]
			d.log.Error("spool: Kafka refuses a spooled record for good; set aside, the drain goes on", "topic", r.Topic,
				"bytes", len(r.Value), "file", path, "error", err)
			d.isolate = max(d.isolate-1, 0)
			return nil
		case err != nil:
			return err
		}
	}
	d.isolate = max(d.isolate-len(b.Records), 0)
	return d.spool.Ack(b)
}
