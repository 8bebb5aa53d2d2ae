package kafkabus

import (
	"context"
	"strconv"

	"github.com/segmentio/kafka-go"
)

// DLQ writes records that could not be processed to the dead-letter topic,
// under their original key, with the original headers and the reason.
type DLQ struct {
	Producer Publisher
	Topic    string
}

// ProduceDLQ dead-letters one record.
func (d DLQ) ProduceDLQ(ctx context.Context, m kafka.Message, reason string, cause error) error {
	hs := append([]kafka.Header{}, m.Headers...)
	hs = append(hs, DeadLetterHeaders(reason, cause.Error(), m.Topic, m.Partition, m.Offset)...)
	return d.Producer.Produce(ctx, Record{Topic: d.Topic, Key: m.Key, Value: m.Value, Headers: hs})
}

// OutboxSource is the dlq-topic of a reply the outbox failed for good: it
// came from no record (dlq-partition and dlq-offset are -1).
const OutboxSource = "outbox"

// DeadLetterHeaders are the headers of every record on the dead-letter
// topic: why (dlq-reason, a code; dlq-error, the message) and where the
// record came from (dlq-topic, dlq-partition, dlq-offset).
func DeadLetterHeaders(reason, errText, topic string, partition int, offset int64) []kafka.Header {
	return []kafka.Header{
		{Key: "dlq-reason", Value: []byte(reason)},
		{Key: "dlq-error", Value: []byte(errText)},
		{Key: "dlq-topic", Value: []byte(topic)},
		{Key: "dlq-partition", Value: []byte(strconv.Itoa(partition))},
		{Key: "dlq-offset", Value: []byte(strconv.FormatInt(offset, 10))},
	}
}
