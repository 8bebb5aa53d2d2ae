package edge

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/core"
)

// panicsKey is where Recover leaves the Panics for the code under it (a
// string key, so that a websocket's locals carry it too).
const panicsKey = "gateway.panics"

// Panics is the server's one answer to a panic in a route: the request is
// answered 500 (internal, without details), the connection closed, the
// panic logged with its route, request id and stack, and counted in
// gateway_http_panics_total{route}; the process goes on.
type Panics struct {
	count *prometheus.CounterVec
	log   *slog.Logger
}

// NewPanics returns the panic counter of the process, registered on reg
// once (apps built on the same registry share it).
func NewPanics(log *slog.Logger, reg prometheus.Registerer) *Panics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	count := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "gateway", Subsystem: "http", Name: "panics_total",
		Help: "Requests whose handler panicked (answered 500, logged with the stack), by route pattern.",
	}, []string{"route"})
	if reg != nil {
		if err := reg.Register(count); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err)
			}
			count = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return &Panics{count: count, log: log}
}

// Recover is the app's first middleware: a panic anywhere under it is
// answered, logged and counted (see Panics) instead of ending the process.
func (p *Panics) Recover(c *fiber.Ctx) (err error) {
	c.Locals(panicsKey, p)
	defer func() {
		if r := recover(); r != nil {
			Panicked(c, p.log, "http", c.Route().Path, r)
			err = nil
		}
	}()
	return c.Next()
}

// Panicked answers a panic r recovered in route (its registered pattern)
// as Recover does, logging on log under "<prefix>: panic". For a route
// that must recover itself (to undo what the request began); the count
// goes to the Panics of the app's Recover, when there is one.
func Panicked(c *fiber.Ctx, log *slog.Logger, prefix, route string, r any) {
	route = strings.Clone(route)
	if p, ok := c.Locals(panicsKey).(*Panics); ok {
		p.count.WithLabelValues(route).Inc()
	}
	if log != nil {
		log.Error(prefix+": panic", "route", route, "method", Method(c), "outcome", "panic", "request_id", ID(c),
			"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	}
	c.Context().SetConnectionClose()
	c.Response().ResetBody()
	_ = httperr.Write(c, core.EINTERNAL, "internal error")
}

// RecoverSocket is a websocket route's RecoverHandler (route is its
// pattern): a panic in the socket's loop closes the socket with 1011
// (internal error) and is logged and counted like a request's; the visitor
// learns nothing of it.
func RecoverSocket(route string) func(*websocket.Conn) {
	return func(ws *websocket.Conn) {
		r := recover()
		if r == nil {
			return
		}
		if p, ok := ws.Locals(panicsKey).(*Panics); ok {
			p.count.WithLabelValues(route).Inc()
			p.log.Error("http: panic", "route", route, "outcome", "panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		_ = ws.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(fws.CloseInternalServerErr, "internal error"),
			time.Now().Add(time.Second))
	}
}
