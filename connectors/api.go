package connectors

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"errors"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/core"
)

// Roles of operator API tokens: an agent works conversations, an admin also
// deletes, merges and erases.
const (
	RoleAdmin = "admin"
	RoleAgent = "agent"
)

// APIBodyLimit is the largest request body the operator API accepts.
const APIBodyLimit = 1 << 20

// Headers of the operator API.
const (
	// HeaderAgent names the agent working through a shared token.
	HeaderAgent = "X-Agent"
	// HeaderIdempotencyKey makes a POST or DELETE safe to retry.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is "true" on a response answered from the
	// first request with the same Idempotency-Key.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
)

//go:embed openapi.yaml
var openAPIDocument []byte

// OpenAPIDocument returns the operator API's OpenAPI document.
func OpenAPIDocument() []byte { return openAPIDocument }

// API is the operator API under /v1: JSON, Authorization: Bearer TOKEN.
type API struct {
	svc     *core.Service
	tokens  []apiToken
	idem    IdempotencyStore
	log     *slog.Logger
	routes  []apiRoute
	mounted bool

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// apiToken is a configured token, kept only as its digest.
type apiToken struct {
	digest [sha256.Size]byte
	role   string
	label  string // role:first 6 hex digits of the digest; safe in logs and events
}

// apiRoute is one route of the API; path is relative to /v1 and role is
// RoleAgent, RoleAdmin or "" for a public route.
type apiRoute struct {
	method, path, role string
	handler            fiber.Handler
}

// NewAPI returns the operator API. tokens maps each token to its role
// (RoleAdmin or RoleAgent; a token with another role is ignored). idem keeps
// Idempotency-Key responses; nil turns the header off.
func NewAPI(svc *core.Service, tokens map[string]string, idem IdempotencyStore, log *slog.Logger, reg prometheus.Registerer) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{
		svc: svc, idem: idem, log: log,
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
	for tok, role := range tokens {
		if tok == "" {
			continue
		}
		t := apiToken{digest: sha256.Sum256([]byte(tok)), role: role}
		t.label = role + ":" + hex.EncodeToString(t.digest[:3])
		if role != RoleAdmin && role != RoleAgent {
			log.Warn("api: token with an unknown role ignored", "token", t.label)
			continue
		}
		a.tokens = append(a.tokens, t)
	}
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
		panic("connectors: API.Handle after Mount")
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
		err := writeError(c, core.ENOTFOUND, "no such route: see GET /v1/openapi.yaml")
		a.observe("unmatched", c, start)
		return err
	})
}

// Locals keys of a request.
const (
	principalKey = "gateway.api.principal"
	subjectKey   = "gateway.api.subject"
)

// principal is the caller of a request.
type principal struct {
	role      string
	tokenHash string // hex SHA-256 of the token: the scope of idempotency keys
	actor     core.Actor
	agent     string // X-Agent, "" when not given
}

// ActorOf returns who makes an API request: core.AgentActor(X-Agent) for an
// agent naming itself, else role:label of the token (never the token).
func ActorOf(c *fiber.Ctx) core.Actor {
	if p, ok := c.Locals(principalKey).(principal); ok {
		return p.actor
	}
	return ""
}

// setSubject records whose data a response holds, so that a customer's
// erasure also drops kept idempotent responses.
func setSubject(c *fiber.Ctx, customerID string) { c.Locals(subjectKey, customerID) }

func subjectOf(c *fiber.Ctx) string {
	s, _ := c.Locals(subjectKey).(string)
	return s
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
		if Encoded(c) {
			c.Context().SetConnectionClose()
			return writeError(c, ECODE_UNSUPPORTED, "request bodies are not accepted compressed")
		}
		if _, err := ReadBody(c, APIBodyLimit); err != nil {
			return writeBodyError(c, err, APIBodyLimit)
		}
		if mutation && a.idem != nil && rt.role != "" && c.Get(HeaderIdempotencyKey) != "" {
			return a.idempotent(c, pattern, rt.handler)
		}
		a.run(c, pattern, rt.handler)
		return nil
	}
}

func (a *API) observe(route string, c *fiber.Ctx, start time.Time) {
	a.requests.WithLabelValues(route, c.Method(), strconv.Itoa(c.Response().StatusCode())).Inc()
	a.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

// run calls a route's handler and answers its error; a panic is a 500.
func (a *API) run(c *fiber.Ctx, pattern string, h fiber.Handler) {
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("api: panic", "route", pattern, "method", c.Method(), "panic", r, "stack", string(debug.Stack()))
			c.Response().ResetBody()
			_ = writeError(c, core.EINTERNAL, "internal error")
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
		return writeError(c, code, core.ErrorMessage(err))
	case errors.As(err, &fe):
		code := core.EINTERNAL
		switch fe.Code {
		case fiber.StatusNotFound:
			code = core.ENOTFOUND
		case fiber.StatusBadRequest:
			code = core.EINVALID
		case fiber.StatusRequestEntityTooLarge:
			code = ECODE_TOO_LARGE
		}
		return writeError(c, code, fe.Message)
	case errors.Is(err, core.ErrTransient), errors.Is(err, context.DeadlineExceeded):
		a.log.Warn("api: database unavailable", "route", pattern, "method", c.Method(), "error", err)
		c.Set(fiber.HeaderRetryAfter, "1")
		return writeError(c, ECODE_UNAVAILABLE, "the database is busy or unavailable: retry")
	}
	a.log.Error("api: request failed", "route", pattern, "method", c.Method(), "error", err)
	return writeError(c, core.EINTERNAL, "internal error")
}

// authenticate finds the request's token among the configured ones,
// comparing digests in constant time against every token.
func (a *API) authenticate(c *fiber.Ctx, role string) (principal, error) {
	scheme, tok, _ := strings.Cut(strings.TrimSpace(c.Get(fiber.HeaderAuthorization)), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return principal{}, core.Errorf(core.EUNAUTHORIZED, "an Authorization: Bearer token is required")
	}
	d := sha256.Sum256([]byte(tok))
	var found *apiToken
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(d[:], a.tokens[i].digest[:]) == 1 {
			found = &a.tokens[i]
		}
	}
	if found == nil {
		return principal{}, core.Errorf(core.EUNAUTHORIZED, "the bearer token is not valid")
	}
	if role == RoleAdmin && found.role != RoleAdmin {
		return principal{}, core.Errorf(core.EFORBIDDEN, "this route needs an admin token")
	}
	p := principal{role: found.role, tokenHash: hex.EncodeToString(d[:]), actor: core.Actor(found.label)}
	if agent := c.Get(HeaderAgent); agent != "" {
		if err := checkName(HeaderAgent, agent); err != nil {
			return principal{}, err
		}
		p.agent = strings.Clone(agent)
		p.actor = core.Actor(found.role + ":" + p.agent)
	}
	return p, nil
}
