package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// The time-range lookup finds, in each partition, the first record stamped
// at or after --from and the first at or after the end, the partition's
// end where none is, and readRange reads exactly the records between.
func TestReplayOffsetRange(t *testing.T) {
	broker, err := kafkabus.StartEmbedded("", "127.0.0.1:0", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := kafkabus.NewClient([]string{broker.Addr()}, 5*time.Second)
	const topic = "gateway.raw.v1"
	if err := kafkabus.EnsureTopics(ctx, c, []string{topic}, 2, 1); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	stamped := map[int][]time.Duration{0: {0, time.Minute, 2 * time.Minute, 3 * time.Minute}, 1: {10 * time.Minute}}
	for p, ats := range stamped {
		var recs []kafka.Record
		for i, d := range ats {
			recs = append(recs, kafka.Record{Time: t0.Add(d), Value: kafka.NewBytes([]byte(fmt.Sprintf("p%d-%d", p, i)))})
		}
		res, err := c.Produce(ctx, &kafka.ProduceRequest{Topic: topic, Partition: p, RequiredAcks: kafka.RequireAll,
			Records: kafka.NewRecordReader(recs...)})
		if err != nil || res.Error != nil {
			t.Fatalf("produce to %d: %v %v", p, err, res)
		}
	}
	for _, tc := range []struct {
		name      string
		from, end time.Duration
		want      []partRange
	}{
		{"inside partition 0", time.Minute, 3 * time.Minute, []partRange{{0, 1, 3}, {1, 0, 0}}},
		{"between records", 30 * time.Second, 150 * time.Second, []partRange{{0, 1, 3}, {1, 0, 0}}},
		{"past the last record", 30 * time.Second, time.Hour, []partRange{{0, 1, 4}, {1, 0, 1}}},
		{"after every record", time.Hour, 2 * time.Hour, []partRange{{0, 4, 4}, {1, 1, 1}}},
		{"before every record", -time.Hour, -time.Minute, []partRange{{0, 0, 0}, {1, 0, 0}}},
		{"to the end", 2 * time.Minute, -1, []partRange{{0, 2, 4}, {1, 0, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			until := time.Time{}
			if tc.end != -1 {
				until = t0.Add(tc.end)
			}
			got, err := offsetRange(ctx, c, topic, t0.Add(tc.from), until)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("ranges %v, want %v", got, tc.want)
			}
			var read []string
			for _, pr := range got {
				if err := readRange(ctx, []string{broker.Addr()}, topic, pr, func(m kafka.Message) error {
					read = append(read, string(m.Value))
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			var want []string
			for _, pr := range tc.want {
				for o := pr.Start; o < pr.End; o++ {
					want = append(want, fmt.Sprintf("p%d-%d", pr.Partition, o))
				}
			}
			if fmt.Sprint(read) != fmt.Sprint(want) {
				t.Fatalf("read %v, want %v", read, want)
			}
		})
	}
}

// `gateway replay` end to end, on both stores: a gateway takes a signed
// SMS, WhatsApp message, email and Twilio status callback; replaying raw.v1
// over that range publishes their events again under the same keys, and
// the core drops every message it has (no second message.received). A
// request whose event never reached inbound.v1 (what a parser fix brings
// back) is reported by a dry run as missing and restored by a real run;
// one that today's parser reads differently is reported as changed; one it
// cannot read is counted as bad, not fatal. --route keeps one route.
func TestReplayRaw(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) { testReplayRaw(t, dialect) })
	}
}

func testReplayRaw(t *testing.T, dialect string) {
	env, cfg := testConfig(t, dialect, map[string]string{"GATEWAY_HTTP_ADDR": "127.0.0.1:0",
		"GATEWAY_EMBEDDED_KAFKA_ADDR": "127.0.0.1:0", "GATEWAY_DATA_DIR": t.TempDir()},
		map[string]string{"META_APP_SECRET": metaSecret, "META_VERIFY_TOKEN": metaVerify, "GATEWAY_API_TOKENS": "agent:agent-token",
			"SENDGRID_INBOUND_USER": "parse", "SENDGRID_INBOUND_PASSWORD": "s3cret"})
	g, err := start(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	env["GATEWAY_EMBEDDED_KAFKA_ADDR"] = g.embedded.Addr()
	replay := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), append([]string{"replay"}, args...), func(k string) string { return env[k] }, &out); err != nil {
			t.Fatalf("replay %v: %v", args, err)
		}
		return strings.TrimSpace(out.String())
	}

	from := time.Now().Add(-time.Second)
	sendFour(t, g)
	consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 3 })
	to := time.Now().Add(time.Second)
	rng := []string{"--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano)}

	want := "replay --dry-run: 4 records read from gateway.raw.v1 (0 bad), 4 events would be published, 0 differ from gateway.inbound.v1 (0 missing, 0 changed)"
	if got := replay(append(rng, "--dry-run")...); got != want {
		t.Fatalf("dry run:\n%s\nwant\n%s", got, want)
	}
	if got := replay(rng...); got != "replay: 4 records read from gateway.raw.v1 (0 bad), 4 events published to gateway.inbound.v1" {
		t.Fatalf("replay: %s", got)
	}
	waitMetricSum(t, g, "gateway_core_messages_total", `result="duplicate"`, 3)
	if got := count(readAll(t, g, "gateway.events.v1"), "message.received"); got != 3 {
		t.Fatalf("events.v1 holds %d message.received after the replay, want 3", got)
	}
	originals, replayed := map[string]int{}, map[string]int{}
	for _, r := range readAll(t, g, "gateway.inbound.v1") {
		if r.Headers[replayedFrom] == "" {
			originals[r.Key+" "+r.Event.Type]++
		} else {
			replayed[r.Key+" "+r.Event.Type]++
		}
	}
	if fmt.Sprint(originals) != fmt.Sprint(replayed) || len(replayed) != 4 {
		t.Fatalf("replayed inbound.v1 records by key and type %v, want those of the webhooks %v", replayed, originals)
	}
	replayAfterParserFix(t, g, replay, rng, to)
}

// replayAfterParserFix adds to raw.v1 requests whose events inbound.v1
// lacks (as if an old parser had refused them), holds otherwise, or that
// today's parser refuses, and replays the range again.
func replayAfterParserFix(t *testing.T, g *Gateway, replay func(...string) string, rng []string, to time.Time) {
	at := to.Add(-time.Millisecond)
	lost := smsForm("SM00000000000000000000000000000002", "+14155550199", "Lost by an old parser")
	edited := smsForm("SM00000000000000000000000000000001", "+14155550101", "Read differently today")
	if err := g.producer.Produce(context.Background(), rawSMS(lost, at), rawSMS(url.Values{"Body": {"no sid"}}, at), rawSMS(edited, at)); err != nil {
		t.Fatal(err)
	}
	want := "replay --dry-run: 7 records read from gateway.raw.v1 (1 bad), 6 events would be published, 2 differ from gateway.inbound.v1 (1 missing, 1 changed)"
	if got := replay(append(rng, "--dry-run")...); got != want {
		t.Fatalf("dry run after a parser fix:\n%s\nwant\n%s", got, want)
	}
	if got := replay(rng...); got != "replay: 7 records read from gateway.raw.v1 (1 bad), 6 events published to gateway.inbound.v1" {
		t.Fatalf("replay after a parser fix: %s", got)
	}
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 4 })
	var conv string
	for _, e := range ofType(evs, "message.received") {
		if e.Data["message"].(map[string]any)["text"] == "Lost by an old parser" {
			conv, _ = e.Data["conversation_id"].(string)
		}
	}
	var page struct {
		Data []struct{ Text string } `json:"data"`
	}
	getAs(t, g, "agent-token", "/v1/conversations/"+conv+"/messages", &page)
	if conv == "" || len(page.Data) != 1 || page.Data[0].Text != "Lost by an old parser" {
		t.Fatalf("the restored message's conversation %q holds %+v", conv, page.Data)
	}
	waitMetricSum(t, g, "gateway_core_messages_total", `result="duplicate"`, 7)
	if got := count(readAll(t, g, "gateway.events.v1"), "message.received"); got != 4 {
		t.Fatalf("events.v1 holds %d message.received, want 4 (the edited message is a duplicate)", got)
	}

	want = "replay --dry-run: 4 records read from gateway.raw.v1 (1 bad), 3 events would be published, 0 differ from gateway.inbound.v1 (0 missing, 0 changed)"
	if got := replay(append(rng, "--dry-run", "--route", twilio.MessagingPath)...); got != want {
		t.Fatalf("dry run of one route:\n%s\nwant\n%s", got, want)
	}
	want = "replay --dry-run: 1 records read from gateway.raw.v1 (0 bad), 1 events would be published, 0 differ from gateway.inbound.v1 (0 missing, 0 changed)"
	if got := replay(append(rng, "--dry-run", "--route", "/webhooks/whatsapp")...); got != want {
		t.Fatalf("dry run of the WhatsApp route:\n%s\nwant\n%s", got, want)
	}
}

// sendFour sends a signed SMS, WhatsApp message, email (with an attachment)
// and Twilio status callback, each answered 200.
func sendFour(t *testing.T, g *Gateway) {
	t.Helper()
	if s, b := postTwilio(t, g, twilio.MessagingPath, smsForm("SM00000000000000000000000000000001", "+14155550101", "Hi, my order is late"), nil); s != http.StatusOK {
		t.Fatalf("SMS: %d %s", s, b)
	}
	wa := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.IN1","timestamp":"%d","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}`,
		time.Now().Unix()))
	if s, b := postMeta(t, g, "/webhooks/whatsapp", wa, meta.Sign(metaSecret, wa)); s != http.StatusOK {
		t.Fatalf("WhatsApp: %d %s", s, b)
	}
	mail, err := os.ReadFile("../../connectors/sendgrid/testdata/inbound_attachment.txt")
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"Content-Type": "multipart/form-data; boundary=xYzZY",
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("parse:s3cret"))}
	if s, b := post(t, g, "/webhooks/sendgrid/inbound", mail, hdr); s != http.StatusOK {
		t.Fatalf("email: %d %s", s, b)
	}
	st := url.Values{"MessageSid": {"SM0000000000000000000000000000dead"}, "MessageStatus": {"delivered"}, "To": {"+14155550101"}}
	if s, b := postTwilio(t, g, twilio.StatusPath, st, nil); s != http.StatusOK {
		t.Fatalf("status callback: %d %s", s, b)
	}
}

// rawSMS is the raw.v1 record the messaging webhook keeps of a signed form
// received at a time.
func rawSMS(form url.Values, at time.Time) kafkabus.Record {
	u := testPublic + twilio.MessagingPath
	return kafkabus.Record{Topic: "gateway.raw.v1", Key: []byte("sms:" + form.Get("From")), Value: []byte(form.Encode()), Headers: []kafka.Header{
		{Key: "route", Value: []byte("twilio_messaging")}, {Key: "method", Value: []byte(http.MethodPost)}, {Key: "url", Value: []byte(u)},
		{Key: "received_at", Value: []byte(at.UTC().Format(time.RFC3339Nano))}, {Key: "request_id", Value: []byte("test")},
		{Key: "http-content-type", Value: []byte("application/x-www-form-urlencoded")},
		{Key: "http-x-twilio-signature", Value: []byte(twilio.Sign(testToken, u, form))}}}
}

// readAll reads every record a topic holds now.
func readAll(t *testing.T, g *Gateway, topic string) []topicEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ranges, err := offsetRange(ctx, g.producer.Client(), topic, time.Unix(0, 0), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var out []topicEvent
	for _, pr := range ranges {
		if err := readRange(ctx, g.brokers, topic, pr, func(m kafka.Message) error {
			te := topicEvent{Key: string(m.Key), Headers: map[string]string{}}
			for _, h := range m.Headers {
				te.Headers[h.Key] = string(h.Value)
			}
			te.Event, _ = normalize.DecodeEvent(m.Value)
			out = append(out, te)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Every provider route's Replay handler makes of a request what its
// webhook handler makes of it (the same events by identity and content),
// and needs none of the provider's secrets.
func TestReplayParsesAsTheWebhook(t *testing.T) {
	_, signed := testConfig(t, "", nil, map[string]string{"META_APP_SECRET": metaSecret, "META_VERIFY_TOKEN": metaVerify,
		"SENDGRID_INBOUND_USER": "parse", "SENDGRID_INBOUND_PASSWORD": "s3cret", "SENDGRID_EVENT_PUBLIC_KEY": sendgridPublicKey})
	_, bare := testConfig(t, "", nil, map[string]string{"TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": ""})
	log := slog.New(slog.DiscardHandler)
	webhooks, err := replayRoutes(signed, log, true)
	if err != nil {
		t.Fatal(err)
	}
	replays, err := replayRoutes(bare, log, true)
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string) []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sms := smsForm("SM00000000000000000000000000000001", "+14155550101", "hi")
	status := url.Values{"MessageSid": {"SM00000000000000000000000000000009"}, "MessageStatus": {"read"}, "To": {"whatsapp:+14155550101"}}
	wa, fb := read("../../connectors/meta/testdata/wa_batch.json"), read("../../connectors/meta/testdata/fb_batch.json")
	events := read("../../connectors/sendgrid/testdata/sendgrid_event_selfsigned_payload.bin")
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	form := "application/x-www-form-urlencoded"
	for _, tc := range []struct {
		route  string
		body   []byte
		header http.Header
		query  string
	}{
		{"twilio_messaging", []byte(sms.Encode()), http.Header{"Content-Type": {form},
			"X-Twilio-Signature": {twilio.Sign(testToken, testPublic+twilio.MessagingPath, sms)}}, ""},
		{"twilio_status", []byte(status.Encode()), http.Header{"Content-Type": {form},
			"X-Twilio-Signature": {twilio.Sign(testToken, testPublic+twilio.StatusPath+"?gateway_message_id=m1", status)}}, "?gateway_message_id=m1"},
		{"meta_whatsapp", wa, http.Header{"X-Hub-Signature-256": {meta.Sign(metaSecret, wa)}}, ""},
		{"meta_messenger", fb, http.Header{"X-Hub-Signature-256": {meta.Sign(metaSecret, fb)}}, ""},
		{"sendgrid_inbound", read("../../connectors/sendgrid/testdata/inbound_attachment.txt"), http.Header{
			"Content-Type":  {"multipart/form-data; boundary=xYzZY"},
			"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("parse:s3cret"))}}, ""},
		{"sendgrid_events", events, http.Header{"X-Twilio-Email-Event-Webhook-Timestamp": {ts},
			"X-Twilio-Email-Event-Webhook-Signature": {signSendGrid(t, ts, events)}}, ""},
	} {
		t.Run(tc.route, func(t *testing.T) {
			rt := webhooks[tc.route]
			req := func(h http.Header) *webhook.Request {
				u := testPublic + rt.Path + tc.query
				q, _ := url.ParseQuery(strings.TrimPrefix(tc.query, "?"))
				return &webhook.Request{Method: http.MethodPost, URL: u, Header: h, Query: q, Body: tc.body,
					ReceivedAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
			}
			want, err := rt.Handler.Handle(context.Background(), req(tc.header))
			if err != nil || len(want.Events) == 0 {
				t.Fatalf("webhook: %v, %d events", err, len(want.Events))
			}
			// What raw.v1 keeps: no Authorization header.
			kept := tc.header.Clone()
			kept.Del("Authorization")
			got, err := replays[tc.route].Replay.Handle(context.Background(), req(kept))
			if err != nil {
				t.Fatalf("replay without secrets: %v", err)
			}
			if len(got.Events) != len(want.Events) {
				t.Fatalf("replay made %d events, the webhook %d", len(got.Events), len(want.Events))
			}
			for i := range want.Events {
				w, _ := want.Events[i].Event.Encode()
				g, _ := got.Events[i].Event.Encode()
				wid, wsum, _ := eventIdentity(w)
				gid, gsum, _ := eventIdentity(g)
				if wid != gid || wsum != gsum || want.Events[i].Key != got.Events[i].Key {
					t.Errorf("event %d: replay %s (key %s), webhook %s (key %s)\n%s\n%s", i, gid, got.Events[i].Key, wid, want.Events[i].Key, g, w)
				}
			}
		})
	}
}
