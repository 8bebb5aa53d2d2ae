package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// FuzzReplayRecord feeds raw.v1 records (the route, method, URL, arrival
// time and content type headers, and the body) to rawRequest and the
// route's Replay handler, as `gateway replay` does: a record is either
// refused with a documented error (counted as bad) or gives events that
// encode and decode as inbound events.
func FuzzReplayRecord(f *testing.F) {
	_, cfg := testConfig(f, "", nil, nil)
	routes, err := replayRoutes(cfg, slog.New(slog.DiscardHandler), true)
	if err != nil {
		f.Fatal(err)
	}
	at := "2026-12-01T10:00:00.123456789Z"
	form := "application/x-www-form-urlencoded"
	f.Add("twilio_messaging", "POST", testPublic+"/webhooks/twilio/messaging", at, form, []byte(smsForm("SM1", "+14155550101", "hi").Encode()))
	f.Add("twilio_status", "POST", testPublic+"/webhooks/twilio/status?gateway_message_id=m1", at, form, []byte("MessageSid=SM1&MessageStatus=delivered&To=%2B14155550101"))
	for route, file := range map[string]string{"meta_whatsapp": "../../connectors/meta/testdata/wa_batch.json",
		"meta_messenger": "../../connectors/meta/testdata/fb_batch.json", "sendgrid_events": "../../connectors/sendgrid/testdata/sendgrid_event_selfsigned_payload.bin",
		"sendgrid_inbound": "../../connectors/sendgrid/testdata/inbound_default.txt"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(route, "POST", testPublic+"/webhooks/x", at, "multipart/form-data; boundary=xYzZY", b)
	}
	f.Add("", "", "", "", "", []byte{})
	f.Fuzz(func(t *testing.T, route, method, u, received, ct string, body []byte) {
		m := kafka.Message{Topic: "gateway.raw.v1", Value: body, Time: time.Unix(1_800_000_000, 0), Headers: []kafka.Header{
			{Key: "route", Value: []byte(route)}, {Key: "method", Value: []byte(method)}, {Key: "url", Value: []byte(u)},
			{Key: "received_at", Value: []byte(received)}, {Key: "http-content-type", Value: []byte(ct)}}}
		name, req, err := rawRequest(m)
		if err != nil {
			return
		}
		rt, ok := routes[name]
		if !ok || rt.Replay == nil {
			return
		}
		res, err := rt.Replay.Handle(context.Background(), req)
		if err != nil {
			if !errors.Is(err, webhook.ErrMalformed) && !errors.Is(err, webhook.ErrUnsupported) {
				t.Fatalf("%s: undocumented error %v", name, err)
			}
			return
		}
		for _, ev := range res.Events {
			rec, err := inboundRecord("gateway.inbound.v1", ev, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := normalize.ValidateEvent("inbound", rec.Value); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, rec.Value)
			}
			if _, _, ok := eventIdentity(rec.Value); !ok {
				t.Fatalf("%s: the event does not decode: %s", name, rec.Value)
			}
		}
	})
}
