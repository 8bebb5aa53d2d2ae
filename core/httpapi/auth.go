package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// Roles of operator API tokens: an agent works conversations, an admin also
// deletes, merges and erases.
const (
	RoleAdmin = "admin"
	RoleAgent = "agent"
)

// apiToken is a configured token, kept only as its digest.
type apiToken struct {
	digest [sha256.Size]byte
	role   string
	label  string // role:first 6 hex digits of the digest; safe in logs and events
}

// parseTokens keeps the digests of the configured tokens whose role is
// RoleAdmin or RoleAgent.
func parseTokens(tokens map[string]string, log *slog.Logger) []apiToken {
	var out []apiToken
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
		out = append(out, t)
	}
	return out
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
