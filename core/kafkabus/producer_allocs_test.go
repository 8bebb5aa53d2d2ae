package kafkabus

import (
	"testing"
)

// maxProduceAllocs bounds the allocations of a Produce call of a webhook's
// two records, the request it sends and its answer included (kafka-go's
// encoding and decoding are most of them): 56 when the call's partitions,
// records and leaders were slices of their own and each key and value
// reader an allocation; 51 since the call holds the partitions of a few
// records, the records and leaders of a few are on the stack and the
// readers of a partition's batch are one allocation.
const maxProduceAllocs = 51

func TestProduceAllocationsStayLow(t *testing.T) {
	b, ctx := testBroker(t)
	const topic = "t.allocs"
	p := warmProducer(ctx, t, b, topic, ProducerConfig{})
	key, raw, event := []byte("sms:+15551230001"), []byte("raw body"), []byte(`{"event":1}`)
	allocs := testing.AllocsPerRun(200, func() {
		if err := p.Produce(ctx, Record{Topic: topic, Key: key, Value: raw}, Record{Topic: topic, Key: key, Value: event}); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%.1f allocations per Produce of two records", allocs)
	if allocs > maxProduceAllocs {
		t.Errorf("%.1f allocations per Produce of two records, more than %d", allocs, maxProduceAllocs)
	}
}
