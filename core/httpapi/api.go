// Package httpapi is the operator API under /v1: conversations, customers
// and stats for agents, bots and admins, Bearer tokens naming their holder, Idempotency-Key
// on mutations, request metrics, and the OpenAPI document that describes it
// (openapi.yaml, embedded and served at GET /v1/openapi.yaml).
//
// It drives the core through the small interfaces of ports.go and answers errors through connectors/httperr. Of
// the gateway it imports only core, normalize, connectors/httperr and connectors/edge (a test
// holds it to that): never Kafka, the SQL stores (the store comes in as the
// small IdempotencyStore interface), the outbox, the provider packages or
// the connectors package itself.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/core"
)

// BodyLimit is the largest request body the operator API accepts.
const BodyLimit = 1 << 20

// Headers of the operator API.
const (
	// HeaderAgent names the agent an admin or bot token acts for (an agent
	// token never acts for another).
	HeaderAgent = "X-Agent"
	// HeaderIdempotencyKey makes a POST or DELETE safe to retry.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is "true" on a response answered from the
	// first request with the same Idempotency-Key.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
)

// API is the operator API under /v1: JSON, Authorization: Bearer TOKEN.
type API struct {
	svc       Conversations
	customers Customers
	agents    Agents
	replies   Replies
	tokens    []apiToken
	idem      IdempotencyStore
	log       *slog.Logger
	routes    []apiRoute
	mounted   bool
	// entryPoints are what GET /v1/entry-points lists.
	entryPoints []core.EntryPoint

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// apiRoute is one route of the API; path is relative to /v1 and role is
// RoleAgent, RoleAdmin or "" for a public route. action names the operator
// action (core.Actions) a mutating route takes.
type apiRoute struct {
	method, path, role string
	handler            fiber.Handler
	action             string
}

// New returns the operator API. tokens maps each token to its holder:
// "agent:ann", "admin:ops", "bot:triage", or a bare role (RoleAdmin,
// RoleAgent, RoleBot) for an unnamed holder; a token with another role is
// ignored. idem keeps
// Idempotency-Key responses; nil turns the header off.
func New(c Core, tokens map[string]string, idem IdempotencyStore, log *slog.Logger, reg prometheus.Registerer) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{
		svc: c.Conversations, customers: c.Customers, agents: c.Agents, replies: c.Replies, idem: idem, log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "api", Name: "requests_total",
			Help: "Operator API requests by route pattern, method and HTTP status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gateway", Subsystem: "api", Name: "duration_seconds",
			Help:    "Operator API request handling time by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	if reg != nil {
		reg.MustRegister(a.requests, a.duration)
	}
	a.tokens = parseTokens(tokens, log)
	a.routes = a.builtinRoutes()
	return a
}

// Handle adds a route to the API, before Mount: path is relative to /v1
// ("/conversations/:id/messages"), role is RoleAgent or RoleAdmin. The
// handler gets the API's authentication, body limit, metrics, error
// answers (return a core.Error) and, on POST and DELETE, Idempotency-Key;
// ActorOf names who calls.
func (a *API) Handle(method, path, role string, h fiber.Handler) {
	if a.mounted {
		panic("httpapi: API.Handle after Mount")
	}
	a.routes = append(a.routes, apiRoute{method: method, path: path, role: role, handler: h})
}

// Mount adds the API's routes under /v1 to app, and a JSON 404 for every
// other path under /v1.
func (a *API) Mount(app *fiber.App) {
	a.mounted = true
	for _, rt := range a.routes {
		app.Add(rt.method, "/v1"+rt.path, a.handler(rt))
	}
	app.Use("/v1", func(c *fiber.Ctx) error {
		start := time.Now()
		err := httperr.Write(c, core.ENOTFOUND, "no such route: see GET /v1/openapi.yaml")
		a.observe("unmatched", c, start)
		return err
	})
}

// handler wraps a route with metrics, authentication, the body limit,
// Idempotency-Key and one way of answering errors.
func (a *API) handler(rt apiRoute) fiber.Handler {
	pattern := "/v1" + rt.path
	mutation := rt.method == fiber.MethodPost || rt.method == fiber.MethodDelete ||
		rt.method == fiber.MethodPut || rt.method == fiber.MethodPatch
	return func(c *fiber.Ctx) error {
		start := time.Now()
		defer a.observe(pattern, c, start)
		if rt.role != "" {
			p, err := a.authenticate(c, rt.role)
			if err != nil {
				return a.fail(c, pattern, err)
			}
			c.Locals(principalKey, p)
		}
		if edge.Encoded(c) {
			c.Context().SetConnectionClose()
			return httperr.Write(c, httperr.CodeUnsupported, "request bodies are not accepted compressed")
		}
		if _, err := edge.ReadBody(c, BodyLimit); err != nil {
			return edge.WriteBodyError(c, err, BodyLimit)
		}
		if mutation && a.idem != nil && rt.role != "" && c.Get(HeaderIdempotencyKey) != "" {
			return a.idempotent(c, pattern, rt.handler)
		}
		a.run(c, pattern, rt.handler)
		return nil
	}
}

// observe counts a request under its route pattern and a bounded method
// (edge.Method: never the request's own bytes, which fiber reuses).
func (a *API) observe(route string, c *fiber.Ctx, start time.Time) {
	a.requests.WithLabelValues(route, edge.Method(c), strconv.Itoa(c.Response().StatusCode())).Inc()
	a.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

// run calls a route's handler and answers its error; a panic is answered
// (500), logged and counted by edge.Panicked here, not by the server's
// Recover, so that the request's metrics and Idempotency-Key see the 500.
func (a *API) run(c *fiber.Ctx, pattern string, h fiber.Handler) {
	defer func() {
		if r := recover(); r != nil {
			edge.Panicked(c, a.log, "api", pattern, r)
		}
	}()
	if err := h(c); err != nil {
		_ = a.fail(c, pattern, err)
	}
}

// fail answers an error: a domain error with its code, a busy database with
// 503, anything else with 500 (and a log line; the details stay there).
func (a *API) fail(c *fiber.Ctx, pattern string, err error) error {
	var fe *fiber.Error
	switch code := core.ErrorCode(err); {
	case code != core.EINTERNAL:
		if code == core.EUNAUTHORIZED {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="gateway"`)
		}
		return httperr.Write(c, code, core.ErrorMessage(err))
	case errors.As(err, &fe):
		return httperr.WriteFiber(c, fe)
	case errors.Is(err, core.ErrTransient), errors.Is(err, context.DeadlineExceeded):
		a.log.Warn("api: database unavailable", "route", pattern, "method", c.Method(), "outcome", httperr.CodeUnavailable,
			"request_id", edge.ID(c), "error", err)
		c.Set(fiber.HeaderRetryAfter, "1")
		return httperr.Write(c, httperr.CodeUnavailable, "the database is busy or unavailable: retry")
	}
	a.log.Error("api: request failed", "route", pattern, "method", c.Method(), "outcome", core.EINTERNAL,
		"request_id", edge.ID(c), "error", err)
	return httperr.Write(c, core.EINTERNAL, "internal error")
}
