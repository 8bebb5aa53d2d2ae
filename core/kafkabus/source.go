package kafkabus

import (
	"context"

	"github.com/segmentio/kafka-go"
)

// Source is a consumer-group reader that fetches a batch at a time and
// commits offsets only when told (Consumer). Every Loop reads through it.
type Source interface {
	FetchBatch(ctx context.Context, max int) ([]kafka.Message, error)
	Commit(ctx context.Context, msgs ...kafka.Message) error
}

// DeadLetters takes records that can never be processed, with the reason
// (DLQ).
type DeadLetters interface {
	ProduceDLQ(ctx context.Context, m kafka.Message, reason string, err error) error
}

var (
	_ Source      = (*Consumer)(nil)
	_ DeadLetters = DLQ{}
)
