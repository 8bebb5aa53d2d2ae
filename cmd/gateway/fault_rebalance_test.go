package main

import (
	"context"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// Two gateways share the core's consumer group on one PostgreSQL database;
// one of them stops under load, so the group rebalances onto the other:
// nothing is lost, nothing handled twice (an event the leaving instance's
// relay had published may be published again under its id: delivery is at
// least once), and each customer has one conversation.
func TestFaultCoreRebalanceUnderLoad(t *testing.T) {
	broker, err := kafkabus.StartEmbedded("", "127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	// One member of the core's group per instance (the default on
	// PostgreSQL is two), so that the group's members are the instances.
	env := map[string]string{"GATEWAY_CORE_CONSUMERS": "1", "KAFKA_BROKERS": broker.Addr(), "KAFKA_REPLICATION_FACTOR": "1", "DATABASE_URL": sqltest.URL(t, sqlstore.Postgres)}
	g1 := startGateway(t, sqlstore.SQLite, env)
	g2 := startGateway(t, sqlstore.SQLite, env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := broker.WaitGroupStable(ctx, "gateway-core", 2); err != nil {
		t.Fatalf("consumer group: %v", err)
	}
	gen, members := broker.Assignment("gateway-core", "gateway.inbound.v1")

	l := startLoad(g1, 6, 0)
	time.Sleep(faultTime(time.Second))
	if err := g2.Close(); err != nil {
		t.Fatalf("closing the second instance: %v", err)
	}
	time.Sleep(faultTime(time.Second))
	l.halt()
	now, _ := broker.Assignment("gateway-core", "gateway.inbound.v1")
	t.Logf("answered 200: %d, otherwise: %d; group generation %d %v → %d", len(l.ok), len(l.other), gen, members, now)
	if len(l.other) > 0 {
		t.Errorf("%d webhooks not answered 200", len(l.other))
	}
	if len(l.ok) < 20 {
		t.Fatalf("only %d webhooks answered 200", len(l.ok))
	}
	evs := checkDelivered(t, g1, l.ok, l.other...)

	from := map[string]string{}
	for _, m := range l.ok {
		from[m.sid] = m.from
	}
	convs := map[string]map[any]bool{}
	for _, e := range ofType(evs, "message.received") {
		msg, _ := e.Data["message"].(map[string]any)
		sid, _ := msg["provider_message_id"].(string)
		f := from[sid]
		if convs[f] == nil {
			convs[f] = map[any]bool{}
		}
		convs[f][e.Data["conversation_id"]] = true
	}
	for f, cs := range convs {
		if len(cs) != 1 {
			t.Errorf("customer %s has %d conversations: %v", f, len(cs), cs)
		}
	}
	if n := count(evs, "conversation.created"); n != len(convs) {
		t.Errorf("%d conversation.created for %d customers", n, len(convs))
	}
	var active int
	if err := g1.store.DB().QueryRow(`SELECT COUNT(*) FROM conversations WHERE status <> 'closed'`).Scan(&active); err != nil || active != len(convs) {
		t.Errorf("%d active conversations in the database for %d customers (%v)", active, len(convs), err)
	}
}
