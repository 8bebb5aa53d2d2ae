package kafkabus

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Consumer reads topics as a member of a consumer group. Offsets are only
// committed by Commit, never automatically.
type Consumer struct {
	r *kafka.Reader
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
	return &Consumer{r: kafka.NewReader(kafka.ReaderConfig{
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
	return c.r.CommitMessages(ctx, msgs...)
}

// Lag returns how many records the consumer is behind, as last seen.
func (c *Consumer) Lag() int64 { return c.r.Stats().Lag }

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
