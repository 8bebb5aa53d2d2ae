// Package connectors is the gateway's HTTP server: the fiber app with its
// health, readiness and metrics routes, the mount of the provider webhooks
// (verify, normalize, publish to Kafka, then answer), and the media route
// serving stored attachments. Errors are answered through httperr; the
// providers live in their own packages below, the operator API in
// core/httpapi.
package connectors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/kafkabus"
)

// webhookError maps a provider package's error onto a domain error code and
// the outcome label of the request metric.
func webhookError(err error) (code, outcome string) {
	switch {
	case errors.Is(err, webhook.ErrSignature):
		return core.EFORBIDDEN, "signature"
	case errors.Is(err, webhook.ErrExpired):
		return core.EFORBIDDEN, "expired"
	case errors.Is(err, webhook.ErrUnauthorized):
		return core.EUNAUTHORIZED, "unauthorized"
	case errors.Is(err, webhook.ErrMalformed):
		return core.EINVALID, "malformed"
	case errors.Is(err, webhook.ErrUnsupported):
		return httperr.CodeUnsupported, "malformed"
	case errors.Is(err, kafkabus.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return httperr.CodeUnavailable, "unavailable"
	}
	return core.EINTERNAL, "error"
}

// Pinger is something /readyz checks.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Stater is a Pinger that can pass in a state of its own: Kafka down but
// the spool taking webhooks is "spooling" and still ready. /readyz asks
// Status instead of Ping when a check has it; one that does not pass
// (ok false) fails /readyz, and says why in the log itself.
type Stater interface {
	Status(ctx context.Context) (state string, ok bool)
}

// PingFunc adapts a function to Pinger.
type PingFunc func(ctx context.Context) error

// Ping calls f.
func (f PingFunc) Ping(ctx context.Context) error { return f(ctx) }

// Config configures the HTTP server.
type Config struct {
	// PublicURL is the base URL providers call (signatures cover it).
	PublicURL string
	Log       *slog.Logger
	// Reg takes gateway_http_panics_total (apps on one registry share it).
	Reg prometheus.Registerer
}

// OpsConfig configures the operations routes.
type OpsConfig struct {
	// Ready lists what must answer for /readyz to pass, by name.
	Ready map[string]Pinger
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	Log      *slog.Logger
	// Pprof serves Go's profiles under /debug/pprof/ (only on the
	// operations listener: GATEWAY_PPROF).
	Pprof bool
}

// maxHeaderBytes bounds a request's line and headers (fasthttp answers 431
// beyond it).
const maxHeaderBytes = 8 << 10

// NewApp returns the fiber app every route is mounted on. Request bodies
// are streamed: none is read or allocated until its route reads it within
// its limit (edge.LimitBody, edge.ReadBody), which refuse encoded bodies with
// 415. Slow clients are cut by the read and write timeouts; edge.LimitListener caps
// connections in all and per client address. Every request is named
// (edge.RequestID): its id is answered as X-Request-Id and logged as
// request_id. A panic in any route is answered 500, logged and counted
// (edge.Panics), and the process goes on.
func NewApp(cfg Config) *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		// The server reads no more than a byte or two of a body before the
		// route runs; the route reads the rest within its own limit.
		BodyLimit:                    1,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		ReadBufferSize:               maxHeaderBytes,
		ReadTimeout:                  30 * time.Second,
		WriteTimeout:                 30 * time.Second,
		IdleTimeout:                  120 * time.Second,
		// Idle keep-alive connections (and chat sockets) give their buffers back.
		ReduceMemoryUsage: true,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			return httperr.Handler(edge.Log(c, cfg.Log))(c, err)
		},
	})
	app.Use(edge.NewPanics(cfg.Log, cfg.Reg).Recover, edge.RequestID, edge.CloseUnread)
	return app
}

// MountOps adds /healthz, /readyz and /metrics to app: the main app, or
// the app of the separate operations listener (GATEWAY_OPS_ADDR).
// /readyz names each check "ok" or "failing" (or the state a Stater
// gives); why one fails goes to the log only (error texts name hosts and
// users).
func MountOps(app *fiber.App, cfg OpsConfig) {
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
		defer cancel()
		out, ok := fiber.Map{}, true
		for name, p := range cfg.Ready {
			if st, is := p.(Stater); is {
				state, pass := st.Status(ctx)
				out[name], ok = state, ok && pass
				continue
			}
			if err := p.Ping(ctx); err != nil {
				cfg.Log.Warn("readyz: check failing", "check", name, "error", err)
				out[name], ok = "failing", false
			} else {
				out[name] = "ok"
			}
		}
		if !ok {
			return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "checks": out})
		}
		return c.JSON(fiber.Map{"status": "ok", "checks": out})
	})
	if cfg.Gatherer != nil {
		h := fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
		app.Get("/metrics", func(c *fiber.Ctx) error { h(c.Context()); return nil })
	}
	if cfg.Pprof {
		app.Use(pprof.New())
	}
}
