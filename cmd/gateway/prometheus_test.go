package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore"
)

const alertsPath = "../../config/prometheus/alerts.yml"

// A real Prometheus server scrapes a running gateway with the shipped alert
// rules loaded: it sees the accepted webhooks, the signature alert goes
// pending after forged webhooks while the no-events alert stays quiet, and
// every dashboard query evaluates. Skipped without a prometheus binary
// (Debian's prometheus package) unless GATEWAY_TEST_PROMETHEUS=1.
func TestPrometheusScrapesGateway(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("GATEWAY_TEST_PROMETHEUS") == "1" {
			t.Fatalf("GATEWAY_TEST_PROMETHEUS=1 but prometheus is not on PATH: %v", err)
		}
		t.Skip("prometheus is not on PATH (apt-get install prometheus); GATEWAY_TEST_PROMETHEUS=1 makes this a failure")
	}
	g := startGateway(t, sqlstore.SQLite, nil)
	prom := startPrometheus(t, bin, g.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Scraped at least once, with the relay's counter present, before any
	// webhook: the increases below then start from a sample Prometheus has.
	prom.waitFor(ctx, `up{job="gateway"} == 1 and on() count(gateway_core_events_published_total) > 0`,
		func(r []promSample) bool { return len(r) == 1 })

	for i := 1; i <= 3; i++ {
		form := smsForm(fmt.Sprintf("SM%032d", i), "+14155550101", "hello")
		if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", form, nil); s != http.StatusOK {
			t.Fatalf("webhook %d: %d %s", i, s, b)
		}
	}
	prom.waitFor(ctx, `gateway_webhook_requests_total{job="gateway",connector="twilio_messaging",outcome="accepted"}`,
		func(r []promSample) bool { return len(r) == 1 && r[0].Value == 3 })
	// Events reached events.v1: the relay's counter rose in Prometheus.
	prom.waitFor(ctx, `increase(gateway_core_events_published_total[1m]) > 0`, func(r []promSample) bool { return len(r) == 1 })

	forged := "forged"
	for i := 1; i <= 25; i++ {
		form := smsForm(fmt.Sprintf("SM%032d", 100+i), "+14155550199", "let me in")
		if s, _ := postTwilio(t, g, "/webhooks/twilio/messaging", form, &forged); s != http.StatusForbidden {
			t.Fatalf("forged webhook %d: %d, want 403", i, s)
		}
	}
	prom.waitFor(ctx, `gateway_webhook_requests_total{connector="twilio_messaging",outcome="signature"}`,
		func(r []promSample) bool { return len(r) == 1 && r[0].Value == 25 })

	// The rule's own expression, as Prometheus loaded it, returns the
	// connector; the alert is pending (for: 2m) or firing.
	expr := prom.ruleExpr(ctx, "GatewaySignatureFailuresSpike")
	prom.waitFor(ctx, expr, func(r []promSample) bool {
		return len(r) == 1 && r[0].Metric["connector"] == "twilio_messaging" && r[0].Value >= 25
	})
	alerts := prom.waitForAlert(ctx, "GatewaySignatureFailuresSpike")
	if alerts[0].Labels["connector"] != "twilio_messaging" || !strings.Contains(alerts[0].Annotations["runbook_url"], "#runbook-gatewaysignaturefailuresspike") {
		t.Errorf("alert %+v", alerts[0])
	}
	// Webhooks arrive and events are relayed: no alert about it, and its
	// expression returns nothing.
	if r := prom.query(ctx, prom.ruleExpr(ctx, "GatewayNoEventsRelayed")); len(r) != 0 {
		t.Errorf("GatewayNoEventsRelayed expression returns %v while events are relayed", r)
	}
	for _, a := range prom.alerts(ctx) {
		if a.Labels["alertname"] == "GatewayNoEventsRelayed" {
			t.Errorf("GatewayNoEventsRelayed is %s while events are relayed", a.State)
		}
	}

	// Every dashboard query is valid PromQL for this server; the request
	// panel shows the accepted webhooks.
	for panel, expr := range dashboardExprs(t) {
		r := prom.query(ctx, strings.ReplaceAll(expr, "$__rate_interval", "1m"))
		if panel == "Webhooks by connector and outcome/A" && len(r) == 0 {
			t.Errorf("panel %s shows nothing", panel)
		}
	}
}

type promServer struct {
	t    *testing.T
	base string
	out  *lockedBuffer
}

type promSample struct {
	Metric map[string]string
	Value  float64
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// lockedBuffer collects the server's output for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startPrometheus runs a Prometheus server on a free port scraping target
// every second, with the shipped alert rules evaluated every second.
func startPrometheus(t *testing.T, bin, target string) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: gateway
    static_configs:
      - targets: [%q]
`, rules, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	p := &promServer{t: t, base: "http://" + addr, out: out}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 20s:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *promServer) api(ctx context.Context, path string, q url.Values, data any) {
	p.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("prometheus %s: %v\n%s", path, err, p.out)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		p.t.Fatalf("prometheus %s: %v", path, err)
	}
	if body.Status != "success" {
		p.t.Fatalf("prometheus %s %v: %s %s", path, q, body.Status, body.Error)
	}
	if err := json.Unmarshal(body.Data, data); err != nil {
		p.t.Fatalf("prometheus %s: %v", path, err)
	}
}

// query evaluates an instant query; a query Prometheus refuses fails the test.
func (p *promServer) query(ctx context.Context, expr string) []promSample {
	p.t.Helper()
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	p.api(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data)
	out := make([]promSample, 0, len(data.Result))
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			p.t.Fatalf("query %s: value %v", expr, r.Value)
		}
		out = append(out, promSample{Metric: r.Metric, Value: v})
	}
	return out
}

// waitFor polls a query until ok accepts its result or ctx ends.
func (p *promServer) waitFor(ctx context.Context, expr string, ok func([]promSample) bool) []promSample {
	p.t.Helper()
	for {
		r := p.query(ctx, expr)
		if ok(r) {
			return r
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("waiting for %s: last result %v", expr, r)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ruleExpr returns the expression of an alerting rule as Prometheus loaded it.
func (p *promServer) ruleExpr(ctx context.Context, alert string) string {
	p.t.Helper()
	var data struct {
		Groups []struct {
			Rules []struct {
				Name  string `json:"name"`
				Query string `json:"query"`
				Type  string `json:"type"`
			} `json:"rules"`
		} `json:"groups"`
	}
	p.api(ctx, "/api/v1/rules", url.Values{"type": {"alert"}}, &data)
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			if r.Name == alert {
				return r.Query
			}
		}
	}
	p.t.Fatalf("prometheus did not load the rule %s from %s", alert, alertsPath)
	return ""
}

func (p *promServer) alerts(ctx context.Context) []promAlert {
	p.t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	p.api(ctx, "/api/v1/alerts", nil, &data)
	return data.Alerts
}

// waitForAlert polls until the alert is pending or firing.
func (p *promServer) waitForAlert(ctx context.Context, name string) []promAlert {
	p.t.Helper()
	for {
		var out []promAlert
		for _, a := range p.alerts(ctx) {
			if a.Labels["alertname"] == name && (a.State == "pending" || a.State == "firing") {
				out = append(out, a)
			}
		}
		if len(out) > 0 {
			return out
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("alert %s never became pending", name)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
