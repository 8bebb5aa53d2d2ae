package kafkabus

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestConsumerLagCountsEveryPartitionAndTheQueue: 300 records over three
// partitions, consumed ten at a time until each partition has given one:
// the lag is every record not yet committed, although the reader's
// partition fetchers have long taken them all into its queue (kafka-go's
// own figure, what follows the last record a fetcher took, is then 0).
func TestConsumerLagCountsEveryPartitionAndTheQueue(t *testing.T) {
	b, err := StartEmbedded("", "127.0.0.1:0", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := NewProducer(ProducerConfig{Brokers: []string{b.Addr()}}, nil)
	const topic, total = "t.lag", 300
	if err := EnsureTopics(ctx, p.Client(), []string{topic}, 3, 1); err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, total)
	for i := range recs {
		recs[i] = Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte("v")}
	}
	if err := p.Produce(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	c := NewConsumer(ConsumerConfig{Brokers: []string{b.Addr()}, Group: "g.lag", Topics: []string{topic}})
	defer c.Close()
	seen, consumed := map[int]bool{}, 0
	for len(seen) < 3 {
		batch, err := c.FetchBatch(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Commit(ctx, batch...); err != nil {
			t.Fatal(err)
		}
		for _, m := range batch {
			seen[m.Partition] = true
		}
		consumed += len(batch)
	}
	if got, want := c.Lag(), int64(total-consumed); got != want {
		t.Fatalf("after %d of %d records: lag %d, want %d", consumed, total, got, want)
	}
	// One more record, fetched and committed: its partition's figure
	// follows it.
	batch, err := c.FetchBatch(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Commit(ctx, batch...)
	if got, want := c.Lag(), int64(total-consumed-1); got != want {
		t.Fatalf("after %d of %d records: lag %d, want %d", consumed+1, total, got, want)
	}
}
