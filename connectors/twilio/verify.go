// Package twilio is everything about Twilio: the inbound SMS, MMS and
// WhatsApp webhook and the status callbacks (inbound.go, status.go), the
// X-Twilio-Signature check (verify.go), the sender of replies (sender.go),
// the media fetcher (media.go) and New, which builds all of it from the
// configuration (twilio.go). It must not import fiber, Kafka clients or
// another provider's package.
package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/twilio/twilio-go/client"

	"github.com/opengateway/gateway/connectors/webhook"
)

// Verifier checks X-Twilio-Signature with twilio-go's request validator:
// HMAC-SHA1 of the public URL plus the sorted form parameters (or, for JSON
// bodies, of the URL carrying bodySHA256), accepting the URL with and
// without its default port, compared in constant time.
type Verifier struct {
	v client.RequestValidator
}

// NewVerifier returns a verifier for an account's primary auth token.
func NewVerifier(authToken string) *Verifier {
	return &Verifier{v: client.NewRequestValidator(authToken)}
}

// VerifyForm checks a form POST whose body the caller has parsed already
// (twilio-go's Validate on the same parameters ValidateBody would build:
// the first value of each), so the body is parsed once per request. Other
// requests (GET, the JSON bodySHA256 variant) go through Verify.
func (v *Verifier) VerifyForm(r *webhook.Request, form url.Values) error {
	if r.Method == "GET" || strings.Contains(r.URL, "bodySHA256=") {
		return v.Verify(r)
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return fmt.Errorf("twilio: %w: no X-Twilio-Signature header", webhook.ErrSignature)
	}
	params := make(map[string]string, len(form))
	for k, vs := range form {
		params[k] = vs[0]
	}
	if !v.v.Validate(r.URL, params, sig) {
		return fmt.Errorf("twilio: %w: X-Twilio-Signature does not match", webhook.ErrSignature)
	}
	return nil
}

// Verify checks the signature of a request on its raw body.
func (v *Verifier) Verify(r *webhook.Request) error {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return fmt.Errorf("twilio: %w: no X-Twilio-Signature header", webhook.ErrSignature)
	}
	var ok bool
	if r.Method == "GET" {
		ok = v.v.Validate(r.URL, map[string]string{}, sig)
	} else {
		ok = v.v.ValidateBody(r.URL, r.Body, sig)
	}
	if !ok {
		return fmt.Errorf("twilio: %w: X-Twilio-Signature does not match", webhook.ErrSignature)
	}
	return nil
}

// Sign computes X-Twilio-Signature the way Twilio does for a form POST:
// base64(HMAC-SHA1(auth token, URL + each parameter name and value, sorted
// by name)). The gateway uses it to sign test webhooks (`gateway sign`,
// loadgen); tests check it against the verifier and the documented vectors.
func Sign(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(form.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
