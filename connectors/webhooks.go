package connectors

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/normalize"
)

// Publisher takes records to Kafka and returns once they are acknowledged.
type Publisher interface {
	Produce(ctx context.Context, recs ...kafkabus.Record) error
}

// Route is one provider webhook; provider packages declare theirs.
type Route = webhook.Route

// Webhooks serves provider webhooks: verify, normalize, publish to Kafka,
// and only then answer the provider.
type Webhooks struct {
	pub       Publisher
	topics    kafkabus.Topics
	publicURL string
	timeout   time.Duration
	log       *slog.Logger

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	events   *prometheus.CounterVec
}

// NewWebhooks returns the webhook routes' shared machinery.
func NewWebhooks(pub Publisher, topics kafkabus.Topics, publicURL string, log *slog.Logger, reg prometheus.Registerer) *Webhooks {
	w := &Webhooks{
		pub: pub, topics: topics, publicURL: strings.TrimRight(publicURL, "/"), timeout: 10 * time.Second, log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "webhook", Name: "requests_total",
			Help: "Webhook requests by connector and outcome: accepted, ignored, signature, unauthorized, malformed, too_large, encoded, unavailable, disabled, error.",
		}, []string{"connector", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gateway", Subsystem: "webhook", Name: "duration_seconds",
			Help:    "Webhook handling time, from the request to the answer (including the Kafka acknowledgement).",
			Buckets: []float64{.001, .0025, .005, .01, .015, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"connector"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "webhook", Name: "events_total",
			Help: "Normalized events published to inbound.v1, by connector and type.",
		}, []string{"connector", "type"}),
	}
	if reg != nil {
		reg.MustRegister(w.requests, w.duration, w.events)
	}
	return w
}

// Mount adds the routes to app.
func (w *Webhooks) Mount(app *fiber.App, routes ...Route) {
	for _, rt := range routes {
		h := w.handler(rt)
		for _, m := range rt.Methods {
			app.Add(m, rt.Path, h)
		}
		for _, o := range []string{"accepted", "signature", "malformed"} {
			w.requests.WithLabelValues(rt.Name, o) // export zeros for the common outcomes
		}
	}
}

func (w *Webhooks) handler(rt Route) fiber.Handler {
	maxBody := rt.MaxBody
	if maxBody <= 0 {
		maxBody = 1 << 20
	}
	return func(c *fiber.Ctx) error {
		start := time.Now()
		outcome := "accepted"
		defer func() {
			w.requests.WithLabelValues(rt.Name, outcome).Inc()
			w.duration.WithLabelValues(rt.Name).Observe(time.Since(start).Seconds())
		}()
		if rt.Handler == nil {
			outcome = "disabled"
			return httperr.Write(c, core.ENOTFOUND, "this connector is disabled: its credentials are not configured")
		}
		if edge.Encoded(c) {
			outcome = "encoded"
			c.Context().SetConnectionClose()
			return httperr.Write(c, httperr.CodeUnsupported, "webhook bodies are not accepted encoded (Content-Encoding must be identity)")
		}
		body, err := edge.ReadBody(c, maxBody)
		if err != nil {
			outcome = "too_large"
			if !errors.Is(err, edge.ErrBodyTooLarge) {
				outcome = "malformed"
			}
			return edge.WriteBodyError(c, err, maxBody)
		}
		req := w.request(c, body, start)
		ctx, cancel := context.WithTimeout(c.UserContext(), w.timeout)
		defer cancel()
		res, err := rt.Handler.Handle(ctx, req)
		if err != nil {
			code, o := webhookError(err)
			outcome = o
			if code == core.EINTERNAL {
				w.log.Error("webhook: handle", "connector", rt.Name, "error", err)
				return httperr.Write(c, code, "internal error")
			}
			if o == "unauthorized" {
				c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="gateway"`)
			}
			w.log.Warn("webhook: refused", "connector", rt.Name, "outcome", o, "error", err)
			return httperr.Write(c, code, err.Error())
		}
		if err := w.publish(ctx, rt.Name, req, res); err != nil {
			outcome = "unavailable"
			w.log.Error("webhook: publish", "connector", rt.Name, "error", err)
			return httperr.Write(c, httperr.CodeUnavailable, "the event could not be stored; retry later")
		}
		if len(res.Events) == 0 && res.Ignored > 0 {
			outcome = "ignored"
		}
		for _, ev := range res.Events {
			w.events.WithLabelValues(rt.Name, ev.Event.Type).Inc()
		}
		if res.ContentType != "" {
			c.Set(fiber.HeaderContentType, res.ContentType)
		}
		return c.Status(fiber.StatusOK).Send(res.Body)
	}
}

// request copies what the handler needs out of fiber's reused buffers.
func (w *Webhooks) request(c *fiber.Ctx, body []byte, at time.Time) *webhook.Request {
	h := make(http.Header)
	c.Request().Header.VisitAll(func(k, v []byte) { h.Add(string(k), string(v)) })
	orig := c.OriginalURL()
	base := w.publicURL
	if base == "" {
		base = c.Protocol() + "://" + string(c.Request().Host())
	}
	q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
	return &webhook.Request{
		Method: c.Method(), URL: base + orig, Header: h, Query: q,
		Body: bytes.Clone(body), ReceivedAt: at.UTC(),
	}
}

// headersNotKept are request headers never written to raw.v1 (credentials).
var headersNotKept = map[string]bool{"Authorization": true, "Cookie": true, "Proxy-Authorization": true}

// PublishEvents writes normalized events to inbound.v1 (the web chat, which
// has no provider request to keep on raw.v1).
func (w *Webhooks) PublishEvents(ctx context.Context, evs []webhook.Event) error {
	return w.publish(ctx, "", nil, webhook.Result{Events: evs, NoRaw: true})
}

// publish writes the raw request to raw.v1 and the events to inbound.v1,
// all acknowledged by every in-sync replica, in one call.
func (w *Webhooks) publish(ctx context.Context, route string, req *webhook.Request, res webhook.Result) error {
	recs := make([]kafkabus.Record, 0, len(res.Events)+1)
	if !res.NoRaw {
		hs := []kafka.Header{
			{Key: "route", Value: []byte(route)}, {Key: "method", Value: []byte(req.Method)},
			{Key: "url", Value: []byte(req.URL)}, {Key: "received_at", Value: []byte(req.ReceivedAt.Format(time.RFC3339Nano))},
		}
		for k, vs := range req.Header {
			if headersNotKept[k] {
				continue
			}
			for _, v := range vs {
				hs = append(hs, kafka.Header{Key: "http-" + strings.ToLower(k), Value: []byte(v)})
			}
		}
		recs = append(recs, kafkabus.Record{Topic: w.topics.Raw(), Key: []byte(route), Value: req.Body, Headers: hs})
	}
	for _, ev := range res.Events {
		b, err := ev.Event.Encode()
		if err != nil {
			return err
		}
		recs = append(recs, kafkabus.Record{Topic: w.topics.Inbound(), Key: []byte(ev.Key), Value: b,
			Headers: []kafka.Header{{Key: "content-type", Value: []byte(normalize.ContentType)}}})
	}
	return w.pub.Produce(ctx, recs...)
}
