package connectors

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/valyala/fasthttp"

	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/normalize"
)

// Route is one provider webhook; provider packages declare theirs.
type Route = webhook.Route

// Ingest serves provider webhooks: verify, normalize, publish to Kafka,
// and only then answer the provider.
type Ingest struct {
	pub kafkabus.Publisher
	// raw and inbound are the topic names, built once.
	raw, inbound, dlq string
	publicURL         string
	// deadlines bound each request's handling (10 s), shared by the
	// requests of a slot.
	deadlines *deadlines
	log       *slog.Logger

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	events   *prometheus.CounterVec
	// deadLetters counts requests sent to dlq.v1, by connector and reason
	// (webhook.Result.DeadLetter, a code).
	deadLetters *prometheus.CounterVec
	// entryPoints bounds the entry_point label of events.
	entryPoints core.EntryPointLabels
}

// NewIngest returns the webhook routes' shared machinery.
func NewIngest(pub kafkabus.Publisher, topics kafkabus.Topics, publicURL string, log *slog.Logger, reg prometheus.Registerer) *Ingest {
	w := &Ingest{
		pub: pub, raw: topics.Raw(), inbound: topics.Inbound(), dlq: topics.DLQ(), publicURL: strings.TrimRight(publicURL, "/"), deadlines: &deadlines{timeout: 10 * time.Second}, log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "webhook", Name: "requests_total",
			Help: "Webhook requests by connector and outcome: accepted, ignored, dead_letter, signature, expired, unauthorized, malformed, too_large, encoded, unavailable, rejected, disabled, error, panic.",
		}, []string{"connector", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gateway", Subsystem: "webhook", Name: "duration_seconds",
			Help:    "Webhook handling time, from the request to the answer (including the Kafka acknowledgement).",
			Buckets: []float64{.001, .0025, .005, .01, .015, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"connector"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "webhook", Name: "events_total",
			Help: "Normalized events published to inbound.v1, by connector, type and the entry point of the message (other: one not configured, or an event that is not a message).",
		}, []string{"connector", "type", "entry_point"}),
		entryPoints: core.NewEntryPointLabels(nil),
	}
	w.deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "gateway", Subsystem: "webhook", Name: "dead_letters_total",
		Help: "Webhook requests kept on raw.v1 and sent to dlq.v1 instead of inbound.v1, by connector and reason (unknown_entry_point).",
	}, []string{"connector", "reason"})
	if reg != nil {
		reg.MustRegister(w.requests, w.duration, w.events, w.deadLetters)
	}
	return w
}

// SetEntryPoints names the configured entry points, the values the
// entry_point label of events takes besides the derived ids and other. Call
// it before Mount.
func (w *Ingest) SetEntryPoints(ids []string) { w.entryPoints = core.NewEntryPointLabels(ids) }

// Mount adds the routes to app.
func (w *Ingest) Mount(app *fiber.App, routes ...Route) {
	for _, rt := range routes {
		h := w.handler(rt)
		for _, m := range rt.Methods {
			app.Add(m, rt.Path, h)
		}
	}
}

// routeMetrics are one route's metric children, resolved once at Mount so
// that a request does not hash its label values.
type routeMetrics struct {
	name     string
	duration prometheus.Observer
	// common are the outcomes exported from the start (zeros included);
	// the others are created when they first happen.
	common map[string]prometheus.Counter
	w      *Ingest

	mu     sync.Mutex
	events map[eventLabels]prometheus.Counter
}

// eventLabels are an event counter's labels besides the connector.
type eventLabels struct{ typ, entryPoint string }

func (w *Ingest) routeMetrics(name string) *routeMetrics {
	m := &routeMetrics{name: name, duration: w.duration.WithLabelValues(name), w: w,
		common: map[string]prometheus.Counter{}, events: map[eventLabels]prometheus.Counter{}}
	for _, o := range []string{"accepted", "signature", "malformed"} {
		m.common[o] = w.requests.WithLabelValues(name, o) // export zeros for the common outcomes
	}
	return m
}

func (m *routeMetrics) request(outcome string) prometheus.Counter {
	if c, ok := m.common[outcome]; ok {
		return c
	}
	return m.w.requests.WithLabelValues(m.name, outcome)
}

// event is the counter of an event, by its type and its message's entry
// point (bounded by the configured ones).
func (m *routeMetrics) event(ev webhook.Event) prometheus.Counter {
	o := ev.Origin
	l := eventLabels{ev.Event.Type, m.w.entryPoints.Of(core.EntryPointAt(o.EntryPoint, o.Provider, o.Channel))}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.events[l]
	if !ok {
		c = m.w.events.WithLabelValues(m.name, l.typ, l.entryPoint)
		m.events[l] = c
	}
	return c
}

func (w *Ingest) handler(rt Route) fiber.Handler {
	maxBody := rt.MaxBody
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	metrics := w.routeMetrics(rt.Name)
	authorizer, _ := rt.Handler.(webhook.HeaderAuthorizer)
	// routeURL is the URL of a request to the route's path without a query.
	routeURL := ""
	if w.publicURL != "" {
		routeURL = w.publicURL + rt.Path
	}
	return func(c *fiber.Ctx) error {
		start := time.Now()
		outcome := "panic" // until the handler returns (the server's Recover answers a panic)
		defer func() {
			took := time.Since(start)
			metrics.request(outcome).Inc()
			metrics.duration.Observe(took.Seconds())
			w.access(c, rt.Name, outcome, took)
		}()
		if rt.Handler == nil {
			outcome = "disabled"
			return httperr.Write(c, core.ENOTFOUND, "this connector is disabled: its credentials are not configured")
		}
		if authorizer != nil {
			// Credentials in headers are checked before the body is read:
			// it is left unread and the connection closed after the 401.
			if err := authorizer.Authorize(fiberHeader{&c.Request().Header}); err != nil {
				c.Context().SetConnectionClose()
				var answer error
				outcome, answer = w.refuse(c, rt.Name, err)
				return answer
			}
		}
		if edge.Encoded(c) {
			outcome = "encoded"
			c.Context().SetConnectionClose()
			return httperr.Write(c, httperr.CodeUnsupported, "webhook bodies are not accepted encoded (Content-Encoding must be identity)")
		}
		body, err := edge.ReadOwnBody(c, maxBody)
		if err != nil {
			outcome = "too_large"
			if !errors.Is(err, edge.ErrBodyTooLarge) {
				outcome = "malformed"
			}
			return edge.WriteBodyError(c, err, maxBody)
		}
		req := w.request(c, body, start, rt.Path, routeURL)
		ctx, cancel := w.deadlines.at(c.UserContext(), start)
		defer cancel()
		res, err := rt.Handler.Handle(ctx, req)
		if err != nil {
			var answer error
			outcome, answer = w.refuse(c, rt.Name, err)
			return answer
		}
		if err := w.publish(ctx, rt.Name, req, edge.RawID(c), res); err != nil {
			if errors.Is(err, kafkabus.ErrRejected) {
				// Sending it again will not help: say so, and never spool it.
				outcome = "rejected"
				w.log.Error("webhook: Kafka refused the record (larger than the topic's max.message.bytes?)", "connector", rt.Name,
					"outcome", outcome, "request_id", edge.ID(c), "bytes", len(body), "error", err)
				return httperr.Write(c, httperr.CodeTooLarge, "the event is larger than Kafka accepts")
			}
			outcome = "unavailable"
			w.log.Error("webhook: publish", "connector", rt.Name, "outcome", outcome, "request_id", edge.ID(c), "error", err)
			return httperr.Write(c, httperr.CodeUnavailable, "the event could not be stored; retry later")
		}
		outcome = w.published(c, metrics, res)
		if res.ContentType != "" {
			c.Set(fiber.HeaderContentType, res.ContentType)
		}
		return c.Status(fiber.StatusOK).Send(res.Body)
	}
}

// published counts what a request published and returns its outcome:
// accepted, ignored (nothing in it for the gateway) or dead_letter (sent
// to dlq.v1, logged).
func (w *Ingest) published(c *fiber.Ctx, metrics *routeMetrics, res webhook.Result) string {
	for _, ev := range res.Events {
		metrics.event(ev).Inc()
	}
	switch {
	case res.DeadLetter != "":
		w.deadLetters.WithLabelValues(metrics.name, res.DeadLetter).Inc()
		w.log.Warn("webhook: sent to the dead-letter topic", "connector", metrics.name, "reason", res.DeadLetter,
			"request_id", edge.ID(c), "error", res.DeadLetterError)
		return "dead_letter"
	case len(res.Events) == 0 && res.Ignored > 0:
		return "ignored"
	}
	return "accepted"
}

// refuse answers a provider handler's error and returns its outcome; an
// unauthorized request gets the basic auth challenge.
func (w *Ingest) refuse(c *fiber.Ctx, connector string, err error) (string, error) {
	code, outcome := webhookError(err)
	if code == core.EINTERNAL {
		w.log.Error("webhook: handle", "connector", connector, "outcome", outcome, "request_id", edge.ID(c), "error", err)
		return outcome, httperr.Write(c, code, "internal error")
	}
	if outcome == "unauthorized" {
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="gateway"`)
	}
	w.log.Warn("webhook: refused", "connector", connector, "outcome", outcome, "request_id", edge.ID(c), "error", err)
	return outcome, httperr.Write(c, code, err.Error())
}

// access writes a request's one info line: its connector, outcome, status
// and duration under its request id; never its body, addresses or
// headers.
func (w *Ingest) access(c *fiber.Ctx, connector, outcome string, took time.Duration) {
	ctx := c.UserContext()
	if !w.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	w.log.LogAttrs(ctx, slog.LevelInfo, "webhook", slog.String("connector", connector), slog.String("outcome", outcome),
		slog.Int("status", c.Response().StatusCode()), slog.Int64("duration_ms", took.Milliseconds()),
		slog.String("request_id", edge.ID(c)))
}

// fiberHeader reads the request's headers where fiber keeps them: nothing
// is copied until a provider asks for a header or the raw record is built.
// It is valid only while the handler runs.
type fiberHeader struct{ h *fasthttp.RequestHeader }

var _ webhook.Header = fiberHeader{}

// Get returns a copy of the first value of a header (the form content
// type as a constant).
func (f fiberHeader) Get(name string) string {
	v := f.h.Peek(name)
	if string(v) == formContentType {
		return formContentType
	}
	return string(v)
}

// formContentType is the Content-Type of most webhooks (Twilio's).
const formContentType = "application/x-www-form-urlencoded"

// Values returns copies of every value of a header.
func (f fiberHeader) Values(name string) []string {
	var out []string
	for _, v := range f.h.PeekAll(name) {
		out = append(out, string(v))
	}
	return out
}

// request is what the provider's handler sees: the body, the handler's own
// (edge.ReadOwnBody; it is the raw record's value), the headers where
// fiber keeps them, the query parsed only when there is one. A request to
// path itself has the URL pathURL when that is not "".
func (w *Ingest) request(c *fiber.Ctx, body []byte, at time.Time, path, pathURL string) *webhook.Request {
	orig := c.OriginalURL()
	base := w.publicURL
	if base == "" {
		base = c.Protocol() + "://" + string(c.Request().Host())
	}
	u := pathURL
	if u == "" || orig != path {
		u = base + orig
	}
	var q url.Values
	if qs := c.Request().URI().QueryString(); len(qs) > 0 {
		q, _ = url.ParseQuery(string(qs))
	}
	return &webhook.Request{
		Method: c.Method(), URL: u, Header: fiberHeader{&c.Request().Header}, Query: q,
		Body: body, ReceivedAt: at.UTC(),
	}
}

// PublishEvents writes normalized events to inbound.v1 (the web chat, which
// has no provider request to keep on raw.v1).
func (w *Ingest) PublishEvents(ctx context.Context, evs []webhook.Event) error {
	return w.publish(ctx, "", nil, nil, webhook.Result{Events: evs, NoRaw: true})
}

// Via returns the same machinery (topics, metrics, log) publishing through
// pub instead: the web chat publishes through its share of the spool.
func (w *Ingest) Via(pub kafkabus.Publisher) *Ingest {
	c := *w
	c.pub = pub
	return &c
}

// scratch is the memory a request's records are made of: the bytes of the
// raw record's headers and key and of the encoded events, the raw
// record's header list and the records themselves.
type scratch struct {
	buf  []byte
	hs   []kafka.Header
	recs []kafkabus.Record
}

// bufs holds scratch for reuse. It goes back only after Produce returned
// success, when Kafka has acknowledged every record and nothing refers to
// it any more (a Publisher keeps nothing of the records it was given).
var bufs = sync.Pool{New: func() any {
	return &scratch{buf: make([]byte, 0, 4096), hs: make([]kafka.Header, 0, 16), recs: make([]kafkabus.Record, 0, 4)}
}}

// maxPooled bounds the bytes, and maxPooledHeaders the headers, of the
// scratch kept in bufs.
const maxPooled, maxPooledHeaders = 64 << 10, 256

var contentTypeHeaders = []kafka.Header{{Key: "content-type", Value: []byte(normalize.ContentType)}}

// publish writes the raw request to raw.v1 and the events to inbound.v1,
// all acknowledged by every in-sync replica, in one call. The raw record is
// keyed like the events (the contact), so that one contact's requests stay
// in order while a route's spread over the partitions. id is the request's
// id, kept on the raw record as its request_id header.
func (w *Ingest) publish(ctx context.Context, route string, req *webhook.Request, id []byte, res webhook.Result) error {
	sc := bufs.Get().(*scratch)
	buf, recs := sc.buf[:0], sc.recs[:0]
	if !res.NoRaw {
		var rec kafkabus.Record
		rec, buf = rawRecord(w.raw, route, req, id, res, buf, sc.hs[:0])
		sc.hs = rec.Headers
		recs = append(recs, rec)
		if res.DeadLetter != "" {
			hs := append(rec.Headers[:len(rec.Headers):len(rec.Headers)],
				kafkabus.DeadLetterHeaders(res.DeadLetter, res.DeadLetterError, w.raw, -1, -1)...)
			recs = append(recs, kafkabus.Record{Topic: w.dlq, Key: rec.Key, Value: rec.Value, Headers: hs})
		}
	}
	for _, ev := range res.Events {
		start := len(buf)
		buf = append(buf, ev.Key...)
		key := buf[start:len(buf):len(buf)]
		start = len(buf)
		var err error
		if buf, err = ev.Event.AppendEncode(buf); err != nil {
			return err
		}
		recs = append(recs, kafkabus.Record{Topic: w.inbound, Key: key, Value: buf[start:len(buf):len(buf)], Headers: contentTypeHeaders})
	}
	err := w.pub.Produce(ctx, recs...)
	if err == nil && cap(buf) <= maxPooled && cap(sc.hs) <= maxPooledHeaders && cap(recs) <= maxPooledHeaders {
		clear(recs)
		clear(sc.hs[:cap(sc.hs)])
		sc.buf, sc.hs, sc.recs = buf[:0], sc.hs[:0], recs[:0]
		bufs.Put(sc)
	}
	return err
}

// headersNotKept are request headers never written to raw.v1 (credentials).
var headersNotKept = []string{"Authorization", "Cookie", "Proxy-Authorization"}

func kept(name []byte) bool {
	for _, n := range headersNotKept {
		if equalFold(name, n) {
			return false
		}
	}
	return true
}

// equalFold reports whether b and s are equal ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// rawRecord builds the raw.v1 record of a request: its body as received,
// the route, method, URL, arrival time and request id, and every request
// header but credentials as http-<lower-case name>. Header values are
// copied once, into buf; the headers are appended to hs.
func rawRecord(topic, route string, req *webhook.Request, id []byte, res webhook.Result, buf []byte, hs []kafka.Header) (kafkabus.Record, []byte) {
	put := func(s string) []byte {
		start := len(buf)
		buf = append(buf, s...)
		return buf[start:len(buf):len(buf)]
	}
	hs = append(hs, kafka.Header{Key: "route", Value: put(route)}, kafka.Header{Key: "method", Value: put(req.Method)},
		kafka.Header{Key: "url", Value: put(req.URL)})
	start := len(buf)
	buf = req.ReceivedAt.AppendFormat(buf, time.RFC3339Nano)
	hs = append(hs, kafka.Header{Key: "received_at", Value: buf[start:len(buf):len(buf)]})
	start = len(buf)
	buf = append(buf, id...)
	hs = append(hs, kafka.Header{Key: "request_id", Value: buf[start:len(buf):len(buf)]})
	switch h := req.Header.(type) {
	case fiberHeader:
		for k, v := range h.h.All() {
			if kept(k) {
				start := len(buf)
				buf = append(buf, v...)
				hs = append(hs, kafka.Header{Key: headerKey(k), Value: buf[start:len(buf):len(buf)]})
			}
		}
	case http.Header:
		for k, vs := range h {
			if !kept([]byte(k)) {
				continue
			}
			for _, v := range vs {
				hs = append(hs, kafka.Header{Key: "http-" + strings.ToLower(k), Value: put(v)})
			}
		}
	}
	var key []byte
	if len(res.Events) > 0 && res.Events[0].Key != "" {
		key = put(res.Events[0].Key)
	} else {
		// Nothing names the contact: spread by the body.
		h := fnv.New64a()
		h.Write(req.Body)
		start := len(buf)
		buf = strconv.AppendUint(buf, h.Sum64(), 16)
		key = buf[start:len(buf):len(buf)]
	}
	return kafkabus.Record{Topic: topic, Key: key, Value: req.Body, Headers: hs}, buf
}

// rawHeaderKeys are the raw record's header names of common request
// headers, so that they are not built for every request.
var rawHeaderKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Host", "Content-Length", "Content-Type", "User-Agent", "Accept", "Accept-Encoding",
		"Connection", "Cache-Control", "Pragma", "X-Twilio-Signature", "I-Twilio-Idempotency-Token", "X-Home-Region",
		"X-Hub-Signature-256", "X-Hub-Signature", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
		"X-Forwarded-Port", "X-Real-Ip", "X-Request-Id", "X-Amzn-Trace-Id", "Traceparent", "Tracestate", "Via",
		"X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp", "Accept-Language"} {
		m[k] = "http-" + strings.ToLower(k)
	}
	return m
}()

func headerKey(k []byte) string {
	if s, ok := rawHeaderKeys[string(k)]; ok {
		return s
	}
	return "http-" + strings.ToLower(string(k))
}
