package main

import (
	"context"
	"encoding/base64"
	"github.com/segmentio/kafka-go"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore"
)

// An email larger than Kafka's default record limit (1 MiB; here a 3 MiB
// attachment and 1.4 MB of text) is taken like any other: its raw.v1,
// inbound.v1 and events.v1 records fit the topics' limit, and the message
// reaches events.v1 with the attachment stored. (With the broker's default
// limit the raw record was refused, spooled, and held up every webhook
// behind it.)
func TestLargeEmailReachesEvents(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{
		"SENDGRID_INBOUND_USER": "parse", "SENDGRID_INBOUND_PASSWORD": "s3cret",
	})
	body, err := os.ReadFile("../../connectors/sendgrid/testdata/inbound_attachment.txt")
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("J", 3<<20)
	text := "Photo attached. " + strings.Repeat("Long story. ", 120000) // 1.4 MB of text
	body = []byte(strings.Replace(strings.Replace(string(body), "JPEGBYTES", big, 1), "Photo attached.", text, 1))
	hdr := map[string]string{"Content-Type": "multipart/form-data; boundary=xYzZY",
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("parse:s3cret"))}
	if s, b := post(t, g, "/webhooks/sendgrid/inbound", body, hdr); s != http.StatusOK {
		t.Fatalf("inbound parse of %d bytes: %d %s", len(body), s, b)
	}
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	msg := ofType(evs, "message.received")[0].Data["message"].(map[string]any)
	if msg["text"] != text {
		t.Errorf("text of %d bytes, want %d", len(msg["text"].(string)), len(text))
	}
	if att := msg["attachments"].([]any)[0].(map[string]any); att["status"] != "stored" || att["size"] != float64(3<<20) {
		t.Fatalf("attachment %v", att)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: g.brokers, Topic: "gateway.raw.v1", GroupID: "large-email", StartOffset: kafka.FirstOffset, MaxBytes: 64 << 20})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			rz := get(t, g, "/readyz")
			t.Fatalf("raw.v1: %v; readyz %s", err, rz)
		}
		t.Logf("raw.v1 record p%d %d bytes", m.Partition, len(m.Value))
		if len(m.Value) == len(body) {
			break
		}
	}
}

// A webhook whose record Kafka refuses for good (here raw.v1 takes at most
// 2,000 bytes) is answered 413, counted as outcome rejected and never
// spooled; the webhooks after it are taken as usual.
func TestRecordKafkaRefusesIsAnswered413(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := kafka.Client{Addr: kafka.TCP(g.brokers...)}
	res, err := c.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: "gateway.raw.v1",
		Configs: []kafka.IncrementalAlterConfigsRequestConfig{{Name: "max.message.bytes", Value: "2000", ConfigOperation: kafka.ConfigOperationSet}}}}})
	if err != nil || res.Resources[0].Error != nil {
		t.Fatal(err, res.Resources)
	}
	status, body := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm("SM00000000000000000000000000000001", "+14155550101", strings.Repeat("long ", 600)), nil)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than Kafka accepts") {
		t.Fatalf("refused record: %d %s, want 413", status, body)
	}
	if got := get(t, g, "/readyz"); !strings.Contains(got, `"kafka":"ok"`) {
		t.Fatalf("readyz after a refused record: %s (it must not be spooled)", got)
	}
	if got := get(t, g, "/metrics"); !strings.Contains(got, `gateway_webhook_requests_total{connector="twilio_messaging",outcome="rejected"} 1`) {
		t.Errorf("no rejected outcome in /metrics")
	}
	if status, body := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm("SM00000000000000000000000000000002", "+14155550101", "short"), nil); status != http.StatusOK {
		t.Fatalf("next webhook: %d %s", status, body)
	}
	consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
}
