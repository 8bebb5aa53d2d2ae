package meta

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"net/url"
	"strings"

	"github.com/opengateway/gateway/connectors/webhook"
)

// SignatureHeader carries hex(HMAC-SHA256(app secret, raw body)) after "sha256=".
const SignatureHeader = "X-Hub-Signature-256"

// maxChallenge bounds the hub.challenge echoed back (Meta sends a short integer).
const maxChallenge = 256

// Verifier checks X-Hub-Signature-256 on the raw request body. It fails
// closed: no secret, no header, several headers, a header without the
// sha256= prefix or with anything but 32 bytes of hex all fail. The hex
// digits may be upper or lower case (Meta sends lower case); the decoded MAC
// is compared with hmac.Equal. The legacy X-Hub-Signature (SHA-1) header is
// not accepted.
type Verifier struct {
	AppSecret string
}

// Verify checks the signature header of a body exactly as received. Never
// pass re-serialized JSON: Meta signs its escaped form (\u00e4, \/).
func (v Verifier) Verify(h webhook.Header, body []byte) error {
	if v.AppSecret == "" {
		return fmt.Errorf("meta: %w: no app secret configured", webhook.ErrSignature)
	}
	vals := h.Values(SignatureHeader)
	switch len(vals) {
	case 0:
		return fmt.Errorf("meta: %w: no %s header", webhook.ErrSignature, SignatureHeader)
	case 1:
	default:
		return fmt.Errorf("meta: %w: %d %s headers", webhook.ErrSignature, len(vals), SignatureHeader)
	}
	sig := strings.TrimSpace(vals[0])
	const prefix = "sha256="
	if len(sig) < len(prefix) || !strings.EqualFold(sig[:len(prefix)], prefix) {
		return fmt.Errorf("meta: %w: %s does not start with sha256=", webhook.ErrSignature, SignatureHeader)
	}
	got, err := hex.DecodeString(sig[len(prefix):])
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("meta: %w: %s is not a hex SHA-256 MAC", webhook.ErrSignature, SignatureHeader)
	}
	if !hmac.Equal(got, mac(v.AppSecret, body)) {
		return fmt.Errorf("meta: %w: %s does not match the body", webhook.ErrSignature, SignatureHeader)
	}
	return nil
}

// Sign returns the X-Hub-Signature-256 value Meta would send for body.
func Sign(appSecret string, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(appSecret, body))
}

func mac(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// Subscribe answers Meta's subscription check:
// GET ?hub.mode=subscribe&hub.challenge=N&hub.verify_token=T. A matching
// token (compared in constant time) is answered with the challenge as a
// plain-text body; the check is not a provider event, so it is not recorded
// on raw.v1. A missing parameter or another mode is ErrMalformed; a wrong
// token, or no token configured, is ErrSignature.
func Subscribe(r *webhook.Request, verifyToken string) (webhook.Result, error) {
	if r == nil {
		return webhook.Result{}, fmt.Errorf("meta: %w: no request", webhook.ErrMalformed)
	}
	q := r.Query
	if q == nil {
		if u, err := url.Parse(r.URL); err == nil {
			q = u.Query()
		}
	}
	mode, token, challenge := q.Get("hub.mode"), q.Get("hub.verify_token"), q.Get("hub.challenge")
	switch {
	case mode == "" || token == "" || challenge == "":
		return webhook.Result{}, fmt.Errorf("meta: %w: hub.mode, hub.verify_token and hub.challenge are required", webhook.ErrMalformed)
	case mode != "subscribe":
		return webhook.Result{}, fmt.Errorf("meta: %w: hub.mode %q, want subscribe", webhook.ErrMalformed, mode)
	case len(challenge) > maxChallenge:
		return webhook.Result{}, fmt.Errorf("meta: %w: hub.challenge longer than %d bytes", webhook.ErrMalformed, maxChallenge)
	}
	if verifyToken == "" || !equalSecret(token, verifyToken) {
		return webhook.Result{}, fmt.Errorf("meta: %w: hub.verify_token does not match", webhook.ErrSignature)
	}
	return webhook.Result{ContentType: "text/plain", Body: []byte(challenge), NoRaw: true}, nil
}

// equalSecret compares in constant time, hiding the length too.
func equalSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return hmac.Equal(ha[:], hb[:])
}
