package spool_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/kafkabus/publishertest"
	"github.com/opengateway/gateway/core/kafkabus/spool"
)

// kafkaDown takes no record, as Kafka does while it is unreachable.
type kafkaDown struct{}

func (kafkaDown) Produce(context.Context, ...kafkabus.Record) error {
	return fmt.Errorf("%w: connection refused", kafkabus.ErrUnavailable)
}

// The spool's publisher keeps the Publisher contract while Kafka is down
// (every record goes to the spool), the spool reopened from disk to check
// what is durable.
func TestPublisherConformance(t *testing.T) {
	publishertest.Run(t, func(t *testing.T) publishertest.Backend {
		dir := t.TempDir()
		opt := spool.Options{MaxBytes: 64 << 10, Log: slog.New(slog.DiscardHandler)}
		s, err := spool.Open(dir, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		p := spool.NewPublisher(kafkaDown{}, s, spool.NewDrainer(s, kafkaDown{}, opt.Log))
		const topic = "gateway.inbound.v1"
		return publishertest.Backend{
			Publisher: p,
			Topic:     topic,
			Durable: func(t *testing.T) []kafkabus.Record {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				again, err := spool.Open(dir, opt)
				if err != nil {
					t.Fatal(err)
				}
				defer again.Close()
				b, err := again.Read(1<<20, 1<<30)
				if err != nil {
					t.Fatal(err)
				}
				return b.Records
			},
			Refused: func(*testing.T) []kafkabus.Record {
				return []kafkabus.Record{{Topic: topic, Key: []byte("big"), Value: make([]byte, 128<<10)}}
			},
			Close: func(t *testing.T) {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
