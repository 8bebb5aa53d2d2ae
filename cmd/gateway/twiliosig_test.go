package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// postRaw posts body as a Twilio form with the signature sig.
func postRaw(t *testing.T, g *Gateway, path, body, sig string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// rawBodies reads the first n records of raw.v1 and returns their bodies.
func rawBodies(t *testing.T, g *Gateway, n int) []string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: g.brokers, GroupID: "test-" + normalize.NewID(), Topic: g.cfg.TopicPrefix + "raw.v1",
		StartOffset: kafka.FirstOffset, MaxWait: 50 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("reading raw.v1: %v; got %d records", err, len(out))
		}
		out = append(out, string(m.Value))
	}
	return out
}

// A captured signed SMS replayed with "&Body=INJECTED&MessageSid=SMfake"
// appended is refused as unsigned (403), and a form Twilio's algorithm
// signs but that repeats a parameter as malformed (400): raw.v1 keeps only
// the signed requests, byte for byte, and no injected text becomes a message.
func TestTwilioAppendedValuesRefused(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startGateway(t, dialect, nil)
			path := twilio.MessagingPath
			first := smsForm("SM00000000000000000000000000000001", "+14155550101", "Where is my order?")
			body, sig := first.Encode(), twilio.Sign(testToken, testPublic+path, first)
			if s := postRaw(t, g, path, body, sig); s != http.StatusOK {
				t.Fatalf("the signed request: %d", s)
			}
			if s := postRaw(t, g, path, body+"&Body=INJECTED&MessageSid=SMfake", sig); s != http.StatusForbidden {
				t.Fatalf("the captured request with appended values: %d, want 403", s)
			}
			twice := smsForm("SM00000000000000000000000000000002", "+14155550101", "first")
			twice.Add("Body", "INJECTED")
			if s := postRaw(t, g, path, twice.Encode(), twilio.Sign(testToken, testPublic+path, twice)); s != http.StatusBadRequest {
				t.Fatalf("a signed form repeating Body: %d, want 400", s)
			}
			last := smsForm("SM00000000000000000000000000000003", "+14155550101", "Thanks")
			if s := postRaw(t, g, path, last.Encode(), twilio.Sign(testToken, testPublic+path, last)); s != http.StatusOK {
				t.Fatalf("the second signed request: %d", s)
			}
			// One contact: one partition, in order. A refused request
			// recorded would come between the two.
			if got := rawBodies(t, g, 2); got[0] != body || got[1] != last.Encode() {
				t.Fatalf("raw.v1 holds\n%q\nwant the two signed bodies", got)
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") >= 2 })
			var texts []string
			for _, ev := range ofType(evs, "message.received") {
				m, _ := ev.Data["message"].(map[string]any)
				text, _ := m["text"].(string)
				texts = append(texts, text)
			}
			if strings.Join(texts, "|") != "Where is my order?|Thanks" {
				t.Fatalf("messages received: %q", texts)
			}
		})
	}
}
