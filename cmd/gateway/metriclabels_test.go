package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/opengateway/gateway/core/sqlstore"
)

// A request's bytes never become a metric's label: after GET then PUT on
// one keep-alive connection (fiber reuses the buffer the method was read
// into), /metrics still answers 200 with a GET and a PUT series, and a
// method outside the standard set is counted as "other".
func TestMetricLabelsSurviveKeepAliveRequests(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_API_TOKENS": "agent:agent-token"})
	conn, err := net.Dial("tcp", g.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for _, m := range []string{"GET", "PUT", "TRACE", "GET"} {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte(httpRequestText(m, "/v1/y", ""))); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s /v1/y: %v", m, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s /v1/y: %d, want 404", m, resp.StatusCode)
		}
	}
	// fiber refuses a method it does not know (400) before any route.
	if a := pipeline(t, g.Addr(), httpRequestText("FOOBAR", "/v1/y", "")); a[0].status != http.StatusBadRequest {
		t.Errorf("FOOBAR /v1/y: %d, want 400", a[0].status)
	}
	got := get(t, g, "/metrics")
	if !strings.HasPrefix(got, "200 ") {
		t.Fatalf("/metrics after GET and PUT on one connection: %.300s", got)
	}
	for _, want := range []string{
		`gateway_api_requests_total{method="GET",route="unmatched",status="404"} 2`,
		`gateway_api_requests_total{method="PUT",route="unmatched",status="404"} 1`,
		`gateway_api_requests_total{method="other",route="unmatched",status="404"} 1`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(got, "FOOBAR") || strings.Contains(got, "TRACE") {
		t.Errorf("/metrics holds a method the client chose")
	}
}

// After a burst of odd requests (unknown, lower-case and rare methods, long
// and strange paths on every route kind), /metrics answers 200 with text
// Prometheus parses, every method label is of the standard set or "other",
// and no label holds a path the client sent.
func TestMetricsParseAfterOddRequests(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_API_TOKENS": "agent:agent-token"})
	long := strings.Repeat("a", 4000)
	var reqs []string
	for _, m := range []string{"GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "CONNECT", "FOOBAR", "get", "M-SEARCH"} {
		for _, p := range []string{"/v1/" + long, "/v1/conversations/%00%22%0A/messages", "/v1/conversations/\xff\xfe",
			"/v1/customers/x?y=" + long, "/webhooks/twilio/" + long, "/media/" + long, "/chat/" + long} {
			reqs = append(reqs, httpRequestText(m, p, "x", "Connection: close"))
		}
	}
	for _, r := range reqs {
		conn, err := net.Dial("tcp", g.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = conn.Write([]byte(r))
		_, _ = io.Copy(io.Discard, conn) // the answer, up to the close
		conn.Close()
	}
	resp, err := http.Get("http://" + g.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %.300s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	methods := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true, "other": true}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && !methods[l.GetValue()] {
					t.Errorf("%s has method=%q", name, l.GetValue())
				}
				if len(l.GetValue()) > 100 || strings.Contains(l.GetValue(), "aaaa") || strings.ContainsAny(l.GetValue(), "\"\n\x00") || !utf8.ValidString(l.GetValue()) {
					t.Errorf("%s has %s=%.60q: a label from the request", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
	if _, ok := mfs["gateway_api_requests_total"]; !ok {
		t.Errorf("no gateway_api_requests_total after the burst")
	}
	if got := get(t, g, "/healthz"); !strings.HasPrefix(got, "200") {
		t.Fatalf("healthz after the burst: %s", got)
	}
}
