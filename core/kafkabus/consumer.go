package kafkabus

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Consumer reads topics as a member of a consumer group. Offsets are only
// committed by Commit, never automatically.
type Consumer struct {
	r *kafka.Reader

	mu sync.Mutex
	// behind is, per partition this member fetched from since the last
	// rebalance, how many of its records were not yet committed when the
	// last committed one was fetched (its high watermark minus its offset
	// + 1), or the first fetched one before any commit.
	behind map[topicPartition]int64
}

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	Brokers []string
	Group   string
	Topics  []string
	// FromEnd starts a new group at the end of the topics instead of the
	// beginning (live fan-out, where the past does not matter).
	FromEnd bool
}

// NewConsumer joins the group lazily, on the first fetch.
func NewConsumer(cfg ConsumerConfig) *Consumer {
	start := kafka.FirstOffset
	if cfg.FromEnd {
		start = kafka.LastOffset
	}
	return &Consumer{behind: map[topicPartition]int64{}, r: kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Brokers,
		GroupID:           cfg.Group,
		GroupTopics:       cfg.Topics,
		StartOffset:       start,
		MinBytes:          1,
		MaxBytes:          16 << 20,
		MaxWait:           250 * time.Millisecond,
		CommitInterval:    0, // synchronous commits, after the database commit
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
		ReadBackoffMin:    10 * time.Millisecond,
		ReadBackoffMax:    250 * time.Millisecond,
		QueueCapacity:     1000,
	})}
}

// FetchBatch waits for one record, then takes those that follow it without
// delay, up to max. Records are returned in the order of each partition.
func (c *Consumer) FetchBatch(ctx context.Context, max int) ([]kafka.Message, error) {
	m, err := c.r.FetchMessage(ctx)
	if err != nil {
		return nil, err
	}
	batch := []kafka.Message{m}
	defer func() { c.seen(batch) }()
	for len(batch) < max {
		short, cancel := context.WithTimeout(ctx, 2*time.Millisecond)
		m, err := c.r.FetchMessage(short)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				break
			}
			return batch, nil
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// Commit commits the offsets past the given records.
func (c *Consumer) Commit(ctx context.Context, msgs ...kafka.Message) error {
	if err := c.r.CommitMessages(ctx, msgs...); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs { // in each partition's order: its last one stays
		c.behind[topicPartition{m.Topic, m.Partition}] = max(0, m.HighWaterMark-m.Offset-1)
	}
	return nil
}

// seen counts a fetched batch's partitions that Lag does not know yet as
// behind by their first record and all that followed it.
func (c *Consumer) seen(batch []kafka.Message) {
	rebalanced := c.r.Stats().Rebalances > 0 // since the previous batch
	c.mu.Lock()
	defer c.mu.Unlock()
	if rebalanced {
		clear(c.behind)
	}
	for _, m := range batch {
		tp := topicPartition{m.Topic, m.Partition}
		if _, ok := c.behind[tp]; !ok {
			c.behind[tp] = max(0, m.HighWaterMark-m.Offset)
		}
	}
}

// Lag returns how many records the member is behind on the partitions it
// fetched from since the last rebalance: for each, the records that
// followed its last committed one (or, before a commit, the first fetched
// one and those after it) when that one was fetched, added up.
// That counts what waits in the reader's queue and on every partition, not
// only (as kafka-go's own figure does) what follows the last record one of
// the partition fetchers took into that queue; records produced after the
// last fetch are not seen until the next. The first batch after a
// rebalance forgets the partitions, which come back as they are fetched
// from again.
func (c *Consumer) Lag() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum int64
	for _, n := range c.behind {
		sum += n
	}
	return sum
}

// Close leaves the group.
func (c *Consumer) Close() error { return c.r.Close() }

// LagGauge exports the lag of a group's members in this process, the sum
// of lag's answers.
func LagGauge(reg prometheus.Registerer, group string, lag func() int64) {
	if reg == nil {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "gateway", Subsystem: "kafka", Name: "consumer_lag",
		Help:        "Records the consumer group's members in this process have not consumed yet, as last seen by their readers.",
		ConstLabels: prometheus.Labels{"group": group},
	}, func() float64 { return float64(lag()) }))
}
