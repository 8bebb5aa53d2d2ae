package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/httpapi"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

var _ httpapi.IdempotencyStore = (*sqlstore.Store)(nil)

const (
	adminToken = "adm-7f3c9a1e5b2d4f60a8c1"
	agentToken = "agt-2b8e6d4c0a9f1e3d5c7b"
)

// apiEnv is the operator API on a real fiber app, over a conversation
// engine on one store with a test clock.
type apiEnv struct {
	t     testing.TB
	app   *fiber.App
	svc   *core.Service
	store *sqlstore.Store
	clock *sqltest.Clock
	reg   *prometheus.Registry
	logs  *syncBuffer
	// seen collects "METHOD /path STATUS" of validated answers.
	seenMu *sync.Mutex
	seen   map[string]bool
}

// with returns the environment reporting to t (a subtest).
func (e *apiEnv) with(t testing.TB) *apiEnv {
	c := *e
	c.t = t
	return &c
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newAPIEnv builds the API with an unnamed admin and agent token and the
// named agents ann, bob and carl; extra may add routes before it is mounted.
func newAPIEnv(t testing.TB, dialect string, extra func(*httpapi.API)) *apiEnv {
	t.Helper()
	return newAPIEnvWith(t, dialect, core.Policy{}, map[string]string{adminToken: httpapi.RoleAdmin, agentToken: httpapi.RoleAgent,
		annToken: "agent:ann", bobToken: "agent:bob", carlToken: "agent:carl"}, extra)
}

// newAPIEnvWith builds the API with a policy (the windows default to 72h
// and 96h) and tokens.
func newAPIEnvWith(t testing.TB, dialect string, policy core.Policy, tokens map[string]string, extra func(*httpapi.API)) *apiEnv {
	t.Helper()
	if policy.ReopenWindow == 0 {
		policy.ReopenWindow = 72 * time.Hour
	}
	if policy.AutoCloseAfter == 0 {
		policy.AutoCloseAfter = 96 * time.Hour
	}
	clock := sqltest.NewClock()
	store := sqltest.Open(t, dialect, sqlstore.WithClock(clock.Now))
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := core.NewService(store, policy,
		core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"}, log, core.NewMetrics(nil))
	reg := prometheus.NewRegistry()
	app := connectors.NewApp(connectors.Config{Log: log})
	api := httpapi.New(httpapi.Core{Conversations: svc, Customers: svc.Customers(), Agents: svc.Agents(), Replies: svc.DispatchQueue()}, tokens, store, log, reg)
	if extra != nil {
		extra(api)
	}
	api.Mount(app)
	return &apiEnv{t: t, app: app, svc: svc, store: store, clock: clock, reg: reg, logs: logs, seenMu: &sync.Mutex{}, seen: map[string]bool{}}
}

func forEachStore(t *testing.T, fn func(t *testing.T, dialect string)) {
	for _, d := range sqltest.Dialects {
		t.Run(d, func(t *testing.T) { fn(t, d) })
	}
}

// resp is an answer of the API.
type resp struct {
	status int
	header http.Header
	body   []byte
	ids    map[string]string // of the scenario, for wantField
}

func (r resp) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// code is the error code of an error answer.
func (r resp) code() string {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r resp) message() string {
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Message
}

// do sends a request: body is nil, a string or []byte sent as is, or a value
// sent as JSON; hdr are header name, value pairs. Every answer to a
// documented route is validated against openapi.yaml.
func (e *apiEnv) do(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	build := func() *http.Request {
		req := httptest.NewRequest(method, "http://gateway.test"+path, bytes.NewReader(raw))
		req.RequestURI = req.URL.RequestURI() // sent with a Host header, which HTTP/1.1 requires
		if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return req
	}
	res, err := e.app.Test(build(), -1)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := resp{status: res.StatusCode, header: res.Header, body: out}
	if r.status >= 500 && !strings.HasPrefix(path, "/v1/test/") { // routes of failure tests
		e.t.Errorf("%s %s: %d %s", method, path, r.status, out)
	}
	if r.status >= 400 && r.code() == "" {
		e.t.Errorf("%s %s: %d without the JSON error shape: %q", method, path, r.status, out)
	}
	e.validate(build(), r)
	return r
}

var seq atomic.Int64

func sms(from, text string) normalize.Message {
	n := seq.Add(1)
	return normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelSMS, Provider: "twilio",
		ProviderMessageID: fmt.Sprintf("SM%032d", n), Direction: normalize.Inbound,
		From: normalize.Party{Kind: normalize.KindPhone, Address: from},
		To:   normalize.Party{Kind: normalize.KindPhone, Address: "+15558675310"}, Text: text}
}

// receive hands inbound messages to the engine as the consumer would.
func (e *apiEnv) receive(msgs ...normalize.Message) {
	e.t.Helper()
	batch := make([]core.Inbound, len(msgs))
	for i := range msgs {
		m := msgs[i]
		m.ReceivedAt = e.clock.Now()
		batch[i] = core.Inbound{Event: normalize.Event{ID: m.MessageID, Type: normalize.TypeMessageReceived}, Message: &m}
	}
	if _, err := e.svc.HandleInbound(context.Background(), batch); err != nil {
		e.t.Fatalf("HandleInbound: %v", err)
	}
}

// customer returns the customer id and active conversation id of an address.
func (e *apiEnv) customer(addr string) (customerID, conversationID string) {
	e.t.Helper()
	ctx := context.Background()
	cust, err := e.svc.Customers().FindCustomer(ctx, addr)
	if err != nil {
		e.t.Fatal(err)
	}
	convs, err := e.svc.ListConversations(ctx, core.ConversationFilter{CustomerID: cust.ID, Limit: 1})
	if err != nil || len(convs) == 0 {
		e.t.Fatalf("conversations of %s: %v %v", addr, convs, err)
	}
	return cust.ID, convs[0].ID
}

type published struct {
	Type  string
	Raw   []byte
	Actor string
}

// events drains the event outbox as the relay would.
func (e *apiEnv) events() []published {
	e.t.Helper()
	var out []published
	for {
		n, err := e.store.ClaimEvents(context.Background(), 100, func(evs []core.OutboxEvent) error {
			for _, oe := range evs {
				ev, err := normalize.DecodeEvent(oe.Value)
				if err != nil {
					return err
				}
				var d core.EventData
				if err := json.Unmarshal(ev.Data, &d); err != nil {
					return err
				}
				out = append(out, published{Type: ev.Type, Raw: oe.Value, Actor: d.Actor})
			}
			return nil
		})
		if err != nil {
			e.t.Fatalf("ClaimEvents: %v", err)
		}
		if n == 0 {
			return out
		}
	}
}

func eventTypes(evs []published) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// step is one request of a scenario; {name} in path and string bodies
// expands to ids[name].
type step struct {
	name   string
	method string
	path   string
	token  string
	hdr    []string
	body   any
	status int
	code   string // the error code, when status >= 400
	save   string // keep the answer's "id" under this name
	check  func(t *testing.T, r resp)
}

func (e *apiEnv) run(t *testing.T, steps []step, ids map[string]string) {
	t.Helper()
	expand := func(s string) string {
		for k, v := range ids {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			body := s.body
			if str, ok := body.(string); ok {
				body = expand(str)
			}
			if m, ok := body.(map[string]any); ok {
				cp := map[string]any{}
				for k, v := range m {
					if str, ok := v.(string); ok {
						v = expand(str)
					}
					cp[k] = v
				}
				body = cp
			}
			r := e.with(t).do(s.method, expand(s.path), s.token, body, s.hdr...)
			r.ids = ids
			if r.status != s.status {
				t.Fatalf("%s %s: status %d %s, want %d", s.method, s.path, r.status, r.body, s.status)
			}
			if s.code != "" && r.code() != s.code {
				t.Errorf("error code %q (%s), want %q", r.code(), r.message(), s.code)
			}
			if s.save != "" {
				id, _ := r.object(t)["id"].(string)
				if id == "" {
					t.Fatalf("no id in %s", r.body)
				}
				ids[s.save] = id
			}
			if s.check != nil {
				s.check(t, r)
			}
		})
	}
}

func field(t *testing.T, r resp, name string) any {
	t.Helper()
	return r.object(t)[name]
}

func wantField(name string, want any) func(t *testing.T, r resp) {
	return func(t *testing.T, r resp) {
		t.Helper()
		if s, ok := want.(string); ok {
			for k, v := range r.ids {
				s = strings.ReplaceAll(s, "{"+k+"}", v)
			}
			want = s
		}
		if got := field(t, r, name); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v in %s", name, got, want, r.body)
		}
	}
}

func all(checks ...func(t *testing.T, r resp)) func(t *testing.T, r resp) {
	return func(t *testing.T, r resp) {
		t.Helper()
		for _, c := range checks {
			c(t, r)
		}
	}
}

func TestAPIMetrics(t *testing.T) {
	e := newAPIEnv(t, sqlstore.SQLite, nil)
	e.do("GET", "/v1/conversations/nope", agentToken, nil)
	e.do("GET", "/v1/conversations/nope2", agentToken, nil)
	e.do("GET", "/v1/conversations", "", nil)
	e.do("GET", "/v1/nope", agentToken, nil)
	tests := map[string]struct {
		labels []string
		want   float64
	}{
		"by pattern, not id": {[]string{"/v1/conversations/:id", "GET", "404"}, 2},
		"unauthorized":       {[]string{"/v1/conversations", "GET", "401"}, 1},
		"unmatched":          {[]string{"unmatched", "GET", "404"}, 1},
	}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := -1.0
			for _, mf := range mfs {
				if mf.GetName() != "gateway_api_requests_total" {
					continue
				}
				for _, m := range mf.GetMetric() {
					l := map[string]string{}
					for _, lp := range m.GetLabel() {
						l[lp.GetName()] = lp.GetValue()
					}
					if l["route"] == tc.labels[0] && l["method"] == tc.labels[1] && l["status"] == tc.labels[2] {
						got = m.GetCounter().GetValue()
					}
				}
			}
			if got != tc.want {
				t.Errorf("gateway_api_requests_total%v = %v, want %v", tc.labels, got, tc.want)
			}
		})
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() == "gateway_api_duration_seconds" {
			n = len(mf.GetMetric())
		}
	}
	if n != 3 {
		t.Errorf("%d duration series, want 3 (one per route pattern)", n)
	}
}
