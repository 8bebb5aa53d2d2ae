package connectors_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/kafkabus"
)

// A panic in any route (a webhook's handler, a plain route, one that read
// its body, a websocket's loop) is answered 500 with the JSON error shape,
// logged with its route, request id and stack, and counted in
// gateway_http_panics_total{route}; the server answers the next request.
// Two apps on one registry (the public and the operations listener) share
// the counter.
func TestPanicsAreAnsweredCountedAndLogged(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	reg := prometheus.NewRegistry()
	app := connectors.NewApp(connectors.Config{Log: log, Reg: reg})
	connectors.NewApp(connectors.Config{Log: log, Reg: reg}) // the operations app: no second registration
	wh := connectors.NewIngest(nopPublisher{}, kafkabus.Topics{}, "", log, reg)
	boom := webhook.HandlerFunc(func(context.Context, *webhook.Request) (webhook.Result, error) { panic("webhook bug") })
	wh.Mount(app, connectors.Route{Name: "boom", Path: "/webhooks/boom", Methods: []string{fiber.MethodPost}, Handler: boom})
	app.Get("/items/:id", func(*fiber.Ctx) error { panic("route bug") })
	app.Post("/read", edge.LimitBody(1<<10), func(c *fiber.Ctx) error { panic("after the body") })
	app.Get("/ws", websocket.New(func(*websocket.Conn) { panic("socket bug") },
		websocket.Config{RecoverHandler: edge.RecoverSocket("/ws")}))
	app.Get("/ok", func(c *fiber.Ctx) error { return c.SendString("ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(time.Second) })
	base := "http://" + ln.Addr().String()

	for i, tc := range []struct{ method, path, body, route string }{
		{"POST", "/webhooks/boom", "Body=hi", "/webhooks/boom"},
		{"GET", "/items/42", "", "/items/:id"},
		{"POST", "/read", "some body", "/read"},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		req.Header.Set("X-Request-Id", fmt.Sprintf("req-panic-%d", i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `{"error":{"code":"internal","message":"internal error"}}`; resp.StatusCode != 500 || string(b) != want {
			t.Errorf("%s: %d %s, want 500 %s", tc.path, resp.StatusCode, b, want)
		}
		if got := panicsOf(t, reg, tc.route); got != 1 {
			t.Errorf("%s: gateway_http_panics_total{route=%q} = %v, want 1", tc.path, tc.route, got)
		}
		line := lineWith(logs.String(), "route="+tc.route)
		for _, want := range []string{`msg="http: panic"`, "request_id=" + req.Header.Get("X-Request-Id"), "outcome=panic", "stack="} {
			if !strings.Contains(line, want) {
				t.Errorf("%s: log line %q lacks %s", tc.path, line, want)
			}
		}
	}
	if got := testutil.ToFloat64(mustCounter(t, reg, "boom", "panic")); got != 1 {
		t.Errorf(`gateway_webhook_requests_total{outcome="panic"} = %v, want 1`, got)
	}

	ws, _, err := fws.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := ws.ReadMessage()
	if !fws.IsCloseError(err, fws.CloseInternalServerErr) || strings.Contains(string(msg), "socket bug") {
		t.Errorf("socket after a panic: %q %v, want closed 1011 without the panic's text", msg, err)
	}
	ws.Close()
	if got := panicsOf(t, reg, "/ws"); got != 1 {
		t.Errorf(`gateway_http_panics_total{route="/ws"} = %v, want 1`, got)
	}

	resp, err := http.Get(base + "/ok")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the panics: %v %v", resp, err)
	}
	resp.Body.Close()
}

// panicsOf is gateway_http_panics_total{route} as gathered from reg.
func panicsOf(t *testing.T, reg *prometheus.Registry, route string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == "gateway_http_panics_total" && m.GetLabel()[0].GetValue() == route {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func lineWith(logs, sub string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
