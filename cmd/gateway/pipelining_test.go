package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// rawRequest is one HTTP/1.1 request as a client writes it: a body with
// its Content-Length, and the given header lines.
func httpRequestText(method, path, body string, header ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: gw.example.com\r\n", method, path)
	for _, h := range header {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// answer is one response read off a connection.
type answer struct {
	status int
	body   string
}

// pipeline writes every request in ONE write on one new connection and
// reads as many answers (or fails the test when one does not come).
func pipeline(t *testing.T, addr string, reqs ...string) []answer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := conn.Write([]byte(strings.Join(reqs, ""))); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var out []answer
	for i := range reqs {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d of %d: %v (answers so far %v)", i+1, len(reqs), err, out)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("answer %d body: %v", i+1, err)
		}
		out = append(out, answer{resp.StatusCode, string(b)})
	}
	return out
}

// Two requests with bodies written at once on one connection (HTTP/1.1
// pipelining, which any client may do without credentials) get two answers
// on every kind of route, and the gateway lives on: the webhooks (an
// unsigned Twilio form, a signed one), the operator API without and with a
// token, the web chat routes, the media route and the operations routes.
// On both stores.
func TestPipelinedRequestsOnEveryRoute(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startGateway(t, dialect, map[string]string{"GATEWAY_API_TOKENS": "agent:agent-token"})
			const hook = "/webhooks/twilio/messaging"
			formType := "Content-Type: application/x-www-form-urlencoded"
			unsigned := smsForm("SM00000000000000000000000000000101", "+14155550101", "pipelined").Encode()
			signed := func(sid string) string {
				f := smsForm(sid, "+14155550102", "pipelined "+sid)
				return httpRequestText("POST", hook, f.Encode(), formType, "X-Twilio-Signature: "+twilio.Sign(testToken, testPublic+hook, f))
			}
			token, json := "Authorization: Bearer agent-token", "Content-Type: application/json"
			cases := []struct {
				name string
				reqs []string
				want []int
			}{
				{"unsigned twilio form", []string{httpRequestText("POST", hook, unsigned, formType), httpRequestText("POST", hook, unsigned, formType)},
					[]int{403, 403}},
				{"signed twilio forms", []string{signed("SM00000000000000000000000000000102"), signed("SM00000000000000000000000000000103")},
					[]int{200, 200}},
				{"api without token", []string{httpRequestText("POST", "/v1/conversations", `{"customer_id":"x"}`, json),
					httpRequestText("POST", "/v1/conversations", `{"customer_id":"x"}`, json)}, []int{401, 401}},
				{"api with token", []string{httpRequestText("GET", "/v1/conversations", `{"ignored":true}`, json, token),
					httpRequestText("POST", "/v1/conversations/nope/notes", `{"text":"hi"}`, json, token)}, []int{200, 404}},
				{"web chat", []string{httpRequestText("GET", "/chat/", "a body"), httpRequestText("GET", "/chat/ws", "a body")},
					[]int{200, 426}},
				{"media", []string{httpRequestText("GET", "/media/2026/01/01/x/0?expires=1&sig=bad", "a body"),
					httpRequestText("GET", "/media/nope", "a body")}, []int{403, 403}},
				{"ops", []string{httpRequestText("GET", "/healthz", "a body"), httpRequestText("GET", "/metrics", "a body")},
					[]int{200, 200}},
				{"every kind in one write", []string{httpRequestText("POST", hook, unsigned, formType),
					httpRequestText("POST", "/v1/conversations", "{}", json), httpRequestText("GET", "/v1/conversations", "{}", token),
					httpRequestText("GET", "/chat/", "x"), httpRequestText("GET", "/media/x", "x"), httpRequestText("GET", "/healthz", "")},
					[]int{403, 401, 200, 200, 403, 200}},
			}
			for _, tc := range cases {
				got := pipeline(t, g.Addr(), tc.reqs...)
				for i, a := range got {
					if a.status != tc.want[i] {
						t.Errorf("%s: answer %d is %d %.120s, want %d", tc.name, i+1, a.status, a.body, tc.want[i])
					}
				}
			}
			halfSent(t, g.Addr())
			if got := get(t, g, "/healthz"); !strings.HasPrefix(got, "200") {
				t.Fatalf("healthz after the pipelines: %s", got)
			}
			if err := g.work.Ping(t.Context()); err != nil {
				t.Fatalf("a worker ended: %v", err)
			}
			evs := consume(t, g, "gateway.inbound.v1", func(e []topicEvent) bool { return count(e, "message.received") >= 2 })
			if n := count(evs, "message.received"); n != 2 {
				t.Errorf("%d messages received from the two signed pipelined forms, want 2", n)
			}
		})
	}
}

// halfSent sends requests whose bodies never finish (a fixed length, a
// chunked one), pipelined behind a whole one, and goes away.
func halfSent(t *testing.T, addr string) {
	t.Helper()
	form := url.Values{"Body": {"hi"}}.Encode()
	for _, tail := range []string{
		"POST /webhooks/twilio/messaging HTTP/1.1\r\nHost: gw\r\nContent-Length: 500\r\n\r\nBody=half",
		"POST /v1/conversations HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n40\r\nabc",
		"GET /chat/ HTTP/1.1\r\nHost: gw\r\nContent-Length: 9",
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = conn.Write([]byte(httpRequestText("POST", "/webhooks/twilio/messaging", form) + tail))
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 403 {
			t.Errorf("the whole request before a half-sent one: %v %v", resp, err)
		}
		conn.Close()
	}
}
