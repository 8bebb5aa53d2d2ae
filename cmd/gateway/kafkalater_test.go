package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore"
)

// Kafka down at start does not keep the gateway from starting: webhooks
// are answered 200 from the spool, and once a broker answers the topics
// are created (with the gateway's settings) and the spool drains.
func TestStartsWhileKafkaIsDown(t *testing.T) {
	addr := freePort(t)
	g := startGateway(t, sqlstore.SQLite, map[string]string{"KAFKA_BROKERS": addr, "KAFKA_REPLICATION_FACTOR": "1", "GATEWAY_ROLES": "ingest"})
	if got := get(t, g, "/readyz"); !strings.HasPrefix(got, "200") || !strings.Contains(got, `"kafka":"spooling"`) {
		t.Fatalf("readyz with Kafka down: %s", got)
	}
	status, body := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm("SM00000000000000000000000000000001", "+14155550101", "hi"), nil)
	if status != http.StatusOK {
		t.Fatalf("webhook with Kafka down: %d %s, want 200 (spooled)", status, body)
	}

	b, err := kafkabus.StartEmbedded("", addr, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitMetric(t, g, "gateway_spool_records 0\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := kafka.Client{Addr: kafka.TCP(addr)}
	res, err := c.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: "gateway.raw.v1", ConfigNames: []string{"max.message.bytes"}}}})
	if err != nil || len(res.Resources) != 1 || len(res.Resources[0].ConfigEntries) != 1 ||
		res.Resources[0].ConfigEntries[0].ConfigValue != strconv.Itoa(kafkabus.MaxRecordBytes) {
		t.Fatalf("raw.v1 was not created by the gateway: %+v %v", res, err)
	}
	consume(t, g, "gateway.inbound.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	if got := get(t, g, "/readyz"); !strings.Contains(got, `"kafka":"ok"`) {
		t.Fatalf("readyz once Kafka answers: %s", got)
	}
}
