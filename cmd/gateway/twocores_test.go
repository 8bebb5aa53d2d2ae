package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// Two gateways in one consumer group on one PostgreSQL database: a customer
// writing on SMS and WhatsApp at once (two keys, so two partitions that the
// group may split between the instances) ends with exactly one active
// conversation holding every message.
func TestTwoCoreInstancesOneConversation(t *testing.T) {
	broker, err := kafkabus.StartEmbedded("", "127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	db := sqltest.URL(t, sqlstore.Postgres)
	// One member of the core's group per instance (the default on
	// PostgreSQL is two), so that the group's members are the instances.
	env := map[string]string{"GATEWAY_CORE_CONSUMERS": "1", "KAFKA_BROKERS": broker.Addr(), "KAFKA_REPLICATION_FACTOR": "1", "DATABASE_URL": db}
	g1 := startGateway(t, sqlstore.SQLite, env)
	g2 := startGateway(t, sqlstore.SQLite, env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := broker.WaitGroupStable(ctx, "gateway-core", 2); err != nil {
		t.Fatalf("consumer group: %v", err)
	}
	// Let both readers start fetching their assignment, then pick a phone
	// whose SMS and WhatsApp keys land on partitions held by different members.
	time.Sleep(time.Second)
	gen, members := broker.Assignment("gateway-core", "gateway.inbound.v1")
	if len(members) != 2 || len(members[0]) == 0 || len(members[1]) == 0 {
		t.Fatalf("assignment %v", members)
	}
	owner := map[int]int{}
	for i, ps := range members {
		for _, p := range ps {
			owner[int(p)] = i
		}
	}
	phone := ""
	for i := 0; i < 1000 && phone == ""; i++ {
		p := fmt.Sprintf("+14155%06d", i)
		var b kafka.Murmur2Balancer
		a := b.Balance(kafka.Message{Key: []byte("sms:" + p)}, 0, 1, 2, 3)
		w := b.Balance(kafka.Message{Key: []byte("whatsapp:" + p)}, 0, 1, 2, 3)
		if owner[a] != owner[w] {
			phone = p
		}
	}
	const perChannel = 40
	var wg sync.WaitGroup
	for ch, g := range map[string]*Gateway{"sms": g1, "whatsapp": g2} {
		wg.Add(1)
		go func(ch string, g *Gateway) {
			defer wg.Done()
			from := phone
			if ch == "whatsapp" {
				from = "whatsapp:" + phone
			}
			for i := 0; i < perChannel; i++ {
				form := smsForm(fmt.Sprintf("SM%s%029d", ch[:3], i), from, fmt.Sprintf("%s %d", ch, i))
				form.Set("To", map[string]string{"sms": "+15558675310", "whatsapp": "whatsapp:+15558675310"}[ch])
				if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", form, nil); s != http.StatusOK {
					t.Errorf("post %s %d: %d %s", ch, i, s, b)
					return
				}
			}
		}(ch, g)
	}
	wg.Wait()
	consume(t, g1, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") >= 2*perChannel })
	time.Sleep(300 * time.Millisecond)
	evs := consume(t, g1, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") >= 2*perChannel })
	convs := map[any]int{}
	for _, e := range ofType(evs, "message.received") {
		convs[e.Data["conversation_id"]]++
	}
	if len(convs) != 1 || count(evs, "conversation.created") != 1 || count(evs, "customer.created") != 1 {
		t.Fatalf("%d conversations %v, %d created, %d customers: want one of each", len(convs), convs,
			count(evs, "conversation.created"), count(evs, "customer.created"))
	}
	var active int
	if err := g1.store.DB().QueryRow(`SELECT COUNT(*) FROM conversations WHERE status <> 'closed'`).Scan(&active); err != nil || active != 1 {
		t.Fatalf("%d active conversations in the database (%v)", active, err)
	}
	// Both instances took part (unless the group rebalanced meanwhile, which
	// a loaded machine can cause; the outcome above must hold either way).
	if now, _ := broker.Assignment("gateway-core", "gateway.inbound.v1"); now != gen {
		t.Logf("the group rebalanced during the test (generation %d → %d)", gen, now)
		return
	}
	for i, g := range []*Gateway{g1, g2} {
		if m := get(t, g, "/metrics"); !strings.Contains(m, "gateway_core_messages_total{entry_point=") {
			t.Errorf("instance %d handled no message:\n%s", i+1, grepLines(m, "gateway_kafka_consumer_lag"))
		}
	}
}
