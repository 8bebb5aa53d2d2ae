package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/kafkabus/spool"
)

// `gateway replay-rejected` hands a file the spool set aside to Kafka
// again, records as they were spooled (key, value, headers, in order),
// and renames it so a second run sends nothing twice.
func TestReplayRejected(t *testing.T) {
	dir := t.TempDir()
	s, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	recs := []kafkabus.Record{
		{Topic: "gateway.raw.v1", Key: []byte("sms:+14155550101"), Value: []byte("Body=big"), Headers: []kafka.Header{{Key: "route", Value: []byte("twilio_messaging")}}},
		{Topic: "gateway.raw.v1", Key: []byte("sms:+14155550101"), Value: []byte("Body=bigger")},
	}
	if err := s.Append(recs...); err != nil {
		t.Fatal(err)
	}
	b, err := s.Read(10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	path, err := s.Reject(b)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	broker, err := kafkabus.StartEmbedded("", "127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	env := map[string]string{"KAFKA_BROKERS": broker.Addr(), "KAFKA_REPLICATION_FACTOR": "1", "KAFKA_PARTITIONS": "1"}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, []string{"replay-rejected", path}, getenv, &out); err != nil || !strings.Contains(out.String(), "2 records replayed") {
		t.Fatalf("replay: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(path + ".replayed"); err != nil {
		t.Fatalf("the replayed file was not renamed: %v", err)
	}
	if err := run(ctx, []string{"replay-rejected", path}, getenv, &out); err == nil {
		t.Fatal("a second run of the same path replayed again")
	}

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{broker.Addr()}, Topic: "gateway.raw.v1", Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for i, want := range recs {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if string(m.Key) != string(want.Key) || string(m.Value) != string(want.Value) || len(m.Headers) != len(want.Headers) {
			t.Fatalf("record %d: %s %s %v, want %s %s %v", i, m.Key, m.Value, m.Headers, want.Key, want.Value, want.Headers)
		}
	}
}
