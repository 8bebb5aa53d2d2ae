package connectors_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/kafkabus"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// Every request is named: a caller's safe X-Request-Id is kept, an unsafe
// or missing one replaced by a new UUIDv7; the id is answered, written on
// the webhook's raw record and on its log lines (one info line per webhook
// request with connector, outcome, status and duration; a refusal's line
// too), and nothing of the request's body, addresses or signature is logged.
func TestRequestID(t *testing.T) {
	const token, public = "reqid-token", "https://gw.example.com"
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	app := connectors.NewApp(connectors.Config{PublicURL: public, Log: log})
	rec := &recorder{}
	wh := connectors.NewIngest(rec, kafkabus.Topics{Prefix: "gateway."}, public, log, prometheus.NewRegistry())
	wh.Mount(app, webhook.Route{Name: "twilio_messaging", Path: twilio.MessagingPath, Methods: []string{http.MethodPost},
		Handler: twilio.Messaging{Verifier: twilio.NewVerifier(token)}})

	form := url.Values{"MessageSid": {"SM1"}, "From": {"+14155550101"}, "To": {"+15558675310"}, "Body": {"secret-ish body"}}
	send := func(id, sig string) *http.Response {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, twilio.MessagingPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		if id != "" {
			req.Header.Set(edge.HeaderRequestID, id)
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	sig := twilio.Sign(token, public+twilio.MessagingPath, form)
	long := strings.Repeat("a", 65)
	cases := []struct {
		name, given, sig string
		status           int
		outcome          string
		keep             bool
	}{
		{"safe id kept", "req-42_A.b", sig, http.StatusOK, "accepted", true},
		{"64 characters kept", long[:64], sig, http.StatusOK, "accepted", true},
		{"too long replaced", long, sig, http.StatusOK, "accepted", false},
		{"unsafe replaced", "a b\"}{", sig, http.StatusOK, "accepted", false},
		{"none made", "", sig, http.StatusOK, "accepted", false},
		{"forged", "forged-1", "bad", http.StatusForbidden, "signature", true},
	}
	for _, tc := range cases {
		logs.Reset()
		rec.recs = nil
		resp := send(tc.given, tc.sig)
		id := resp.Header.Get(edge.HeaderRequestID)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if tc.keep && id != tc.given || !tc.keep && !uuidV7.MatchString(id) {
			t.Errorf("%s: X-Request-Id %q (given %q)", tc.name, id, tc.given)
		}
		if tc.status == http.StatusOK {
			var raw map[string]string
			for _, r := range rec.recs {
				if r.Topic == "gateway.raw.v1" {
					raw = map[string]string{}
					for _, h := range r.Headers {
						raw[h.Key] = string(h.Value)
					}
				}
			}
			if raw["request_id"] != id {
				t.Errorf("%s: raw record request_id %q, want %q", tc.name, raw["request_id"], id)
			}
		}
		var access int
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var l map[string]any
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("%s: log line %q: %v", tc.name, line, err)
			}
			if l["request_id"] != id || l["connector"] != "twilio_messaging" || l["outcome"] != tc.outcome {
				t.Errorf("%s: log line %s, want request_id %q, connector and outcome %q", tc.name, line, id, tc.outcome)
			}
			if l["msg"] == "webhook" {
				access++
				if l["level"] != "INFO" || l["status"] != float64(tc.status) || l["duration_ms"] == nil {
					t.Errorf("%s: access line %s", tc.name, line)
				}
			}
			for _, leak := range []string{"+1415", "secret-ish", sig, token} {
				if strings.Contains(line, leak) {
					t.Errorf("%s: log line %s holds %q", tc.name, line, leak)
				}
			}
		}
		if access != 1 {
			t.Errorf("%s: %d access lines, want 1:\n%s", tc.name, access, logs.String())
		}
	}

	// Routes of every kind answer with an id, errors included.
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/nowhere", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotFound || !uuidV7.MatchString(resp.Header.Get(edge.HeaderRequestID)) {
		t.Errorf("unknown route: %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get(edge.HeaderRequestID))
	}
	a, b := send("", sig).Header.Get(edge.HeaderRequestID), send("", sig).Header.Get(edge.HeaderRequestID)
	if a == b {
		t.Errorf("two requests got the same id %q", a)
	}
}
