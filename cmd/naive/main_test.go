package main

import (
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// The yardstick is lean: kafka-go's defaults for everything but acks and
// the batch timeout, keyed with kafka-go's Murmur2 balancer.
func TestLeanWriterKeepsKafkaGoDefaults(t *testing.T) {
	w, err := newWriter(writerConfig{brokers: []string{"127.0.0.1:1"}, topic: "t", balancer: "murmur2", batchTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, ok := w.Balancer.(kafka.Murmur2Balancer); !ok {
		t.Errorf("balancer %T, want kafka.Murmur2Balancer", w.Balancer)
	}
	if w.BatchSize != 0 || w.BatchBytes != 0 || w.MaxAttempts != 0 || w.Compression != 0 || w.Async {
		t.Errorf("writer departs from kafka-go's defaults: %+v", w)
	}
	if w.RequiredAcks != kafka.RequireAll || w.BatchTimeout != time.Millisecond {
		t.Errorf("acks %v, batch timeout %v: want all replicas and 1ms", w.RequiredAcks, w.BatchTimeout)
	}
	if _, err := balancer("nope"); err == nil {
		t.Error("an unknown balancer is accepted")
	}
}
