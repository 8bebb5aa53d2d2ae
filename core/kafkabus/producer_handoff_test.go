package kafkabus

import (
	"strconv"
	"testing"
)

// A caller that finds its broker free sends the request itself: no
// goroutine is started (and woken, and hands the answer back) for it.
// The producer used to start one for every request that found the broker
// idle: one per webhook on a quiet gateway.
func TestProducerCallerSendsItsOwnRequest(t *testing.T) {
	b, ctx := testBroker(t)
	const topic = "t.handoff"
	p := warmProducer(ctx, t, b, topic, ProducerConfig{})
	before := p.spawned.Load()
	const n = 50
	for i := range n {
		k := []byte("k" + strconv.Itoa(i))
		if err := p.Produce(ctx, Record{Topic: topic, Key: k, Value: []byte("raw")}, Record{Topic: topic, Key: k, Value: []byte("event")}); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.spawned.Load() - before; got != 0 {
		t.Fatalf("%d produce calls one after another started %d goroutines to send their requests, want 0", n, got)
	}
	if got := pendingRecords(p); got != 0 {
		t.Fatalf("%d records left pending", got)
	}
}
