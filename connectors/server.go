// Package connectors is the gateway's HTTP surface: the provider webhooks,
// health and metrics, and the one place where errors become HTTP statuses.
package connectors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/kafkabus"
)

// statusOf turns domain error codes into HTTP statuses, in one place.
var statusOf = map[string]int{
	core.EINVALID: fiber.StatusBadRequest, core.EUNAUTHORIZED: fiber.StatusUnauthorized,
	core.EFORBIDDEN: fiber.StatusForbidden, core.ENOTFOUND: fiber.StatusNotFound,
	core.ECONFLICT: fiber.StatusConflict, core.EUNPROCESSABLE: fiber.StatusUnprocessableEntity,
	core.EINTERNAL: fiber.StatusInternalServerError, ECODE_UNAVAILABLE: fiber.StatusServiceUnavailable,
	ECODE_TOO_LARGE: fiber.StatusRequestEntityTooLarge, ECODE_UNSUPPORTED: fiber.StatusUnsupportedMediaType,
}

// Codes of HTTP-level errors that have no domain meaning.
const (
	ECODE_UNAVAILABLE = "unavailable"
	ECODE_TOO_LARGE   = "too_large"
	ECODE_UNSUPPORTED = "unsupported_media_type"
)

// webhookError maps a provider package's error onto a domain error code and
// the outcome label of the request metric.
func webhookError(err error) (code, outcome string) {
	switch {
	case errors.Is(err, webhook.ErrSignature):
		return core.EFORBIDDEN, "signature"
	case errors.Is(err, webhook.ErrUnauthorized):
		return core.EUNAUTHORIZED, "unauthorized"
	case errors.Is(err, webhook.ErrMalformed):
		return core.EINVALID, "malformed"
	case errors.Is(err, webhook.ErrUnsupported):
		return ECODE_UNSUPPORTED, "malformed"
	case errors.Is(err, kafkabus.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return ECODE_UNAVAILABLE, "unavailable"
	}
	return core.EINTERNAL, "error"
}

// writeError answers with the JSON error shape of the gateway.
func writeError(c *fiber.Ctx, code, message string) error {
	status, ok := statusOf[code]
	if !ok {
		status = fiber.StatusInternalServerError
	}
	return c.Status(status).JSON(fiber.Map{"error": fiber.Map{"code": code, "message": message}})
}

// Pinger is something /readyz checks.
type Pinger interface {
	Ping(ctx context.Context) error
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
}

// OpsConfig configures the operations routes.
type OpsConfig struct {
	// Ready lists what must answer for /readyz to pass, by name.
	Ready map[string]Pinger
	// Gatherer serves /metrics.
	Gatherer prometheus.Gatherer
	Log      *slog.Logger
}

// maxHeaderBytes bounds a request's line and headers (fasthttp answers 431
// beyond it).
const maxHeaderBytes = 8 << 10

// NewApp returns the fiber app every route is mounted on. Request bodies
// are streamed: none is read or allocated until its route reads it within
// its limit (LimitBody, ReadBody), which refuses encoded bodies with 415.
// Slow clients are cut by the read and write timeouts; LimitListener caps
// connections in all and per client address.
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
		ErrorHandler:      errorHandler(cfg.Log),
	})
	app.Use(closeUnread)
	return app
}

func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var fe *fiber.Error
		if errors.As(err, &fe) {
			code := core.EINTERNAL
			switch fe.Code {
			case fiber.StatusNotFound:
				code = core.ENOTFOUND
			case fiber.StatusRequestEntityTooLarge:
				code = ECODE_TOO_LARGE
			case fiber.StatusMethodNotAllowed, fiber.StatusBadRequest:
				code = core.EINVALID
			}
			return c.Status(fe.Code).JSON(fiber.Map{"error": fiber.Map{"code": code, "message": fe.Message}})
		}
		log.Error("http: unhandled error", "path", c.Path(), "error", err)
		return writeError(c, core.EINTERNAL, "internal error")
	}
}

// MountOps adds /healthz, /readyz and /metrics to app: the main app, or
// the app of the separate operations listener (GATEWAY_OPS_ADDR).
// /readyz names each check "ok" or "failing"; why one fails goes to the log
// only (error texts name hosts and users).
func MountOps(app *fiber.App, cfg OpsConfig) {
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
		defer cancel()
		out, ok := fiber.Map{}, true
		for name, p := range cfg.Ready {
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
}
