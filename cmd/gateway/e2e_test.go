package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/config"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

const (
	testToken  = "12345"
	testPublic = "https://gw.example.com"
)

// startGateway runs the whole gateway in-process on free ports, with the
// embedded broker and the given store.
func startGateway(t testing.TB, dialect string, extra map[string]string) *Gateway {
	t.Helper()
	_, cfg := testConfig(t, dialect, map[string]string{"GATEWAY_HTTP_ADDR": "127.0.0.1:0",
		"GATEWAY_EMBEDDED_KAFKA_ADDR": "127.0.0.1:0", "GATEWAY_DATA_DIR": t.TempDir()}, extra)
	g, err := start(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// testConfig is the configuration of a test gateway: Twilio enabled with
// the test token, the store of dialect, then base and extra (extra wins).
func testConfig(t testing.TB, dialect string, base, extra map[string]string) (map[string]string, config.Config) {
	t.Helper()
	env := map[string]string{
		"GATEWAY_PUBLIC_URL": testPublic,
		"KAFKA_PARTITIONS":   "4",
		"TWILIO_ACCOUNT_SID": "ACtest123",
		"TWILIO_AUTH_TOKEN":  testToken,
		"GATEWAY_LOG_LEVEL":  "warn",
	}
	if dialect == sqlstore.Postgres {
		env["DATABASE_URL"] = sqltest.URL(t, dialect)
	}
	for _, m := range []map[string]string{base, extra} {
		for k, v := range m {
			env[k] = v
		}
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return env, cfg
}

func smsForm(sid, from, body string) url.Values {
	return url.Values{
		"ToCountry": {"US"}, "ToCity": {""}, "SmsMessageSid": {sid}, "NumMedia": {"0"}, "SmsSid": {sid},
		"SmsStatus": {"received"}, "Body": {body}, "To": {"+15558675310"}, "NumSegments": {"1"},
		"MessageSid": {sid}, "AccountSid": {"ACtest123"}, "From": {from}, "ApiVersion": {"2010-04-01"},
	}
}

// postTwilio sends a form to a Twilio route, signed unless sig is given.
func postTwilio(t *testing.T, g *Gateway, path string, form url.Values, sig *string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig == nil {
		req.Header.Set("X-Twilio-Signature", twilio.Sign(testToken, testPublic+path, form))
	} else if *sig != "" {
		req.Header.Set("X-Twilio-Signature", *sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type topicEvent struct {
	Key     string
	Headers map[string]string
	Event   normalize.Event
	Data    map[string]any
}

// consume reads a topic from the start until done says it has seen enough.
func consume(t *testing.T, g *Gateway, topic string, done func([]topicEvent) bool) []topicEvent {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: g.brokers, GroupID: "test-" + normalize.NewID(), Topic: topic,
		StartOffset: kafka.FirstOffset, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []topicEvent
	for !done(out) {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("reading %s: %v; got %d records: %v", topic, err, len(out), typesOf(out))
		}
		te := topicEvent{Key: string(m.Key), Headers: map[string]string{}}
		for _, h := range m.Headers {
			te.Headers[h.Key] = string(h.Value)
		}
		switch {
		case strings.HasSuffix(topic, "events.v1"):
			if err := normalize.ValidateEvent("", m.Value); err != nil {
				t.Errorf("%s: %v", topic, err)
			}
		case strings.HasSuffix(topic, "inbound.v1"):
			if err := normalize.ValidateEvent("inbound", m.Value); err != nil {
				t.Errorf("%s: %v", topic, err)
			}
		}
		if ev, err := normalize.DecodeEvent(m.Value); err == nil {
			te.Event = ev
			_ = json.Unmarshal(ev.Data, &te.Data)
		}
		out = append(out, te)
	}
	return out
}

func typesOf(evs []topicEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Event.Type)
	}
	return out
}

func count(evs []topicEvent, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Event.Type == typ {
			n++
		}
	}
	return n
}

func ofType(evs []topicEvent, typ string) []topicEvent {
	var out []topicEvent
	for _, e := range evs {
		if e.Event.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func TestSMSEndToEnd(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) { testSMSEndToEnd(t, dialect) })
	}
}

func testSMSEndToEnd(t *testing.T, dialect string) {
	g := startGateway(t, dialect, nil)
	const path = "/webhooks/twilio/messaging"
	events := g.cfg.TopicPrefix + "events.v1"

	// 1. A signed SMS: 200 with empty TwiML, then a customer, a conversation and the message.
	status, body := postTwilio(t, g, path, smsForm("SM00000000000000000000000000000001", "+14155550101", "Hi, my order is late"), nil)
	if status != http.StatusOK || !strings.Contains(body, "<Response></Response>") {
		t.Fatalf("signed SMS: %d %q, want 200 with empty TwiML", status, body)
	}
	evs := consume(t, g, events, func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	if got := typesOf(evs); strings.Join(got, ",") != "customer.created,conversation.created,message.received" {
		t.Fatalf("events.v1 = %v", got)
	}
	first := ofType(evs, "message.received")[0]
	custID, convID := first.Data["customer_id"], first.Data["conversation_id"]
	if custID == nil || convID == nil || first.Key != custID {
		t.Fatalf("message.received key %q data %v: want customer_id as key and a conversation_id", first.Key, first.Data)
	}
	if first.Headers["content-type"] != "application/cloudevents+json" {
		t.Errorf("content-type header %q", first.Headers["content-type"])
	}
	msg := first.Data["message"].(map[string]any)
	if msg["text"] != "Hi, my order is late" || msg["channel"] != "sms" || msg["from"].(map[string]any)["address"] != "+14155550101" {
		t.Errorf("normalized message %v", msg)
	}

	// 2. A second SMS from the same number joins the same conversation;
	// 3. a retried MessageSid is acknowledged but produces no second message;
	// 4. an unsigned or badly signed request is refused and publishes nothing.
	if s, _ := postTwilio(t, g, path, smsForm("SM00000000000000000000000000000002", "+14155550101", "Any news?"), nil); s != 200 {
		t.Fatalf("second SMS: %d", s)
	}
	if s, _ := postTwilio(t, g, path, smsForm("SM00000000000000000000000000000002", "+14155550101", "Any news?"), nil); s != 200 {
		t.Fatalf("retried SMS: %d", s)
	}
	none, bad := "", "d+Lfe5D6AoqaJBOG9cnt9alWpLQ="
	if s, b := postTwilio(t, g, path, smsForm("SM00000000000000000000000000000009", "+14155550199", "unsigned"), &none); s != http.StatusForbidden || !strings.Contains(b, `"code":"forbidden"`) {
		t.Fatalf("unsigned: %d %s, want 403 with a JSON error", s, b)
	}
	if s, _ := postTwilio(t, g, path, smsForm("SM00000000000000000000000000000009", "+14155550199", "forged"), &bad); s != http.StatusForbidden {
		t.Fatalf("bad signature: %d, want 403", s)
	}
	// Malformed (signed, but no MessageSid): 400.
	form := smsForm("", "+14155550101", "x")
	form.Del("MessageSid")
	form.Del("SmsMessageSid")
	if s, _ := postTwilio(t, g, path, form, nil); s != http.StatusBadRequest {
		t.Fatalf("malformed: %d, want 400", s)
	}
	// A last message from the same number marks the end: records of one key stay in order.
	if s, _ := postTwilio(t, g, path, smsForm("SM00000000000000000000000000000003", "+14155550101", "last"), nil); s != 200 {
		t.Fatalf("third SMS: %d", s)
	}
	evs = consume(t, g, events, func(e []topicEvent) bool {
		for _, m := range ofType(e, "message.received") {
			if m.Data["message"].(map[string]any)["text"] == "last" {
				return true
			}
		}
		return false
	})
	received := ofType(evs, "message.received")
	if len(received) != 3 {
		t.Fatalf("%d message.received events, want 3 (the retry must not publish): %v", len(received), typesOf(evs))
	}
	for _, m := range received {
		if m.Data["conversation_id"] != convID || m.Data["customer_id"] != custID {
			t.Errorf("message %v in conversation %v, want %v", m.Data["message_id"], m.Data["conversation_id"], convID)
		}
	}
	if n := count(evs, "conversation.created") + count(evs, "customer.created"); n != 2 {
		t.Errorf("%d creations, want one customer and one conversation", n)
	}
	for _, e := range evs {
		if e.Data["customer_id"] == nil {
			t.Errorf("%s has no customer_id", e.Event.Type)
		}
	}

	// raw.v1 holds exactly the accepted requests (4), refused ones never reach Kafka.
	consume(t, g, g.cfg.TopicPrefix+"raw.v1", func(e []topicEvent) bool { return len(e) >= 4 })
	inbound := consume(t, g, g.cfg.TopicPrefix+"inbound.v1", func(e []topicEvent) bool { return len(e) >= 4 })
	time.Sleep(200 * time.Millisecond)
	raw := consume(t, g, g.cfg.TopicPrefix+"raw.v1", func(e []topicEvent) bool { return len(e) >= 4 })
	if len(raw) != 4 || len(inbound) != 4 {
		t.Errorf("raw.v1 has %d records and inbound.v1 %d, want 4 each", len(raw), len(inbound))
	}
	// Keyed by the contact, like its inbound.v1 record: a route's requests
	// spread over the partitions, one contact's stay in order.
	for _, r := range raw {
		if !strings.HasPrefix(r.Key, "sms:+") || r.Headers["route"] != "twilio_messaging" || r.Headers["http-x-twilio-signature"] == "" || r.Headers["url"] != testPublic+path {
			t.Errorf("raw record key %q headers %v", r.Key, r.Headers)
		}
	}

	// Every outcome is counted.
	metrics := get(t, g, "/metrics")
	for _, want := range []string{
		`gateway_webhook_requests_total{connector="twilio_messaging",outcome="accepted"} 4`,
		`gateway_webhook_requests_total{connector="twilio_messaging",outcome="signature"} 2`,
		`gateway_webhook_requests_total{connector="twilio_messaging",outcome="malformed"} 1`,
		`gateway_core_messages_total{entry_point="twilio",result="created"} 1`,
		`gateway_core_messages_total{entry_point="twilio",result="duplicate"} 1`,
		`gateway_kafka_produce_seconds_count{topic="gateway.inbound.v1"}`,
		`gateway_conversations{status="new"} 1`,
		`gateway_unreplied_messages 3`,
		`gateway_unassigned_conversations 1`,
		`gateway_outbox_pending 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func get(t *testing.T, g *Gateway, path string) string {
	t.Helper()
	return getAt(t, g.Addr(), path)
}

// With GATEWAY_SPOOL=off, a webhook Kafka cannot take is answered 503.
func TestKafkaDownAnswers503(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_SPOOL": "off"})
	if got := get(t, g, "/readyz"); !strings.HasPrefix(got, "200") {
		t.Fatalf("readyz before: %s", got)
	}
	g.embedded.Close()
	status, body := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm("SM00000000000000000000000000000001", "+14155550101", "hi"), nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"unavailable"`) {
		t.Fatalf("with Kafka down: %d %s, want 503", status, body)
	}
	if got := get(t, g, "/readyz"); !strings.HasPrefix(got, "503") || !strings.Contains(got, "kafka") {
		t.Fatalf("readyz with Kafka down: %s", got)
	}
	if m := get(t, g, "/metrics"); !strings.Contains(m, `gateway_webhook_requests_total{connector="twilio_messaging",outcome="unavailable"} 1`) {
		t.Errorf("unavailable outcome not counted")
	}
}
