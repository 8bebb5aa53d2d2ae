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

// Roles of operator API tokens: an agent works conversations, a bot does
// what an agent does and may close any conversation, an admin also
// deletes, merges and erases.
const (
	RoleAdmin = "admin"
	RoleAgent = "agent"
	RoleBot   = "bot"
)

// apiToken is a configured token, kept only as its digest.
type apiToken struct {
	digest [sha256.Size]byte
	role   string
	name   string // the holder; "" for an unnamed holder
	label  string // role:first 6 hex digits of the digest; safe in logs and events
}

// parseTokens keeps the digests of the configured tokens. Each token maps
// to its holder: "agent:ann", "admin:ops", "bot:triage", or a bare role
// for an unnamed holder; a token with another role is ignored.
func parseTokens(tokens map[string]string, log *slog.Logger) []apiToken {
	var out []apiToken
	for tok, holder := range tokens {
		if tok == "" {
			continue
		}
		role, name, _ := strings.Cut(holder, ":")
		t := apiToken{digest: sha256.Sum256([]byte(tok)), role: role, name: name}
		t.label = role + ":" + hex.EncodeToString(t.digest[:3])
		if role != RoleAdmin && role != RoleAgent && role != RoleBot {
			log.Warn("api: token with an unknown role ignored", "token", t.label)
			continue
		}
		if name != "" && checkName("holder", name) != nil {
			log.Warn("api: token with an invalid holder name ignored", "token", t.label)
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
	// me is the agent whose inbox, read marks and figures the request
	// concerns: the token's holder, or the agent an admin or bot acts for
	// (X-Agent); "" for an unnamed holder without X-Agent.
	me string
}

// ActorOf returns who makes an API request: role:NAME of a named token's
// holder; for an unnamed admin or bot role:X-Agent, else role:label of the
// token (never the token).
func ActorOf(c *fiber.Ctx) core.Actor {
	if p, ok := c.Locals(principalKey).(principal); ok {
		return p.actor
	}
	return ""
}

// meOf returns the agent a request concerns ("" when it names none).
func meOf(c *fiber.Ctx) string {
	p, _ := c.Locals(principalKey).(principal)
	return p.me
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
	if err := p.identify(found, c.Get(HeaderAgent)); err != nil {
		return principal{}, err
	}
	c.SetUserContext(core.WithViewer(c.UserContext(), p.viewer()))
	return p, nil
}

// identify sets who the caller is: a named holder acts as role:NAME and
// only an admin or a bot may act for another agent with X-Agent. An
// unnamed admin or bot token acts for the X-Agent (actor role:X-Agent); an
// unnamed agent token acts as itself and never as another: X-Agent is 403.
func (p *principal) identify(t *apiToken, agent string) error {
	if agent != "" {
		if err := checkName(HeaderAgent, agent); err != nil {
			return err
		}
		agent = strings.Clone(agent)
	}
	if t.name == "" {
		switch {
		case agent == "":
		case t.role == RoleAgent:
			return core.Errorf(core.EFORBIDDEN, "an unnamed agent token acts only as itself: X-Agent is for admin and bot tokens")
		default:
			p.me, p.actor = agent, core.Actor(t.role+":"+agent)
		}
		return nil
	}
	p.me, p.actor = t.name, core.Actor(t.role+":"+t.name)
	switch {
	case agent == "" || agent == t.name:
	case t.role == RoleAgent:
		return core.Errorf(core.EFORBIDDEN, "an agent token acts only for its holder: X-Agent is for admin and bot tokens")
	default:
		p.me = agent
	}
	return nil
}
