package connectors_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/kafkabus"
)

// recorder keeps copies of what it is asked to produce (the caller reuses
// the records' memory once Produce returns).
type recorder struct {
	mu   sync.Mutex
	recs []kafkabus.Record
}

func (r *recorder) Produce(_ context.Context, recs ...kafkabus.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		c := kafkabus.Record{Topic: rec.Topic, Key: append([]byte(nil), rec.Key...), Value: append([]byte(nil), rec.Value...)}
		for _, h := range rec.Headers {
			c.Headers = append(c.Headers, h)
			c.Headers[len(c.Headers)-1].Value = append([]byte(nil), h.Value...)
		}
		r.recs = append(r.recs, c)
	}
	return nil
}

// The raw record of a webhook is keyed by its contact, as its inbound
// record is; one that names no contact is keyed by its body, so that a
// route's records spread over the partitions. Its headers are the request's
// (credentials excepted) and the route, method, URL and arrival time.
func TestRawRecordKeyAndHeaders(t *testing.T) {
	const token, public = "raw-token", "https://gw.example.com"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app := connectors.NewApp(connectors.Config{PublicURL: public, Log: log})
	rec := &recorder{}
	wh := connectors.NewIngest(rec, kafkabus.Topics{Prefix: "gateway."}, public, log, prometheus.NewRegistry())
	ignored := webhook.HandlerFunc(func(context.Context, *webhook.Request) (webhook.Result, error) {
		return webhook.Result{Ignored: 1}, nil
	})
	wh.Mount(app,
		webhook.Route{Name: "twilio_messaging", Path: twilio.MessagingPath, Methods: []string{http.MethodPost},
			Handler: twilio.Messaging{Verifier: twilio.NewVerifier(token)}},
		webhook.Route{Name: "other", Path: "/webhooks/other", Methods: []string{http.MethodPost}, Handler: ignored})

	for _, from := range []string{"+14155550101", "+14155550102"} {
		form := url.Values{"MessageSid": {"SM" + from[1:]}, "From": {from}, "To": {"+15558675310"}, "Body": {"hi"}}
		req := httptest.NewRequest(http.MethodPost, twilio.MessagingPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilio.Sign(token, public+twilio.MessagingPath, form))
		req.Header.Set("Authorization", "Basic c2VjcmV0OnNlY3JldA==")
		req.Header.Set("X-Custom-Thing", "kept")
		resp, err := app.Test(req, -1)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("twilio webhook: %v %v", resp, err)
		}
	}
	for _, body := range []string{"one", "two"} {
		resp, err := app.Test(httptest.NewRequest(http.MethodPost, "/webhooks/other", strings.NewReader(body)), -1)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("other webhook: %v %v", resp, err)
		}
	}

	var raw, inbound []kafkabus.Record
	for _, r := range rec.recs {
		switch r.Topic {
		case "gateway.raw.v1":
			raw = append(raw, r)
		case "gateway.inbound.v1":
			inbound = append(inbound, r)
		}
	}
	if len(raw) != 4 || len(inbound) != 2 {
		t.Fatalf("%d raw and %d inbound records, want 4 and 2", len(raw), len(inbound))
	}
	for i, want := range []string{"sms:+14155550101", "sms:+14155550102"} {
		if string(raw[i].Key) != want || string(inbound[i].Key) != want {
			t.Errorf("request %d: raw key %q, inbound key %q, want %q for both", i, raw[i].Key, inbound[i].Key, want)
		}
		h := map[string]string{}
		for _, kv := range raw[i].Headers {
			h[kv.Key] = string(kv.Value)
		}
		if h["route"] != "twilio_messaging" || h["method"] != "POST" || h["url"] != public+twilio.MessagingPath ||
			h["received_at"] == "" || h["http-x-twilio-signature"] == "" || h["http-x-custom-thing"] != "kept" ||
			h["http-content-type"] != "application/x-www-form-urlencoded" {
			t.Errorf("request %d: raw headers %v", i, h)
		}
		if _, ok := h["http-authorization"]; ok {
			t.Errorf("request %d: the Authorization header reached raw.v1", i)
		}
	}
	if k2, k3 := string(raw[2].Key), string(raw[3].Key); k2 == "" || k2 == k3 || k2 == "other" {
		t.Errorf("raw keys of requests without a contact: %q and %q, want different keys made of the bodies", k2, k3)
	}
}

// A request whose handler dead-letters it is answered 200 with the
// handler's body, kept on raw.v1, copied to dlq.v1 with the reason and the
// raw record's headers, never put on inbound.v1, and counted by reason.
func TestWebhookDeadLetter(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app := connectors.NewApp(connectors.Config{Log: log})
	rec := &recorder{}
	reg := prometheus.NewRegistry()
	wh := connectors.NewIngest(rec, kafkabus.Topics{Prefix: "gateway."}, "", log, reg)
	dead := webhook.HandlerFunc(func(context.Context, *webhook.Request) (webhook.Result, error) {
		return webhook.Result{ContentType: "text/xml", Body: twilio.EmptyTwiML,
			DeadLetter: webhook.DeadLetterUnknownEntryPoint, DeadLetterError: "no entry point has the address"}, nil
	})
	wh.Mount(app, webhook.Route{Name: "twilio_messaging", Path: "/webhooks/dead", Methods: []string{http.MethodPost}, Handler: dead})
	resp, err := app.Test(httptest.NewRequest(http.MethodPost, "/webhooks/dead", strings.NewReader("To=%2B15550000000")), -1)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("dead-lettered webhook: %v %v", resp, err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != string(twilio.EmptyTwiML) {
		t.Errorf("answer %q", b)
	}
	topics := map[string]kafkabus.Record{}
	for _, r := range rec.recs {
		topics[r.Topic] = r
	}
	raw, dlq := topics["gateway.raw.v1"], topics["gateway.dlq.v1"]
	if len(rec.recs) != 2 || raw.Topic == "" || dlq.Topic == "" {
		t.Fatalf("records %+v, want one on raw.v1 and one on dlq.v1", rec.recs)
	}
	h := map[string]string{}
	for _, kv := range dlq.Headers {
		h[kv.Key] = string(kv.Value)
	}
	if string(dlq.Value) != "To=%2B15550000000" || string(dlq.Key) != string(raw.Key) || h["dlq-reason"] != "unknown_entry_point" ||
		h["dlq-topic"] != "gateway.raw.v1" || h["route"] != "twilio_messaging" || h["dlq-error"] == "" {
		t.Errorf("dlq record %q %q %v", dlq.Key, dlq.Value, h)
	}
	mfs, _ := reg.Gather()
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "gateway_webhook_dead_letters_total" {
			for _, m := range mf.GetMetric() {
				found = found || m.GetCounter().GetValue() == 1 && len(m.GetLabel()) == 2 && m.GetLabel()[1].GetValue() == "unknown_entry_point"
			}
		}
	}
	if !found {
		t.Error("gateway_webhook_dead_letters_total{reason=unknown_entry_point} is not 1")
	}
}

// The URL a provider's handler sees (and checks a signature over) is the
// public URL and the request's path and query, whether or not there is a
// query, on the public URL and without one (the request's host).
func TestWebhookRequestURL(t *testing.T) {
	for _, public := range []string{"https://gw.example.com/", ""} {
		app := connectors.NewApp(connectors.Config{PublicURL: public, Log: slog.New(slog.DiscardHandler)})
		var seen []string
		wh := connectors.NewIngest(&recorder{}, kafkabus.Topics{Prefix: "t."}, public, slog.New(slog.DiscardHandler), nil)
		wh.Mount(app, connectors.Route{Name: "r", Path: "/webhooks/r", Methods: []string{http.MethodPost},
			Handler: webhook.HandlerFunc(func(_ context.Context, r *webhook.Request) (webhook.Result, error) {
				seen = append(seen, r.URL)
				return webhook.Result{Body: []byte("ok")}, nil
			})})
		base := strings.TrimRight(public, "/")
		if base == "" {
			base = "http://example.com" // httptest.NewRequest's host
		}
		for _, path := range []string{"/webhooks/r", "/webhooks/r?a=1&b=%20", "/webhooks/r", "/webhooks/r/"} {
			req := httptest.NewRequest(http.MethodPost, path, strings.NewReader("x=1"))
			resp, err := app.Test(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %v %v", path, resp, err)
			}
			if want := base + path; seen[len(seen)-1] != want {
				t.Errorf("public URL %q, request %s: the handler saw %q, want %q", public, path, seen[len(seen)-1], want)
			}
		}
	}
}
