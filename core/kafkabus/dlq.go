package kafkabus

import (
	"context"
	"strconv"

	"github.com/segmentio/kafka-go"
)

// DLQ writes records that could not be processed to the dead-letter topic,
// under their original key, with the original headers and the reason.
type DLQ struct {
	Producer *Producer
	Topic    string
}

// ProduceDLQ dead-letters one record.
func (d DLQ) ProduceDLQ(ctx context.Context, m kafka.Message, reason string, cause error) error {
	hs := append([]kafka.Header{}, m.Headers...)
	hs = append(hs,
		kafka.Header{Key: "dlq-reason", Value: []byte(reason)},
		kafka.Header{Key: "dlq-error", Value: []byte(cause.Error())},
		kafka.Header{Key: "dlq-topic", Value: []byte(m.Topic)},
		kafka.Header{Key: "dlq-partition", Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: "dlq-offset", Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	return d.Producer.Produce(ctx, Record{Topic: d.Topic, Key: m.Key, Value: m.Value, Headers: hs})
}
