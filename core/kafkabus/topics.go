package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/segmentio/kafka-go"
)

// Topic names without the prefix.
const (
	TopicRaw      = "raw.v1"
	TopicInbound  = "inbound.v1"
	TopicEvents   = "events.v1"
	TopicOutbound = "outbound.v1"
	TopicDLQ      = "dlq.v1"
	// TopicCommands carries the operator actions of bots (CommandConsumer).
	TopicCommands = "commands.v1"
)

// Topics names the gateway's topics under one prefix.
type Topics struct{ Prefix string }

func (t Topics) Raw() string      { return t.Prefix + TopicRaw }
func (t Topics) Inbound() string  { return t.Prefix + TopicInbound }
func (t Topics) Events() string   { return t.Prefix + TopicEvents }
func (t Topics) Outbound() string { return t.Prefix + TopicOutbound }
func (t Topics) DLQ() string      { return t.Prefix + TopicDLQ }
func (t Topics) Commands() string { return t.Prefix + TopicCommands }

// All returns every topic name.
func (t Topics) All() []string {
	return []string{t.Raw(), t.Inbound(), t.Events(), t.Outbound(), t.DLQ(), t.Commands()}
}

// MaxRecordBytes is the max.message.bytes of the topics the gateway
// creates: a raw.v1 record holds a webhook's whole body (up to 32 MiB for
// SendGrid Inbound Parse) and its headers, far over Kafka's default of
// 1 MiB, which would refuse an email with a photo attached.
const MaxRecordBytes = 34 << 20

// EnsureTopics creates the topics that do not exist yet, each taking
// records up to MaxRecordBytes. Topics that exist are left as they are.
func EnsureTopics(ctx context.Context, c *kafka.Client, names []string, partitions, replication int) error {
	req := &kafka.CreateTopicsRequest{}
	for _, n := range names {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: n, NumPartitions: partitions, ReplicationFactor: replication,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(MaxRecordBytes)}}})
	}
	resp, err := c.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("%w: create topics: %v", ErrUnavailable, err)
	}
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %s: %w", name, err)
		}
	}
	return nil
}
