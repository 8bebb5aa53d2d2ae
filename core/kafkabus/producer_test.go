package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Many callers at once, records of two topics over every partition: each
// record lands once, on its key's partition, and one key's records keep
// the order in which one caller produced them.
func TestProducerConcurrentCallersKeepKeyOrder(t *testing.T) {
	b, ctx := testBroker(t)
	p := NewProducer(ProducerConfig{Brokers: []string{b.Addr()}, MaxBatch: 7}, nil)
	topics := []string{"t.raw", "t.inbound"}
	if err := EnsureTopics(ctx, p.Client(), topics, 6, 1); err != nil {
		t.Fatal(err)
	}
	const callers, each = 40, 25
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []byte("key-" + strconv.Itoa(c))
			for i := 0; i < each; i++ {
				v := []byte(fmt.Sprintf("%d/%d", c, i))
				if err := p.Produce(ctx, Record{Topic: topics[0], Key: key, Value: v}, Record{Topic: topics[1], Key: key, Value: v,
					Headers: []kafka.Header{{Key: "h", Value: []byte("x")}}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()

	var bal kafka.Murmur2Balancer
	for _, topic := range topics {
		next := map[string]int{}
		total := 0
		for part := 0; part < 6; part++ {
			n := readPartition(ctx, t, b.Addr(), topic, part, func(m kafka.Message) {
				want := bal.Balance(kafka.Message{Key: m.Key}, 0, 1, 2, 3, 4, 5)
				if want != part {
					t.Errorf("%s: key %s on partition %d, want %d", topic, m.Key, part, want)
				}
				c, i := 0, 0
				fmt.Sscanf(string(m.Value), "%d/%d", &c, &i)
				if k := "key-" + strconv.Itoa(c); string(m.Key) != k || next[k] != i {
					t.Errorf("%s: record %s of %s out of order (want number %d)", topic, m.Value, m.Key, next[k])
				}
				next[string(m.Key)] = i + 1
			})
			total += n
		}
		if total != callers*each {
			t.Errorf("%s: %d records, want %d", topic, total, callers*each)
		}
	}
}

// A broker that is gone is ErrUnavailable, and Produce returns.
func TestProducerBrokerGone(t *testing.T) {
	b, err := StartEmbedded("", "127.0.0.1:0", 2)
	if err != nil {
		t.Fatal(err)
	}
	p := NewProducer(ProducerConfig{Brokers: []string{b.Addr()}, Timeout: 2 * time.Second}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, p.Client(), []string{"t"}, 2, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.Produce(ctx, Record{Topic: "t", Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	short, cancel2 := context.WithTimeout(ctx, 3*time.Second)
	defer cancel2()
	if err := p.Produce(short, Record{Topic: "t", Key: []byte("k"), Value: []byte("v")}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("produce with the broker gone: %v, want ErrUnavailable", err)
	}
}

func readPartition(ctx context.Context, t *testing.T, addr, topic string, part int, fn func(kafka.Message)) int {
	t.Helper()
	c := kafka.Client{Addr: kafka.TCP(addr)}
	off, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: {kafka.LastOffsetOf(part)}}})
	if err != nil {
		t.Fatal(err)
	}
	end := off.Topics[topic][0].LastOffset
	if end == 0 {
		return 0
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: part, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	n := 0
	for int64(n) < end {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("%s/%d: %v after %d of %d", topic, part, err, n, end)
		}
		fn(m)
		n++
	}
	return n
}

// A record larger than the topic's max.message.bytes is refused with
// ErrRejected (trying again would not help), not ErrUnavailable; the
// records batched with it, and a batch of small records that together
// exceed the limit, are still taken.
func TestProducerRejectsOnlyTheRecordKafkaRefuses(t *testing.T) {
	b, err := StartEmbedded("", "127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := NewProducer(ProducerConfig{Brokers: []string{b.Addr()}, MaxBatchBytes: 1 << 20}, nil)
	const topic = "t.small"
	res, err := p.Client().CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 1,
		ReplicationFactor: 1, ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "20000"}}}}})
	if err != nil || res.Errors[topic] != nil {
		t.Fatal(err, res.Errors)
	}
	const small = 60
	var wg sync.WaitGroup
	start := make(chan struct{})
	var bigErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		bigErr = p.Produce(ctx, Record{Topic: topic, Key: []byte("big"), Value: make([]byte, 30000)})
	}()
	for i := 0; i < small; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := p.Produce(ctx, Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: make([]byte, 1000)}); err != nil {
				t.Errorf("small record %d: %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if !errors.Is(bigErr, ErrRejected) || errors.Is(bigErr, ErrUnavailable) {
		t.Fatalf("big record: %v, want ErrRejected", bigErr)
	}
	if n := readPartition(ctx, t, b.Addr(), topic, 0, func(m kafka.Message) {
		if len(m.Value) != 1000 {
			t.Errorf("record of %d bytes in Kafka", len(m.Value))
		}
	}); n != small {
		t.Fatalf("%d records in Kafka, want %d", n, small)
	}
}

// testBroker starts an embedded broker of 6 partitions for the test, with
// a context of a minute, both ended when the test ends.
func testBroker(t *testing.T) (*Embedded, context.Context) {
	t.Helper()
	b, err := StartEmbedded("", "127.0.0.1:0", 6)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return b, ctx
}
