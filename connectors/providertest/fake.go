// Package providertest holds fake provider APIs (Twilio Messages, SendGrid
// Mail Send, Meta Graph send endpoints) for tests and benchmarks of the
// providers' senders (connectors/*/sender.go) and of the gateway end to end.
//
// Each fake is an httptest.Server that checks what the real API (and its
// official OpenAPI document) checks: URL shape, credentials, content type and
// required fields, and answers with the provider's own error bodies when they
// are wrong. Every request is recorded for assertions. A fake can be scripted
// to fail (FailNext), to hang (Hang, HangNext), to lose its answer after
// accepting a message (AcceptThenHang) or to answer slowly (SetLatency).
//
// It owns only the fakes and imports nothing of the gateway, so that any
// package's tests may use it.
package providertest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Request is one request a fake received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	// Form is the parsed body of a form-encoded request (Twilio).
	Form url.Values
	// JSON is the parsed body of a JSON request (SendGrid, Meta); nil when
	// the body is not a JSON object.
	JSON map[string]any
}

// scripted is an answer given instead of the normal one.
type scripted struct {
	status int
	body   string
	header map[string]string
}

// handler answers one request that passed the scripted behaviour. It returns
// true when the request created a new message (counted by Accepted).
type handler func(w http.ResponseWriter, r *http.Request, req *Request) (accepted bool)

// Fake is the part every provider fake shares: the server, the recorded
// requests, the scripted failures, delays and counters. It is safe for
// concurrent use.
type Fake struct {
	// URL is the base URL of the fake (scheme and host, no path), to be used
	// as the sender's base URL.
	URL string

	t        testing.TB
	srv      *httptest.Server
	handle   handler
	fallback func(status int) string // default error body for FailNext
	done     chan struct{}

	mu          sync.Mutex
	requests    []Request
	failures    []scripted
	hang        time.Duration // every request waits this long
	hangNext    []time.Duration
	acceptHangs int
	latency     time.Duration

	conns      atomic.Int64
	received   atomic.Int64
	accepted   atomic.Int64
	duplicates atomic.Int64
	rejected   atomic.Int64
	abandoned  atomic.Int64
}

func newFake(t testing.TB, h handler, fallback func(status int) string) *Fake {
	t.Helper()
	f := &Fake{t: t, handle: h, fallback: fallback, done: make(chan struct{})}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.srv.Start()
	f.URL = f.srv.URL
	t.Cleanup(f.Close)
	return f
}

// Close stops the server; requests still hanging are released first. It is
// called by t.Cleanup and may be called earlier.
func (f *Fake) Close() {
	select {
	case <-f.done:
		return
	default:
	}
	close(f.done)
	f.srv.CloseClientConnections()
	f.srv.Close()
}

// Client returns an HTTP client for the fake (the default transport with
// the server's connection pool).
func (f *Fake) Client() *http.Client { return f.srv.Client() }

// FailNext makes the next n requests answer status with body and the given
// headers (for example "Retry-After": "7") instead of being processed. An
// empty body is replaced by the provider's usual error body for the status.
// Scripted failures queue up: FailNext(1, 429, ...) then FailNext(1, 500, ...)
// fails the next request with 429 and the one after with 500.
func (f *Fake) FailNext(n, status int, body string, headers map[string]string) {
	if body == "" && f.fallback != nil {
		body = f.fallback(status)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.failures = append(f.failures, scripted{status: status, body: body, header: maps.Clone(headers)})
	}
}

// Hang delays every following request by d before it is processed; a client
// that gives up first (timeout, cancelled context) gets no answer and no
// message is created, as when the provider never received it. Hang(0) ends it.
func (f *Fake) Hang(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = d
}

// HangNext delays the next n requests by d, like Hang.
func (f *Fake) HangNext(n int, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.hangNext = append(f.hangNext, d)
	}
}

// AcceptThenHang makes the next n requests be processed normally (the
// message is created and counted) but never answered until the client gives
// up: the provider sent the message and the answer was lost, the case
// idempotency keys exist for.
func (f *Fake) AcceptThenHang(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acceptHangs += n
}

// SetLatency adds d to every answer (for benchmarks); 0 removes it.
func (f *Fake) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// Requests returns a copy of every request received so far, in order.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// Last returns the last request received; the test fails if there is none.
func (f *Fake) Last() Request {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		f.t.Fatalf("providertest: no request received")
		return Request{}
	}
	return f.requests[len(f.requests)-1]
}

// Received is the number of requests that reached the fake.
func (f *Fake) Received() int { return int(f.received.Load()) }

// Accepted is the number of messages the fake accepted (new sends only: an
// idempotent replay is not counted).
func (f *Fake) Accepted() int { return int(f.accepted.Load()) }

// Connections is the number of TCP connections clients have opened to the
// fake.
func (f *Fake) Connections() int { return int(f.conns.Load()) }

// Duplicates is the number of requests answered from the idempotency cache
// (Twilio only).
func (f *Fake) Duplicates() int { return int(f.duplicates.Load()) }

// Rejected is the number of requests answered with an error (scripted or
// because they were invalid).
func (f *Fake) Rejected() int { return int(f.rejected.Load()) }

// Abandoned is the number of requests whose client gave up before an answer.
func (f *Fake) Abandoned() int { return int(f.abandoned.Load()) }

// Reset forgets the recorded requests, the counters and the scripted
// behaviour (not the fake's state such as Twilio's idempotency cache).
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests, f.failures, f.hangNext = nil, nil, nil
	f.hang, f.latency, f.acceptHangs = 0, 0, 0
	for _, c := range []*atomic.Int64{&f.received, &f.accepted, &f.duplicates, &f.rejected, &f.abandoned} {
		c.Store(0)
	}
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.received.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.abandoned.Add(1)
		return
	}
	req := Request{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body,
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		req.Form, _ = url.ParseQuery(string(body))
	case "application/json":
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			req.JSON = m
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	f.mu.Lock()
	f.requests = append(f.requests, req)
	delay := f.hang + f.latency
	if len(f.hangNext) > 0 {
		delay += f.hangNext[0]
		f.hangNext = f.hangNext[1:]
	}
	var fail *scripted
	if len(f.failures) > 0 {
		fail = &f.failures[0]
		f.failures = f.failures[1:]
	}
	acceptHang := false
	if fail == nil && f.acceptHangs > 0 {
		f.acceptHangs--
		acceptHang = true
	}
	f.mu.Unlock()

	if delay > 0 && !f.wait(r, delay) {
		f.abandoned.Add(1)
		return
	}
	if fail != nil {
		f.rejected.Add(1)
		for k, v := range fail.header {
			w.Header().Set(k, v)
		}
		if w.Header().Get("Content-Type") == "" && strings.HasPrefix(strings.TrimSpace(fail.body), "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(fail.status)
		io.WriteString(w, fail.body)
		return
	}
	if acceptHang {
		rec := httptest.NewRecorder()
		if f.handle(rec, r, &req) {
			f.accepted.Add(1)
		}
		f.wait(r, 24*time.Hour)
		f.abandoned.Add(1)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	if f.handle(sw, r, &req) {
		f.accepted.Add(1)
	} else if sw.status >= 400 {
		f.rejected.Add(1)
	}
}

// wait sleeps d; false if the client went away or the fake closed first.
func (f *Fake) wait(r *http.Request, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-r.Context().Done():
		return false
	case <-f.done:
		return false
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// mediaType is the media type of a Content-Type header without parameters.
func mediaType(h http.Header) string {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt
}

const hexDigits = "0123456789abcdef"

// randomString returns n characters drawn from alphabet.
func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// bearer returns the token of an "Authorization: Bearer X" header.
func bearer(h http.Header) (string, bool) {
	a := h.Get("Authorization")
	scheme, tok, ok := strings.Cut(a, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
