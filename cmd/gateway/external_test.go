package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore"
)

// With KAFKA_BROKERS set the gateway uses that cluster and starts no broker
// of its own.
func TestExternalKafka(t *testing.T) {
	broker, err := kafkabus.StartEmbedded("", "127.0.0.1:0", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	env := map[string]string{"KAFKA_BROKERS": broker.Addr()}
	env["KAFKA_REPLICATION_FACTOR"] = "1" // a one-broker cluster; the default of 3 is refused with a message naming the variable
	g := startGateway(t, sqlstore.SQLite, env)
	if g.embedded != nil {
		t.Fatal("an embedded broker was started although KAFKA_BROKERS is set")
	}
	if _, err := os.Stat(filepath.Join(g.cfg.DataDir, "kafka")); err == nil {
		t.Fatal("embedded broker data written")
	}
	if s, _ := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm("SM00000000000000000000000000000001", "+14155550101", "hi"), nil); s != http.StatusOK {
		t.Fatalf("post: %d", s)
	}
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	if len(evs) != 3 {
		t.Fatalf("events %v", typesOf(evs))
	}
}

// /readyz fails while the database is unreachable.
func TestReadyzDatabaseDown(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, nil)
	g.store.Close()
	if got := get(t, g, "/readyz"); !strings.HasPrefix(got, "503") || !strings.Contains(got, "database") {
		t.Fatalf("readyz with the database closed: %s", got)
	}
}

// A replication factor the cluster cannot give stops the start with a
// message naming the variable.
func TestReplicationFactorTooHigh(t *testing.T) {
	broker, err := kafkabus.StartEmbedded("", "127.0.0.1:0", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	env := map[string]string{"KAFKA_BROKERS": broker.Addr(), "GATEWAY_DATA_DIR": t.TempDir(), "GATEWAY_HTTP_ADDR": "127.0.0.1:0"}
	err = run(t.Context(), nil, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "KAFKA_REPLICATION_FACTOR") {
		t.Fatalf("start with RF 3 on one broker: %v", err)
	}
}
