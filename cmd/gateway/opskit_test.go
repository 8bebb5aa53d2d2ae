package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore"
)

const dashboardPath = "../../config/grafana/gateway.json"

// dashboardExprs returns the PromQL expression of every panel target of the
// Grafana dashboard (rows' nested panels included), keyed "panel title/refId".
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title      string          `json:"title"`
		Type       string          `json:"type"`
		Datasource json.RawMessage `json:"datasource"`
		Targets    []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name, Type, Query string
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if !slices.ContainsFunc(dash.Templating.List, func(v struct{ Name, Type, Query string }) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	}) {
		t.Errorf("the dashboard has no ${datasource} variable of type datasource (prometheus)")
	}
	out := map[string]string{}
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if !strings.Contains(string(p.Datasource), "${datasource}") {
				t.Errorf("panel %q: datasource %s, want ${datasource}", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %q target %s has no expression", p.Title, tg.RefID)
				}
				out[p.Title+"/"+tg.RefID] = tg.Expr
			}
		}
	}
	walk(dash.Panels)
	if len(out) == 0 {
		t.Fatal("no panel queries in the dashboard")
	}
	return out
}

var (
	promString  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	metricToken = regexp.MustCompile(`\bgateway_[A-Za-z0-9_]+`)
)

// metricNames returns the gateway_ metric names an expression reads (label
// values are skipped).
func metricNames(expr string) []string {
	return metricToken.FindAllString(promString.ReplaceAllString(expr, `""`), -1)
}

// scrapeTypes reads /metrics and returns each metric family's type.
func scrapeTypes(t *testing.T, g *Gateway) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + g.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	types := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return types
}

// registered reports whether the gateway's registry has a collector
// describing a metric of that name, with or without series yet (a counter
// vector appears on /metrics only at its first increment): registering
// another collector under the same name fails exactly then.
func registered(reg prometheus.Registerer, name string) bool {
	probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"})
	if err := reg.Register(probe); err != nil {
		return true
	}
	reg.Unregister(probe)
	return false
}

// Every metric a dashboard panel reads is one the gateway exports: the
// gateway runs all roles, takes a signed webhook and sends a reply, and
// each name in the panels' PromQL must be a family on /metrics (a
// histogram's _bucket, _sum and _count included) or a collector its
// registry holds.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	fake := providertest.NewTwilio(t)
	g := startGateway(t, sqlstore.SQLite, map[string]string{
		"TWILIO_ACCOUNT_SID": providertest.TwilioAccountSID, "TWILIO_AUTH_TOKEN": providertest.TwilioAuthToken,
		"TWILIO_API_URL": fake.URL, "GATEWAY_API_TOKENS": "agent:agent-token",
	})
	const path = "/webhooks/twilio/messaging"
	in := smsForm("SM00000000000000000000000000000001", "+14155550101", "Where is my parcel?")
	sig := twilio.Sign(providertest.TwilioAuthToken, testPublic+path, in)
	if s, b := postTwilio(t, g, path, in, &sig); s != http.StatusOK {
		t.Fatalf("webhook: %d %s", s, b)
	}
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr()+"/v1/conversations/"+url.PathEscape(conv)+"/messages",
		strings.NewReader(`{"text":"It ships today"}`))
	req.Header.Set("Authorization", "Bearer agent-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("reply: %d %s", resp.StatusCode, b)
	}
	consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 1 })

	var types map[string]string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		types = scrapeTypes(t, g)
		if types["gateway_outbox_send_seconds"] == "histogram" || time.Now().After(deadline) {
			break
		}
	}
	// The figures the dashboard is about exist as series after one webhook and one reply.
	for _, name := range []string{"gateway_webhook_requests_total", "gateway_webhook_duration_seconds", "gateway_kafka_produce_seconds",
		"gateway_kafka_consumer_lag", "gateway_core_batch_records", "gateway_core_events_published_total", "gateway_outbox_pending",
		"gateway_outbox_attempts_total", "gateway_outbox_send_seconds", "gateway_conversations", "gateway_chat_connections"} {
		if types[name] == "" {
			t.Errorf("%s is not on /metrics after a webhook and a reply", name)
		}
	}

	exprs := dashboardExprs(t)
	used := map[string]bool{}
	for panel, expr := range exprs {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("panel %s reads no gateway_ metric: %s", panel, expr)
		}
		for _, name := range names {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && types[b] == "histogram" {
					base = b
				}
			}
			used[base] = true
			if types[base] == "" && !registered(g.reg, base) {
				t.Errorf("panel %s reads %s, which the gateway does not export", panel, name)
			}
			if base == name && types[name] == "histogram" {
				t.Errorf("panel %s reads histogram %s without _bucket, _sum or _count", panel, name)
			}
		}
	}
	// The whole path is on the dashboard.
	for _, name := range []string{"gateway_webhook_requests_total", "gateway_webhook_duration_seconds", "gateway_kafka_produce_seconds",
		"gateway_kafka_produce_errors_total", "gateway_kafka_consumer_lag", "gateway_core_batch_records", "gateway_core_messages_total",
		"gateway_core_dead_letters_total", "gateway_core_events_published_total", "gateway_outbox_pending", "gateway_outbox_attempts_total",
		"gateway_outbox_send_seconds", "gateway_media_copies_total", "gateway_chat_connections", "gateway_conversations",
		"gateway_unreplied_messages", "gateway_unassigned_conversations"} {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

// The tokenizer finds metric names and skips label values and functions.
func TestMetricNames(t *testing.T) {
	got := metricNames(`histogram_quantile(0.99, sum by (le) (rate(gateway_webhook_duration_seconds_bucket{topic="gateway_x"}[5m])))` +
		` / on() group_left sum(gateway_outbox_pending)`)
	want := []string{"gateway_webhook_duration_seconds_bucket", "gateway_outbox_pending"}
	if !slices.Equal(got, want) {
		t.Fatalf("metricNames: %v, want %v", got, want)
	}
}
