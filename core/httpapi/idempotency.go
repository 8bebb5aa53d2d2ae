package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/core"
)

// IdempotencyStore keeps the first response to each POST or DELETE that came
// with an Idempotency-Key, for 24 hours, per token and route. *sqlstore.Store
// implements it.
type IdempotencyStore interface {
	// BeginIdempotent claims (tokenHash, route, key) for a request whose
	// content hashes to requestHash, in a statement of its own so that of two
	// concurrent duplicates only one runs. done is true, with the first
	// response, when the key was answered already. The key used with another
	// request is a core.EUNPROCESSABLE error; a key whose first request is
	// still running is a core.ECONFLICT error.
	BeginIdempotent(ctx context.Context, tokenHash, route, key, requestHash string) (status int, body []byte, done bool, err error)
	// FinishIdempotent records the response of a claimed request; customerID
	// names whose data the body holds ("" for none).
	FinishIdempotent(ctx context.Context, tokenHash, route, key, customerID string, status int, body []byte) error
	// AbandonIdempotent drops a claim whose request failed (5xx), so that a
	// retry runs again.
	AbandonIdempotent(ctx context.Context, tokenHash, route, key string) error
	// ForgetIdempotentResponses drops the kept responses holding a
	// customer's data (erasure).
	ForgetIdempotentResponses(ctx context.Context, customerID string) error
}

// idempotencyTimeout bounds the bookkeeping around a request, which runs
// even when the client has gone.
const idempotencyTimeout = 5 * time.Second

// idempotent runs a mutation once per Idempotency-Key: the first request runs
// and its response (unless 5xx) is kept; a replay with the same body gets
// that response again, marked Idempotent-Replayed.
func (a *API) idempotent(c *fiber.Ctx, pattern string, h fiber.Handler) error {
	key := c.Get(HeaderIdempotencyKey)
	if !validIdempotencyKey(key) {
		return httperr.Write(c, core.EINVALID, "Idempotency-Key must be 1 to 255 visible ASCII characters")
	}
	p, _ := c.Locals(principalKey).(principal)
	route := c.Method() + " " + pattern + " " + c.Path()
	key = strings.Clone(key) // not a view into fasthttp's buffer
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.UserContext()), idempotencyTimeout)
	status, body, done, err := a.idem.BeginIdempotent(ctx, p.tokenHash, route, key, requestHash(c, p))
	cancel()
	if err != nil {
		return a.fail(c, pattern, err)
	}
	if done {
		c.Set(HeaderIdempotentReplayed, "true")
		if len(body) > 0 {
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		}
		c.Status(status)
		return c.Send(body)
	}
	a.run(c, pattern, h)
	ctx, cancel = context.WithTimeout(context.WithoutCancel(c.UserContext()), idempotencyTimeout)
	defer cancel()
	if status := c.Response().StatusCode(); status >= 500 {
		if err := a.idem.AbandonIdempotent(ctx, p.tokenHash, route, key); err != nil {
			a.log.Warn("api: abandon idempotency key", "route", pattern, "request_id", edge.ID(c), "error", err)
		}
		return nil
	}
	// A response that cannot be recorded leaves the claim pending: a retry
	// is refused (409) until the claim's lease runs out.
	if err := a.idem.FinishIdempotent(ctx, p.tokenHash, route, key, subjectOf(c),
		c.Response().StatusCode(), bytes.Clone(c.Response().Body())); err != nil {
		a.log.Warn("api: record idempotent response", "route", pattern, "request_id", edge.ID(c), "error", err)
	}
	return nil
}

// validIdempotencyKey accepts 1 to 255 visible ASCII characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// requestHash identifies what a request asks: its body (as canonical JSON
// when it is JSON, so spacing and key order do not matter), query and
// who acts for whom.
func requestHash(c *fiber.Ctx, p principal) string {
	h := sha256.New()
	h.Write([]byte(p.actor))
	h.Write([]byte{0})
	h.Write([]byte(p.me))
	h.Write([]byte{0})
	h.Write(c.Request().URI().QueryString())
	h.Write([]byte{0})
	body := c.Body()
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil && !dec.More() {
		if canon, err := json.Marshal(v); err == nil {
			body = canon
		}
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}
