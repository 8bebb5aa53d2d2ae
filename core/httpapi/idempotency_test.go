package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/httpapi"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

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
		t.Run("same key, other token", func(t *testing.T) {
			e := e.with(t)
			r := e.do("POST", notes, adminToken, `{"text": "call back at 5"}`, key("k1")...)
			if r.status != 201 || r.header.Get("Idempotent-Replayed") != "" || countNotes(t) != 2 {
				t.Fatalf("%d %s: another token's key is another key", r.status, r.body)
			}
			e.events()
		})
		t.Run("same key, other agent", func(t *testing.T) {
			e := e.with(t)
			// The unnamed admin token acting for ann is another actor.
			r := e.do("POST", notes, adminToken, `{"text": "call back at 5"}`, append(key("k1"), "X-Agent", "ann")...)
			if r.status != 422 {
				t.Fatalf("%d %s, want 422", r.status, r.body)
			}
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
		e := newAPIEnv(t, dialect, func(api *httpapi.API) {
			api.Handle("POST", "/test/slow", httpapi.RoleAgent, func(c *fiber.Ctx) error {
				slowRuns.Add(1)
				entered <- struct{}{}
				<-release
				return c.Status(201).JSON(fiber.Map{"run": slowRuns.Load()})
			})
			api.Handle("POST", "/test/flaky", httpapi.RoleAgent, func(c *fiber.Ctx) error {
				if flakyRuns.Add(1) == 1 {
					return errors.New("database exploded")
				}
				return c.JSON(fiber.Map{"run": flakyRuns.Load()})
			})
			api.Handle("POST", "/test/panic", httpapi.RoleAgent, func(c *fiber.Ctx) error {
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
		e2 := newAPIEnv(t, dialect, func(api *httpapi.API) {
			api.Handle("POST", "/test/slow", httpapi.RoleAgent, func(c *fiber.Ctx) error {
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
