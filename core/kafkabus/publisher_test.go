package kafkabus_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/kafkabus/publishertest"
)

// The Kafka producer keeps the Publisher contract against the embedded
// broker, restarted from its data dir to check what is durable.
func TestProducerConformance(t *testing.T) {
	publishertest.Run(t, openBroker)
}

// broker is an embedded broker persisted under dir, stopped at most once.
type broker struct {
	dir  string
	mu   sync.Mutex
	live *kafkabus.Embedded
}

func (b *broker) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.live != nil {
		b.live.Close()
		b.live = nil
	}
}

const conformanceTopic = "gateway.conformance.v1"

func openBroker(t *testing.T) publishertest.Backend {
	b := &broker{dir: t.TempDir()}
	e, err := kafkabus.StartEmbedded(b.dir, "127.0.0.1:0", 3)
	if err != nil {
		t.Fatal(err)
	}
	b.live = e
	t.Cleanup(b.stop)
	p := kafkabus.NewProducer(kafkabus.ProducerConfig{Brokers: []string{e.Addr()}, Timeout: 2 * time.Second}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafkabus.EnsureTopics(ctx, p.Client(), []string{conformanceTopic}, 3, 1); err != nil {
		t.Fatal(err)
	}
	// A topic that takes records of at most 20000 bytes.
	res, err := p.Client().CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: conformanceTopic + ".small",
		NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "20000"}}}}})
	if err != nil || res.Errors[conformanceTopic+".small"] != nil {
		t.Fatal(err, res.Errors)
	}
	return publishertest.Backend{
		Publisher: p,
		Topic:     conformanceTopic,
		Durable:   func(t *testing.T) []kafkabus.Record { return b.restartAndRead(t) },
		Refused: func(*testing.T) []kafkabus.Record {
			return []kafkabus.Record{{Topic: conformanceTopic + ".small", Key: []byte("big"), Value: make([]byte, 30000)}}
		},
		Close: func(*testing.T) { b.stop() },
	}
}

// restartAndRead stops the broker, starts it again from its data dir and
// reads the conformance topic (and the small one), partition by partition.
func (b *broker) restartAndRead(t *testing.T) []kafkabus.Record {
	b.stop()
	e, err := kafkabus.StartEmbedded(b.dir, "127.0.0.1:0", 3)
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.live = e
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kafkabus.Record
	read := func(m kafka.Message) { out = append(out, kafkabus.Record{Topic: m.Topic, Key: m.Key, Value: m.Value}) }
	for part := range 3 {
		readTopic(ctx, t, e.Addr(), conformanceTopic, part, read)
	}
	readTopic(ctx, t, e.Addr(), conformanceTopic+".small", 0, read)
	return out
}

// readTopic reads one partition from its start to its end.
func readTopic(ctx context.Context, t *testing.T, addr, topic string, part int, fn func(kafka.Message)) {
	t.Helper()
	c := kafka.Client{Addr: kafka.TCP(addr)}
	off, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(part)}}})
	if err != nil {
		t.Fatal(err)
	}
	end := off.Topics[topic][0].LastOffset
	if end <= 0 {
		return
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for n := int64(0); n < end; n++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("%s/%d: %v after %d of %d", topic, part, err, n, end)
		}
		fn(m)
	}
}
