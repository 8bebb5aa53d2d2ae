package connectors_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

var _ connectors.IdempotencyStore = (*sqlstore.Store)(nil)

const (
	adminToken = "adm-7f3c9a1e5b2d4f60a8c1"
	agentToken = "agt-2b8e6d4c0a9f1e3d5c7b"
)

// implementedElsewhere are documented routes another package mounts on the
// API. Nothing else may be documented and missing (none today).
var implementedElsewhere = map[string]bool{}

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

// newAPIEnv builds the API; extra may add routes before it is mounted.
func newAPIEnv(t testing.TB, dialect string, extra func(*connectors.API)) *apiEnv {
	t.Helper()
	clock := sqltest.NewClock()
	store := sqltest.Open(t, dialect, sqlstore.WithClock(clock.Now))
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc := core.NewService(store, core.Policy{ReopenWindow: 72 * time.Hour, AutoCloseAfter: 96 * time.Hour},
		core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"}, log, core.NewMetrics(nil))
	reg := prometheus.NewRegistry()
	app := connectors.NewApp(connectors.Config{Log: log})
	api := connectors.NewAPI(svc, map[string]string{adminToken: connectors.RoleAdmin, agentToken: connectors.RoleAgent}, store, log, reg)
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

// apiSpec is openapi.yaml loaded once.
var apiSpec = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(connectors.OpenAPIDocument())
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not valid: %w", err)
	}
	return gorillamux.NewRouter(doc)
})

// validate checks an answer against the document: its status is documented
// for the operation (a 413, 415 or 5xx may fall under default), the body
// matches the schema, and a request that succeeded matches the document too.
func (e *apiEnv) validate(req *http.Request, r resp) {
	e.t.Helper()
	router, err := apiSpec()
	if err != nil {
		e.t.Fatal(err)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return // not a documented route: the 404 tests
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if r.status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			e.t.Errorf("%s %s answered %d but the request does not match openapi.yaml: %v", req.Method, req.URL.Path, r.status, err)
		}
	}
	switch r.status {
	case 413, 415:
	default:
		if r.status < 500 && route.Operation.Responses.Status(r.status) == nil {
			e.t.Errorf("%s %s: status %d is not documented in openapi.yaml", req.Method, route.Path, r.status)
		}
	}
	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: r.status, Header: r.header, Body: io.NopCloser(bytes.NewReader(r.body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	})
	if err != nil {
		e.t.Errorf("%s %s: the %d answer does not match openapi.yaml: %v\n%s", req.Method, req.URL.Path, r.status, err, r.body)
	}
	e.seenMu.Lock()
	e.seen[fmt.Sprintf("%s %s %d", req.Method, route.Path, r.status)] = true
	e.seenMu.Unlock()
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
	cust, err := e.svc.FindCustomer(ctx, addr)
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

func TestAPIAuth(t *testing.T) {
	e := newAPIEnv(t, sqlstore.SQLite, nil)
	e.receive(sms("+14155550101", "help"))
	custID, convID := e.customer("+14155550101")
	tests := map[string]struct {
		method, path string
		hdr          []string
		status       int
		code         string
	}{
		"no token":               {"GET", "/v1/conversations", nil, 401, "unauthorized"},
		"unknown token":          {"GET", "/v1/conversations", []string{"Authorization", "Bearer nope"}, 401, "unauthorized"},
		"token prefix":           {"GET", "/v1/conversations", []string{"Authorization", "Bearer " + agentToken[:10]}, 401, "unauthorized"},
		"token with a suffix":    {"GET", "/v1/conversations", []string{"Authorization", "Bearer " + agentToken + "x"}, 401, "unauthorized"},
		"basic scheme":           {"GET", "/v1/conversations", []string{"Authorization", "Basic " + agentToken}, 401, "unauthorized"},
		"empty bearer":           {"GET", "/v1/conversations", []string{"Authorization", "Bearer "}, 401, "unauthorized"},
		"agent token":            {"GET", "/v1/conversations", []string{"Authorization", "Bearer " + agentToken}, 200, ""},
		"lower-case scheme":      {"GET", "/v1/conversations", []string{"Authorization", "bearer " + agentToken}, 200, ""},
		"admin on agent route":   {"GET", "/v1/conversations/" + convID, []string{"Authorization", "Bearer " + adminToken}, 200, ""},
		"no token, mutation":     {"POST", "/v1/conversations/" + convID + "/notes", nil, 401, "unauthorized"},
		"agent deletes":          {"DELETE", "/v1/conversations/" + convID, []string{"Authorization", "Bearer " + agentToken}, 403, "forbidden"},
		"agent merges":           {"POST", "/v1/customers/" + custID + "/merge", []string{"Authorization", "Bearer " + agentToken}, 403, "forbidden"},
		"agent erases":           {"DELETE", "/v1/customers/" + custID, []string{"Authorization", "Bearer " + agentToken}, 403, "forbidden"},
		"bad token on admin":     {"DELETE", "/v1/customers/" + custID, []string{"Authorization", "Bearer x"}, 401, "unauthorized"},
		"document is public":     {"GET", "/v1/openapi.yaml", nil, 200, ""},
		"X-Agent with newline":   {"GET", "/v1/stats", []string{"Authorization", "Bearer " + agentToken, "X-Agent", "ann\x01"}, 400, "invalid"},
		"agent with its X-Agent": {"GET", "/v1/stats", []string{"Authorization", "Bearer " + agentToken, "X-Agent", "ann"}, 200, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var body any
			if tc.method == "POST" {
				body = `{"from":"x"}`
			}
			r := e.with(t).do(tc.method, tc.path, "", body, tc.hdr...)
			if r.status != tc.status || r.code() != tc.code {
				t.Fatalf("%d %s, want %d %q", r.status, r.body, tc.status, tc.code)
			}
			if www := r.header.Get("WWW-Authenticate"); (tc.status == 401) != strings.HasPrefix(www, "Bearer") {
				t.Errorf("WWW-Authenticate %q on a %d", www, r.status)
			}
		})
	}
	// Nothing the forbidden requests asked for happened.
	if _, err := e.svc.Conversation(context.Background(), convID); err != nil {
		t.Errorf("conversation after forbidden requests: %v", err)
	}
	if strings.Contains(e.logs.String(), agentToken) || strings.Contains(e.logs.String(), adminToken) {
		t.Error("a token is in the logs")
	}
}

// The actor of a change is the agent named by X-Agent, else the token's
// label, and never the token.
func TestAPIActor(t *testing.T) {
	e := newAPIEnv(t, sqlstore.SQLite, nil)
	e.receive(sms("+14155550101", "help"))
	_, convID := e.customer("+14155550101")
	e.events()
	sum := sha256.Sum256([]byte(agentToken))
	label := "agent:" + hex.EncodeToString(sum[:])[:6]
	tests := map[string]struct {
		hdr   []string
		actor string
	}{
		"X-Agent names the agent": {[]string{"X-Agent", "ann"}, "agent:ann"},
		"else the token's label":  {nil, label},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := e.with(t)
			if r := e.do("POST", "/v1/conversations/"+convID+"/notes", agentToken, map[string]any{"text": "n"}, tc.hdr...); r.status != 201 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			evs := e.events()
			if len(evs) != 1 || evs[0].Type != normalize.TypeNoteAdded || evs[0].Actor != tc.actor {
				t.Fatalf("events %v, actor %q, want one note.added by %q", eventTypes(evs), evs[0].Actor, tc.actor)
			}
			if bytes.Contains(evs[0].Raw, []byte(agentToken)) {
				t.Error("the token is in the event")
			}
		})
	}
}

// TestAPIRoutes walks every route through its answers on both stores.
func TestAPIRoutes(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e, ids := scenarioEnv(t, dialect)
		e.run(t, scenario(), ids)
	})
}

// scenarioEnv is an API where customer A (+14155550101) wrote twice and
// customer B (+14155550102) once.
func scenarioEnv(t *testing.T, dialect string) (*apiEnv, map[string]string) {
	e := newAPIEnv(t, dialect, nil)
	e.receive(sms("+14155550101", "help"))
	e.clock.Advance(time.Minute)
	e.receive(sms("+14155550101", "anyone?"), sms("+14155550102", "hi"))
	ids := map[string]string{}
	ids["custA"], ids["convA"] = e.customer("+14155550101")
	ids["custB"], ids["convB"] = e.customer("+14155550102")
	return e, ids
}

func scenario() []step {
	const ag, ad = agentToken, adminToken
	ann := []string{"X-Agent", "ann"}
	return []step{
		{name: "get conversation", method: "GET", path: "/v1/conversations/{convA}", token: ag, status: 200,
			check: all(wantField("status", "new"), wantField("unreplied", 2), wantField("message_count", 2), wantField("channel", "sms"))},
		{name: "get unknown conversation", method: "GET", path: "/v1/conversations/01990000-0000-7000-8000-000000000000", token: ag, status: 404, code: "not_found"},
		{name: "get impossible id", method: "GET", path: "/v1/conversations/a%00b", token: ag, status: 404, code: "not_found"},
		{name: "messages in order", method: "GET", path: "/v1/conversations/{convA}/messages", token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				var page struct{ Data []core.StoredMessage }
				_ = json.Unmarshal(r.body, &page)
				if len(page.Data) != 2 || page.Data[0].Message.Text != "help" || page.Data[1].Message.Text != "anyone?" ||
					page.Data[0].Direction != "inbound" || page.Data[0].Kind != "message" {
					t.Errorf("messages %s", r.body)
				}
			}},
		{name: "messages of unknown conversation", method: "GET", path: "/v1/conversations/nope/messages", token: ag, status: 404, code: "not_found"},

		{name: "assign", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, hdr: ann,
			body: map[string]any{"agent": "ann", "inbox": "support"}, status: 200,
			check: all(wantField("status", "open"), wantField("assignee", "ann"), wantField("inbox", "support"))},
		{name: "assign without agent", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: map[string]any{"inbox": "support"}, status: 400, code: "invalid"},
		{name: "assign malformed JSON", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"agent":`, status: 400, code: "invalid"},
		{name: "assign unknown field", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"agent":"ann","inbx":"s"}`, status: 400, code: "invalid"},
		{name: "assign array body", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `["ann"]`, status: 400, code: "invalid"},
		{name: "assign wrong type", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"agent":5}`, status: 400, code: "invalid",
			check: func(t *testing.T, r resp) {
				if r.message() != "invalid JSON body: agent must be a string" {
					t.Errorf("message %q", r.message())
				}
			}},
		{name: "assign with a name in another case", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"Agent":"ann"}`, status: 400, code: "invalid"},
		{name: "assign two objects", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"agent":"a"}{"agent":"b"}`, status: 400, code: "invalid"},
		{name: "assign without body", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, status: 400, code: "invalid"},
		{name: "assign NUL agent", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"agent":"a\u0000b"}`, status: 400, code: "invalid"},
		{name: "assign unknown conversation", method: "POST", path: "/v1/conversations/nope/assign", token: ag, body: map[string]any{"agent": "ann"}, status: 404, code: "not_found"},

		{name: "note", method: "POST", path: "/v1/conversations/{convA}/notes", token: ag, hdr: ann, body: map[string]any{"text": "VIP customer"}, status: 201,
			check: all(wantField("kind", "note"), wantField("author", "agent:ann"), wantField("text", "VIP customer"), wantField("conversation_id", "{convA}"))},
		{name: "empty note", method: "POST", path: "/v1/conversations/{convA}/notes", token: ag, body: map[string]any{"text": "  "}, status: 400, code: "invalid"},
		{name: "note on unknown conversation", method: "POST", path: "/v1/conversations/nope/notes", token: ag, body: map[string]any{"text": "x"}, status: 404, code: "not_found"},

		{name: "reply", method: "POST", path: "/v1/conversations/{convA}/messages", token: ag, hdr: ann,
			body: map[string]any{"text": "We are on it"}, status: 202, check: wantField("status", "queued")},
		{name: "reply without text", method: "POST", path: "/v1/conversations/{convA}/messages", token: ag, body: map[string]any{}, status: 400, code: "invalid"},
		{name: "reply too long for SMS", method: "POST", path: "/v1/conversations/{convA}/messages", token: ag,
			body: map[string]any{"text": strings.Repeat("x", 1601)}, status: 422, code: "unprocessable"},
		{name: "reply on a channel never used", method: "POST", path: "/v1/conversations/{convA}/messages", token: ag,
			body: map[string]any{"text": "hi", "channel": "messenger"}, status: 422, code: "unprocessable"},
		{name: "reply to unknown conversation", method: "POST", path: "/v1/conversations/nope/messages", token: ag, body: map[string]any{"text": "x"}, status: 404, code: "not_found"},

		{name: "mark waiting", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{"status": "waiting"}, status: 200,
			check: wantField("status", "waiting")},
		{name: "unknown status", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{"status": "done"}, status: 400, code: "invalid"},
		{name: "status missing", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{}, status: 400, code: "invalid"},
		{name: "close", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{"status": "closed", "reason": "solved_by_phone"}, status: 200,
			check: all(wantField("status", "closed"), wantField("close_reason", "solved_by_phone"))},
		{name: "waiting when closed", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{"status": "waiting"}, status: 409, code: "conflict"},
		{name: "reply when closed", method: "POST", path: "/v1/conversations/{convA}/messages", token: ag, body: map[string]any{"text": "x"}, status: 409, code: "conflict"},
		{name: "assign when closed", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: map[string]any{"agent": "bob"}, status: 409, code: "conflict"},

		// A first message that breaks a rule (no business number configured for
		// SMS) creates nothing: the next step can still open one.
		{name: "open with a text and no sender", method: "POST", path: "/v1/conversations", token: ag,
			body: map[string]any{"customer_id": "{custA}", "channel": "sms", "text": "hello"}, status: 422, code: "unprocessable",
			check: func(t *testing.T, r resp) {
				if r.message() != "no sender is configured for sms" {
					t.Errorf("message %q", r.message())
				}
			}},
		{name: "open proactively", method: "POST", path: "/v1/conversations", token: ag, hdr: []string{"X-Agent", "bob"},
			body: map[string]any{"customer_id": "{custA}", "channel": "sms"}, status: 201, save: "convNew",
			check: all(wantField("status", "open"), wantField("assignee", "bob"), wantField("channel", "sms"), wantField("customer_id", "{custA}"))},
		{name: "open while active", method: "POST", path: "/v1/conversations", token: ag, body: map[string]any{"customer_id": "{custA}"}, status: 409, code: "conflict"},
		{name: "open for unknown customer", method: "POST", path: "/v1/conversations", token: ag, body: map[string]any{"customer_id": "nope"}, status: 404, code: "not_found"},
		{name: "open without customer", method: "POST", path: "/v1/conversations", token: ag, body: map[string]any{}, status: 400, code: "invalid"},
		{name: "open on unknown channel", method: "POST", path: "/v1/conversations", token: ag, body: map[string]any{"customer_id": "{custA}", "channel": "fax"}, status: 400, code: "invalid"},
		{name: "reopen while another is active", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{"status": "open"}, status: 409, code: "conflict"},

		{name: "unassign", method: "POST", path: "/v1/conversations/{convNew}/unassign", token: ag, status: 200,
			check: all(wantField("status", "new"), wantField("assignee", nil))},
		{name: "unassign with an empty object", method: "POST", path: "/v1/conversations/{convNew}/unassign", token: ag, body: map[string]any{}, status: 200},
		{name: "unassign with a field", method: "POST", path: "/v1/conversations/{convNew}/unassign", token: ag, body: map[string]any{"agent": "x"}, status: 400, code: "invalid"},
		{name: "unassign unknown", method: "POST", path: "/v1/conversations/nope/unassign", token: ag, status: 404, code: "not_found"},

		{name: "delete as agent", method: "DELETE", path: "/v1/conversations/{convNew}", token: ag, status: 403, code: "forbidden"},
		{name: "delete as admin", method: "DELETE", path: "/v1/conversations/{convNew}", token: ad, status: 204,
			check: func(t *testing.T, r resp) {
				if len(r.body) != 0 {
					t.Errorf("204 with a body %q", r.body)
				}
			}},
		{name: "deleted is gone", method: "GET", path: "/v1/conversations/{convNew}", token: ag, status: 404, code: "not_found"},
		{name: "delete again", method: "DELETE", path: "/v1/conversations/{convNew}", token: ad, status: 404, code: "not_found"},
		{name: "reopen", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{"status": "open"}, status: 200,
			check: all(wantField("status", "open"), wantField("assignee", "ann"))},

		{name: "find customer by phone in another notation", method: "GET", path: "/v1/customers?address=" + url.QueryEscape("+1 (415) 555-0101"), token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				var c core.Customer
				_ = json.Unmarshal(r.body, &c)
				if len(c.Identities) != 1 || c.Identities[0] != (core.Identity{Kind: "phone", Address: "+14155550101"}) {
					t.Errorf("customer %s", r.body)
				}
			}},
		{name: "find customer without address", method: "GET", path: "/v1/customers", token: ag, status: 400, code: "invalid"},
		{name: "find customer with NUL", method: "GET", path: "/v1/customers?address=a%00b", token: ag, status: 400, code: "invalid"},
		{name: "find unknown customer", method: "GET", path: "/v1/customers?address=nobody@example.com", token: ag, status: 404, code: "not_found"},
		{name: "get customer", method: "GET", path: "/v1/customers/{custA}", token: ag, status: 200, check: wantField("id", "{custA}")},
		{name: "get unknown customer", method: "GET", path: "/v1/customers/nope", token: ag, status: 404, code: "not_found"},
		{name: "timeline", method: "GET", path: "/v1/customers/{custA}/timeline", token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				var tl core.Timeline
				_ = json.Unmarshal(r.body, &tl)
				if len(tl.Conversations) != 1 || len(tl.Conversations[0].Messages) != 4 || tl.Conversations[0].Messages[2].Kind != "note" ||
					tl.Conversations[0].Messages[3].Direction != "outbound" || tl.Conversations[0].Messages[3].Status != "queued" {
					t.Errorf("timeline %s", r.body)
				}
			}},
		{name: "timeline of unknown customer", method: "GET", path: "/v1/customers/nope/timeline", token: ag, status: 404, code: "not_found"},

		{name: "merge as agent", method: "POST", path: "/v1/customers/{custA}/merge", token: ag, body: map[string]any{"from": "{custB}"}, status: 403, code: "forbidden"},
		{name: "merge into itself", method: "POST", path: "/v1/customers/{custA}/merge", token: ad, body: map[string]any{"from": "{custA}"}, status: 400, code: "invalid"},
		{name: "merge unknown", method: "POST", path: "/v1/customers/{custA}/merge", token: ad, body: map[string]any{"from": "nope"}, status: 404, code: "not_found"},
		{name: "merge into unknown", method: "POST", path: "/v1/customers/nope/merge", token: ad, body: map[string]any{"from": "{custB}"}, status: 404, code: "not_found"},
		{name: "merge without from", method: "POST", path: "/v1/customers/{custA}/merge", token: ad, body: map[string]any{}, status: 400, code: "invalid"},
		{name: "merge", method: "POST", path: "/v1/customers/{custA}/merge", token: ad, body: map[string]any{"from": "{custB}"}, status: 200,
			check: func(t *testing.T, r resp) {
				var c core.Customer
				_ = json.Unmarshal(r.body, &c)
				var addrs []string
				for _, id := range c.Identities {
					addrs = append(addrs, id.Address)
				}
				sort.Strings(addrs)
				if !slices.Equal(addrs, []string{"+14155550101", "+14155550102"}) {
					t.Errorf("merged customer %s", r.body)
				}
			}},
		{name: "merged customer is gone", method: "GET", path: "/v1/customers/{custB}", token: ag, status: 404, code: "not_found"},
		{name: "merged conversation is closed", method: "GET", path: "/v1/conversations/{convB}", token: ag, status: 200,
			check: all(wantField("status", "closed"), wantField("close_reason", "merged"), wantField("customer_id", "{custA}"))},
		{name: "stats", method: "GET", path: "/v1/stats?agent=ann", token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				var st core.Stats
				_ = json.Unmarshal(r.body, &st)
				if st.ByStatus["open"] != 1 || st.ByStatus["closed"] != 1 || st.ByStatus["new"] != 0 || st.Unassigned != 0 ||
					st.AgentAssigned == nil || *st.AgentAssigned != 1 || st.AgentUnreplied == nil || *st.AgentUnreplied != st.Unreplied {
					t.Errorf("stats %s", r.body)
				}
			}},

		{name: "erase as agent", method: "DELETE", path: "/v1/customers/{custA}", token: ag, status: 403, code: "forbidden"},
		{name: "erase", method: "DELETE", path: "/v1/customers/{custA}", token: ad, status: 204},
		{name: "erased customer is gone", method: "GET", path: "/v1/customers/{custA}", token: ag, status: 404, code: "not_found"},
		{name: "erased address is unknown", method: "GET", path: "/v1/customers?address=%2B14155550102", token: ag, status: 404, code: "not_found"},
		{name: "erased conversations are gone", method: "GET", path: "/v1/conversations/{convA}", token: ag, status: 404, code: "not_found"},
		{name: "erase again", method: "DELETE", path: "/v1/customers/{custA}", token: ad, status: 404, code: "not_found"},

		{name: "unknown route", method: "GET", path: "/v1/nope", token: ag, status: 404, code: "not_found"},
		{name: "unknown method", method: "PUT", path: "/v1/conversations", token: ag, status: 404, code: "not_found"},
	}
}

func TestAPIStats(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newAPIEnv(t, dialect, nil)
		e.receive(sms("+14155550101", "a1"), sms("+14155550101", "a2"), sms("+14155550102", "b"), sms("+14155550103", "c"))
		_, convB := e.customer("+14155550102")
		_, convC := e.customer("+14155550103")
		e.do("POST", "/v1/conversations/"+convB+"/assign", agentToken, map[string]any{"agent": "ann", "inbox": "support"})
		e.clock.Advance(time.Hour)
		e.do("POST", "/v1/conversations/"+convC+"/status", agentToken, map[string]any{"status": "closed"})
		everyone := map[string]any{"by_status": map[string]any{"closed": 1, "new": 1, "open": 1, "waiting": 0},
			"unassigned": 1, "unreplied": 3, "resolution_seconds_avg": 3600, "conversations_with_replies": 0, "resolved": 1}
		with := func(extra map[string]any) map[string]any {
			m := maps.Clone(everyone)
			maps.Copy(m, extra)
			return m
		}
		tests := map[string]struct {
			query  string
			want   map[string]any
			absent []string
		}{
			"everyone":              {"", everyone, []string{"agent_assigned", "agent_unreplied", "first_response_seconds_avg"}},
			"an agent":              {"?agent=ann", with(map[string]any{"agent_assigned": 1, "agent_unreplied": 1}), nil},
			"an agent with nothing": {"?agent=zed", with(map[string]any{"agent_assigned": 0, "agent_unreplied": 0}), nil},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				r := e.with(t).do("GET", "/v1/stats"+tc.query, agentToken, nil)
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.body)
				}
				got := r.object(t)
				for k, want := range tc.want {
					if fmt.Sprint(got[k]) != fmt.Sprint(want) {
						t.Errorf("%s = %v, want %v", k, got[k], want)
					}
				}
				for _, k := range tc.absent {
					if v, ok := got[k]; ok {
						t.Errorf("%s = %v, want none", k, v)
					}
				}
			})
		}
	})
}

func TestAPIPagination(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newAPIEnv(t, dialect, nil)
		var convs []core.Conversation
		for i := range 7 {
			addr := fmt.Sprintf("+1415555%04d", i)
			e.receive(sms(addr, "hi"))
			_, id := e.customer(addr)
			conv, err := e.svc.Conversation(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			convs = append(convs, conv)
			if i%2 == 0 { // pairs share an instant: the id breaks the tie
				e.clock.Advance(time.Minute)
			}
		}
		slices.SortFunc(convs, func(a, b core.Conversation) int {
			if c := b.LastActivityAt.Compare(a.LastActivityAt); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
		var order []string // newest activity first
		for _, c := range convs {
			order = append(order, c.ID)
		}
		assigned := order[3]
		e.do("POST", "/v1/conversations/"+assigned+"/assign", agentToken, map[string]any{"agent": "ann", "inbox": "vip"})

		list := func(t *testing.T, query string) (ids []string, pages int) {
			t.Helper()
			e := e.with(t)
			cursor := ""
			for {
				q := query
				if cursor != "" {
					q += "&cursor=" + cursor
				}
				r := e.do("GET", "/v1/conversations?"+q, agentToken, nil)
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.body)
				}
				var page struct {
					Data       []core.Conversation
					NextCursor *string `json:"next_cursor"`
				}
				if err := json.Unmarshal(r.body, &page); err != nil {
					t.Fatal(err)
				}
				pages++
				for _, c := range page.Data {
					ids = append(ids, c.ID)
				}
				if page.NextCursor == nil {
					return ids, pages
				}
				cursor = *page.NextCursor
				if pages > 20 {
					t.Fatal("no last page")
				}
			}
		}
		tests := map[string]struct {
			query string
			want  []string
			pages int
		}{
			"pages of 3":      {"limit=3", order, 3},
			"pages of 1":      {"limit=1", order, 7},
			"one page":        {"limit=7", order, 1},
			"default limit":   {"", order, 1},
			"assignee":        {"assignee=ann&limit=1", []string{assigned}, 1},
			"inbox":           {"inbox=vip", []string{assigned}, 1},
			"status open":     {"status=open", []string{assigned}, 1},
			"customer":        {"customer_id=" + convs[5].CustomerID, []string{convs[5].ID}, 1},
			"unassigned":      {"unassigned=true&limit=2", slices.DeleteFunc(slices.Clone(order), func(s string) bool { return s == assigned }), 3},
			"closed and none": {"status=closed", nil, 1},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				got, pages := list(t, tc.query)
				if !slices.Equal(got, tc.want) || pages != tc.pages {
					t.Errorf("%v in %d pages, want %v in %d", got, pages, tc.want, tc.pages)
				}
			})
		}
		bad := map[string]string{
			"limit 0":            "limit=0",
			"limit 201":          "limit=201",
			"limit not a number": "limit=ten",
			"garbage cursor":     "cursor=!!!",
			"cursor not JSON":    "cursor=bm90IGpzb24",
			"unknown status":     "status=pending",
			"unassigned maybe":   "unassigned=maybe",
			"assignee and none":  "assignee=ann&unassigned=true",
			"NUL inbox":          "inbox=a%00",
		}
		for name, q := range bad {
			t.Run(name, func(t *testing.T) {
				if r := e.with(t).do("GET", "/v1/conversations?"+q, agentToken, nil); r.status != 400 || r.code() != "invalid" {
					t.Errorf("%d %s, want 400 invalid", r.status, r.body)
				}
			})
		}
	})
}

func TestAPIIdempotency(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newAPIEnv(t, dialect, nil)
		e.receive(sms("+14155550101", "help"))
		custID, convID := e.customer("+14155550101")
		e.events()
		notes := "/v1/conversations/" + convID + "/notes"
		key := func(k string) []string { return []string{"Idempotency-Key", k} }
		countNotes := func(t testing.TB) int {
			msgs, err := e.svc.Messages(context.Background(), convID)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, m := range msgs {
				if m.Kind == core.KindNote {
					n++
				}
			}
			return n
		}

		first := e.do("POST", notes, agentToken, `{"text": "call back at 5"}`, key("k1")...)
		if first.status != 201 || first.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("first: %d %s %v", first.status, first.body, first.header)
		}
		if evs := e.events(); len(evs) != 1 {
			t.Fatalf("first: events %v", eventTypes(evs))
		}
		t.Run("replay answers the first response", func(t *testing.T) {
			e := e.with(t)
			again := e.do("POST", notes, agentToken, "{\n  \"text\":\"call back at 5\"\n}", key("k1")...)
			if again.status != 201 || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay: %d %s %v, want the first answer %s", again.status, again.body, again.header, first.body)
			}
			if evs := e.events(); len(evs) != 0 {
				t.Errorf("replay emitted %v", eventTypes(evs))
			}
			if n := countNotes(t); n != 1 {
				t.Errorf("%d notes, want 1", n)
			}
		})
		t.Run("same key, other body", func(t *testing.T) {
			e := e.with(t)
			r := e.do("POST", notes, agentToken, map[string]any{"text": "call back at 6"}, key("k1")...)
			if r.status != 422 || r.code() != "unprocessable" {
				t.Fatalf("%d %s, want 422", r.status, r.body)
			}
		})
		t.Run("same key, other agent", func(t *testing.T) {
			e := e.with(t)
			r := e.do("POST", notes, agentToken, `{"text": "call back at 5"}`, append(key("k1"), "X-Agent", "ann")...)
			if r.status != 422 {
				t.Fatalf("%d %s, want 422", r.status, r.body)
			}
		})
		t.Run("same key, other token", func(t *testing.T) {
			e := e.with(t)
			r := e.do("POST", notes, adminToken, `{"text": "call back at 5"}`, key("k1")...)
			if r.status != 201 || r.header.Get("Idempotent-Replayed") != "" || countNotes(t) != 2 {
				t.Fatalf("%d %s: another token's key is another key", r.status, r.body)
			}
			e.events()
		})
		t.Run("same key, other route", func(t *testing.T) {
			e := e.with(t)
			r := e.do("POST", "/v1/conversations/"+convID+"/status", agentToken, map[string]any{"status": "waiting"}, key("k1")...)
			if r.status != 200 || r.header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			e.events()
		})
		t.Run("errors are kept too", func(t *testing.T) {
			e := e.with(t)
			r := e.do("POST", "/v1/conversations/nope/notes", agentToken, map[string]any{"text": "x"}, key("k2")...)
			again := e.do("POST", "/v1/conversations/nope/notes", agentToken, map[string]any{"text": "x"}, key("k2")...)
			if r.status != 404 || again.status != 404 || !bytes.Equal(r.body, again.body) || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("%d %s then %d %s", r.status, r.body, again.status, again.body)
			}
		})
		t.Run("a bad key", func(t *testing.T) {
			e := e.with(t)
			for _, k := range []string{strings.Repeat("k", 256), "key with spaces", "ключ"} {
				if r := e.do("POST", notes, agentToken, map[string]any{"text": "x"}, key(k)...); r.status != 400 || r.code() != "invalid" {
					t.Errorf("key %q: %d %s, want 400", k, r.status, r.body)
				}
			}
			if n := countNotes(t); n != 2 {
				t.Errorf("%d notes, want 2", n)
			}
		})
		t.Run("no key, no idempotency", func(t *testing.T) {
			e := e.with(t)
			e.do("POST", notes, agentToken, map[string]any{"text": "x"})
			e.do("POST", notes, agentToken, map[string]any{"text": "x"})
			if n := countNotes(t); n != 4 {
				t.Errorf("%d notes, want 4", n)
			}
			e.events()
		})
		t.Run("a key expires after 24 hours", func(t *testing.T) {
			e := e.with(t)
			e.clock.Advance(24*time.Hour + time.Minute)
			r := e.do("POST", notes, agentToken, map[string]any{"text": "call back at 6"}, key("k1")...)
			if r.status != 201 || r.header.Get("Idempotent-Replayed") != "" || countNotes(t) != 5 {
				t.Fatalf("%d %s: an expired key is a new key", r.status, r.body)
			}
			if evs := e.events(); len(evs) != 1 {
				t.Errorf("events %v", eventTypes(evs))
			}
		})
		t.Run("a delete is replayed", func(t *testing.T) {
			e := e.with(t)
			r := e.do("DELETE", "/v1/customers/"+custID, adminToken, nil, key("erase-1")...)
			again := e.do("DELETE", "/v1/customers/"+custID, adminToken, nil, key("erase-1")...)
			if r.status != 204 || again.status != 204 || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("%d then %d %s", r.status, again.status, again.body)
			}
			if evs := e.events(); !slices.Equal(eventTypes(evs), []string{normalize.TypeCustomerErased}) {
				t.Errorf("events %v, want one customer.erased", eventTypes(evs))
			}
		})
		t.Run("erasure drops kept responses of the customer", func(t *testing.T) {
			e := e.with(t)
			var n int
			if err := e.store.DB().QueryRow(`SELECT COUNT(*) FROM idempotency_keys WHERE body IS NOT NULL AND length(body) > 0 AND customer_id = '` + custID + `'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d kept responses hold the erased customer's data", n)
			}
		})
	})
}

// A request still running holds its key: a duplicate is refused with 409,
// and the key answers the first response once it is done. A failed (5xx)
// first attempt is not kept.
func TestAPIIdempotencyInFlightAndFailures(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		entered, release := make(chan struct{}), make(chan struct{})
		var slowRuns, flakyRuns atomic.Int32
		e := newAPIEnv(t, dialect, func(api *connectors.API) {
			api.Handle("POST", "/test/slow", connectors.RoleAgent, func(c *fiber.Ctx) error {
				slowRuns.Add(1)
				entered <- struct{}{}
				<-release
				return c.Status(201).JSON(fiber.Map{"run": slowRuns.Load()})
			})
			api.Handle("POST", "/test/flaky", connectors.RoleAgent, func(c *fiber.Ctx) error {
				if flakyRuns.Add(1) == 1 {
					return errors.New("database exploded")
				}
				return c.JSON(fiber.Map{"run": flakyRuns.Load()})
			})
			api.Handle("POST", "/test/panic", connectors.RoleAgent, func(c *fiber.Ctx) error {
				panic("boom")
			})
		})
		k := []string{"Idempotency-Key", "same"}

		done := make(chan resp)
		go func() { done <- e.do("POST", "/v1/test/slow", agentToken, `{}`, k...) }()
		<-entered
		dup := e.do("POST", "/v1/test/slow", agentToken, `{}`, k...)
		if dup.status != 409 || dup.message() != "a request with this Idempotency-Key is in progress" {
			t.Errorf("duplicate while running: %d %s, want 409", dup.status, dup.body)
		}
		close(release)
		first := <-done
		if first.status != 201 {
			t.Fatalf("first: %d %s", first.status, first.body)
		}
		again := e.do("POST", "/v1/test/slow", agentToken, `{}`, k...)
		if again.status != 201 || !bytes.Equal(again.body, first.body) || slowRuns.Load() != 1 {
			t.Errorf("after: %d %s, %d runs", again.status, again.body, slowRuns.Load())
		}

		// Many at once: one runs.
		var wg sync.WaitGroup
		var ok, busy atomic.Int32
		release2 := make(chan struct{})
		entered2 := make(chan struct{}, 10)
		e2 := newAPIEnv(t, dialect, func(api *connectors.API) {
			api.Handle("POST", "/test/slow", connectors.RoleAgent, func(c *fiber.Ctx) error {
				entered2 <- struct{}{}
				<-release2
				return c.JSON(fiber.Map{})
			})
		})
		for range 8 {
			wg.Go(func() {
				res, err := e2.app.Test(func() *http.Request {
					req := httptest.NewRequest("POST", "/v1/test/slow", strings.NewReader(`{}`))
					req.Header.Set("Authorization", "Bearer "+agentToken)
					req.Header.Set("Idempotency-Key", "burst")
					return req
				}(), -1)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				switch res.StatusCode {
				case 200:
					ok.Add(1)
				case 409:
					busy.Add(1)
				default:
					t.Errorf("status %d", res.StatusCode)
				}
			})
		}
		<-entered2
		time.Sleep(200 * time.Millisecond) // the others find the claim
		close(release2)
		wg.Wait()
		if len(entered2) != 0 || ok.Load() < 1 {
			t.Errorf("%d more runs, %d ok, %d busy: one request must run", len(entered2), ok.Load(), busy.Load())
		}

		fk := []string{"Idempotency-Key", "flaky"}
		if r := e.do("POST", "/v1/test/flaky", agentToken, `{}`, fk...); r.status != 500 || r.code() != "internal" || strings.Contains(string(r.body), "exploded") {
			t.Errorf("failure: %d %s, want a 500 without details", r.status, r.body)
		}
		if !strings.Contains(e.logs.String(), "database exploded") {
			t.Error("the failure is not logged")
		}
		if r := e.do("POST", "/v1/test/flaky", agentToken, `{}`, fk...); r.status != 200 || r.header.Get("Idempotent-Replayed") != "" || flakyRuns.Load() != 2 {
			t.Errorf("retry after a 500: %d %s, %d runs: a failure must not be kept", r.status, r.body, flakyRuns.Load())
		}
		pk := []string{"Idempotency-Key", "panic"}
		for range 2 {
			if r := e.do("POST", "/v1/test/panic", agentToken, `{}`, pk...); r.status != 500 || r.code() != "internal" {
				t.Errorf("panic: %d %s, want 500 internal (and the key released)", r.status, r.body)
			}
		}
	})
}

func TestAPIBadInput(t *testing.T) {
	e := newAPIEnv(t, sqlstore.SQLite, nil)
	e.receive(sms("+14155550101", "help"))
	_, convID := e.customer("+14155550101")
	notes := "/v1/conversations/" + convID + "/notes"
	big := `{"text":"` + strings.Repeat("a", connectors.APIBodyLimit) + `"}`
	tests := map[string]struct {
		path   string
		body   string
		hdr    []string
		status int
		code   string
	}{
		"over 1 MiB":         {notes, big, nil, 413, "too_large"},
		"compressed":         {notes, `{"text":"x"}`, []string{"Content-Encoding", "gzip"}, 415, "unsupported_media_type"},
		"note with NUL":      {notes, `{"text":"a\u0000"}`, nil, 400, "invalid"},
		"note too long":      {notes, `{"text":"` + strings.Repeat("a", 64<<10+1) + `"}`, nil, 400, "invalid"},
		"text is a number":   {notes, `{"text":1}`, nil, 400, "invalid"},
		"text is null":       {notes, `{"text":null}`, nil, 400, "invalid"},
		"null body":          {notes, `null`, nil, 400, "invalid"},
		"truncated":          {notes, `{"text":"a`, nil, 400, "invalid"},
		"not JSON":           {notes, `text=a`, nil, 400, "invalid"},
		"invalid UTF-8 text": {notes, "{\"text\":\"\xff\xfe\"}", nil, 201, ""},
		"long id":            {"/v1/conversations/" + strings.Repeat("a", 300) + "/notes", `{"text":"x"}`, nil, 404, "not_found"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := e.with(t).do("POST", tc.path, agentToken, tc.body, tc.hdr...)
			if r.status != tc.status || r.code() != tc.code {
				t.Errorf("%d %.200s, want %d %q", r.status, r.body, tc.status, tc.code)
			}
		})
	}
}

// FuzzAPIBody sends arbitrary bodies to every route that reads one: a bad
// body is a 4xx with the JSON error shape, never a 5xx.
func FuzzAPIBody(f *testing.F) {
	for _, s := range []string{`{"agent":"ann","inbox":"s"}`, `{"text":"x"}`, `{"status":"closed","reason":"r"}`,
		`{"customer_id":"x","channel":"sms"}`, `{"from":"x"}`, `{`, `[]`, `null`, `{"text":"\u0000"}`, `{"agent":{}}`, "", `""`, `{"Agent":"000","inBoX":"0"}`, " "} {
		f.Add(s)
	}
	e := newAPIEnv(f, sqlstore.SQLite, nil)
	f.Fuzz(func(t *testing.T, body string) {
		e := e.with(t)
		e.receive(sms("+14155550199", "x"))
		custID, convID := e.customer("+14155550199")
		for _, p := range []string{"/conversations/" + convID + "/assign", "/conversations/" + convID + "/notes",
			"/conversations/" + convID + "/status", "/conversations/" + convID + "/unassign", "/conversations", "/customers/" + custID + "/merge"} {
			r := e.do("POST", "/v1"+p, adminToken, body)
			if r.status >= 500 {
				t.Fatalf("POST %s %q: %d %s", p, body, r.status, r.body)
			}
		}
	})
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

// TestOpenAPIMatchesLiveRoutes checks that openapi.yaml and the mounted
// routes are the same set, and that every documented operation answers as
// documented on a real app and store.
func TestOpenAPIMatchesLiveRoutes(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(connectors.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" /v1"+strings.ReplaceAll(strings.ReplaceAll(path, "{", ":"), "}", "")] = true
		}
	}
	e := newAPIEnv(t, sqlstore.SQLite, nil)
	mounted := map[string]bool{}
	for _, r := range e.app.GetRoutes(true) {
		if strings.HasPrefix(r.Path, "/v1/") {
			mounted[r.Method+" "+r.Path] = true
		}
	}
	for r := range mounted {
		if !documented[r] {
			t.Errorf("%s is mounted but not in openapi.yaml", r)
		}
	}
	for r := range documented {
		if !mounted[r] && !implementedElsewhere[r] {
			t.Errorf("%s is in openapi.yaml but not mounted", r)
		}
	}
	for r := range implementedElsewhere {
		if !documented[r] {
			t.Errorf("%s is allowed to be mounted elsewhere but is not documented", r)
		}
	}

	// Every operation, through the answers the scenario gives, validated by
	// apiEnv.do against the document.
	forEachStore(t, func(t *testing.T, dialect string) {
		e, ids := scenarioEnv(t, dialect)
		e.run(t, scenario(), ids)
		e.run(t, []step{
			{name: "list", method: "GET", path: "/v1/conversations?limit=1", token: agentToken, status: 200},
			{name: "document", method: "GET", path: "/v1/openapi.yaml", status: 200},
		}, ids)
		for r := range documented {
			if implementedElsewhere[r] && !mounted[r] {
				continue
			}
			method, path, _ := strings.Cut(r, " ")
			path = strings.ReplaceAll(strings.TrimPrefix(path, "/v1"), ":id", "{id}")
			ok := false
			for s := range e.seen {
				if strings.HasPrefix(s, method+" "+path+" 2") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("no successful answer of %s was validated", r)
			}
		}
		if strings.Contains(e.logs.String(), agentToken) || strings.Contains(e.logs.String(), adminToken) {
			t.Error("a token is in the logs")
		}
	})
}

// TestIdempotencyStore runs the store's side of Idempotency-Key on both
// databases: claims, replays, conflicts, leases and expiry.
func TestIdempotencyStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		clock := sqltest.NewClock()
		s := sqltest.Open(t, dialect, sqlstore.WithClock(clock.Now))
		ctx := context.Background()
		const tok, route = "tokhash", "POST /v1/conversations/:id/notes /v1/conversations/c1/notes"
		type want struct {
			done   bool
			status int
			body   string
			code   string // error code
		}
		begin := func(t *testing.T, key, hash string, w want) {
			t.Helper()
			status, body, done, err := s.BeginIdempotent(ctx, tok, route, key, hash)
			if w.code != "" {
				if core.ErrorCode(err) != w.code {
					t.Fatalf("BeginIdempotent: %v, want %s", err, w.code)
				}
				return
			}
			if err != nil || done != w.done || status != w.status || string(body) != w.body {
				t.Fatalf("BeginIdempotent: %v %d %q %v, want %+v", done, status, body, err, w)
			}
		}
		steps := []struct {
			name string
			do   func(t *testing.T)
		}{
			{"a new key is claimed", func(t *testing.T) { begin(t, "k", "h1", want{}) }},
			{"a claimed key is in progress", func(t *testing.T) { begin(t, "k", "h1", want{code: core.ECONFLICT}) }},
			{"another body is refused even in progress", func(t *testing.T) { begin(t, "k", "h2", want{code: core.EUNPROCESSABLE}) }},
			{"finish", func(t *testing.T) {
				if err := s.FinishIdempotent(ctx, tok, route, "k", "cust1", 201, []byte(`{"id":"n1"}`)); err != nil {
					t.Fatal(err)
				}
			}},
			{"a replay gets the response", func(t *testing.T) { begin(t, "k", "h1", want{done: true, status: 201, body: `{"id":"n1"}`}) }},
			{"another body is refused", func(t *testing.T) { begin(t, "k", "h2", want{code: core.EUNPROCESSABLE}) }},
			{"abandon leaves a finished key", func(t *testing.T) {
				if err := s.AbandonIdempotent(ctx, tok, route, "k"); err != nil {
					t.Fatal(err)
				}
				begin(t, "k", "h1", want{done: true, status: 201, body: `{"id":"n1"}`})
			}},
			{"an abandoned claim is free", func(t *testing.T) {
				begin(t, "a", "h1", want{})
				if err := s.AbandonIdempotent(ctx, tok, route, "a"); err != nil {
					t.Fatal(err)
				}
				begin(t, "a", "h2", want{})
			}},
			{"a claim whose request died is taken over after its lease", func(t *testing.T) {
				clock.Advance(4 * time.Minute)
				begin(t, "a", "h2", want{code: core.ECONFLICT})
				clock.Advance(2 * time.Minute)
				begin(t, "a", "h3", want{})
			}},
			{"an empty body is kept", func(t *testing.T) {
				begin(t, "e", "h1", want{})
				if err := s.FinishIdempotent(ctx, tok, route, "e", "", 204, nil); err != nil {
					t.Fatal(err)
				}
				begin(t, "e", "h1", want{done: true, status: 204})
			}},
			{"erasure forgets the customer's responses", func(t *testing.T) {
				begin(t, "f", "h1", want{})
				if err := s.FinishIdempotent(ctx, tok, route, "f", "cust2", 200, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				if err := s.ForgetIdempotentResponses(ctx, "cust1"); err != nil {
					t.Fatal(err)
				}
				begin(t, "k", "h9", want{}) // forgotten: a new key
				begin(t, "f", "h1", want{done: true, status: 200, body: `{}`})
			}},
			{"a key expires after 24 hours", func(t *testing.T) {
				clock.Advance(sqlstore.IdempotencyTTL + time.Second)
				begin(t, "f", "h2", want{})
			}},
			{"sweep deletes expired keys", func(t *testing.T) {
				clock.Advance(sqlstore.IdempotencyTTL + time.Second)
				n, err := s.SweepIdempotency(ctx)
				if err != nil || n == 0 {
					t.Fatalf("swept %d, %v", n, err)
				}
				var left int
				if err := s.DB().QueryRow(`SELECT COUNT(*) FROM idempotency_keys`).Scan(&left); err != nil || left != 0 {
					t.Fatalf("%d keys left, %v", left, err)
				}
			}},
		}
		for _, st := range steps {
			t.Run(st.name, st.do)
		}
	})
}
