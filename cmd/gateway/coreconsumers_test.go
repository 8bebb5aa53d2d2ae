package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// GATEWAY_CORE_CONSUMERS=2: one core instance is two members of the core's
// consumer group, each applying its partitions' batches; every message is
// attached once, and the process exports one lag per group (the sum).
func TestCoreConsumersInOneInstance(t *testing.T) {
	broker, err := kafkabus.StartEmbedded("", "127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	g := startGateway(t, sqlstore.SQLite, map[string]string{"KAFKA_BROKERS": broker.Addr(), "KAFKA_REPLICATION_FACTOR": "1",
		"DATABASE_URL": sqltest.URL(t, sqlstore.Postgres), "GATEWAY_CORE_CONSUMERS": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := broker.WaitGroupStable(ctx, "gateway-core", 2); err != nil {
		t.Fatalf("consumer group: %v", err)
	}
	if _, members := broker.Assignment("gateway-core", "gateway.inbound.v1"); len(members) != 2 {
		t.Fatalf("assignment %v, want two members", members)
	}
	const senders, each = 20, 2
	for i := range senders * each {
		form := smsForm(fmt.Sprintf("SMcc%030d", i), fmt.Sprintf("+1415555%04d", i%senders), fmt.Sprintf("hello %d", i))
		if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", form, nil); s != http.StatusOK {
			t.Fatalf("post %d: %d %s", i, s, b)
		}
	}
	consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") >= senders*each })
	time.Sleep(300 * time.Millisecond) // a duplicate would come after the last one
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") >= senders*each })
	if n, c := count(evs, "message.received"), count(evs, "conversation.created"); n != senders*each || c != senders {
		t.Fatalf("%d message.received and %d conversation.created, want %d and %d", n, c, senders*each, senders)
	}
	var stored int
	if err := g.store.DB().QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&stored); err != nil || stored != senders*each {
		t.Fatalf("%d messages stored (%v), want %d", stored, err, senders*each)
	}
	m := get(t, g, "/metrics")
	if n := strings.Count(m, `gateway_kafka_consumer_lag{group="gateway-core"}`); n != 1 {
		t.Errorf("%d lag series of gateway-core, want 1:\n%s", n, grepLines(m, "gateway_kafka_consumer_lag"))
	}
}
