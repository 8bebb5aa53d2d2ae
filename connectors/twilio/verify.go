// Package twilio is everything about Twilio: the inbound SMS, MMS and
// WhatsApp webhook and the status callbacks (inbound.go, status.go), the
// X-Twilio-Signature check (verify.go), the sender of replies (sender.go),
// the media fetcher (media.go) and New, which builds all of it from the
// configuration (twilio.go). It must not import fiber, Kafka clients or
// another provider's package.
package twilio

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/opengateway/gateway/connectors/webhook"
)

// Verifier checks X-Twilio-Signature: HMAC-SHA1 of the public URL plus the
// sorted form parameters, every value of a repeated one (or, for JSON
// bodies, of the URL carrying bodySHA256, with the body's SHA-256 checked
// against it), accepting the URL with and without its default port,
// compared in constant time. It signs as Twilio does (see signer; property
// tests hold it to twilio-go's RequestValidator on forms without repeated
// values, and to Twilio's published repeated-parameter vector) in one pass
// over the parameters, and refuses a form of more than MaxParams parameters
// before signing anything. The signature covers the distinct values of a
// repeated parameter, not their order or count, so a signed form that
// repeats a parameter is refused as malformed: which value the parsers
// would read (the first) is not signed.
type Verifier struct {
	s signer
}

// NewVerifier returns a verifier for an account's primary auth token.
func NewVerifier(authToken string) *Verifier {
	return &Verifier{s: newSigner([]byte(authToken))}
}

// VerifyForm checks a form POST whose body the caller has parsed already,
// so the body is parsed once per request (every value of each parameter
// is signed). Other requests (GET, the JSON bodySHA256 variant)
// go through Verify.
func (v *Verifier) VerifyForm(r *webhook.Request, form url.Values) error {
	if r.Method == "GET" || bodySHA256(r.URL) != "" {
		return v.Verify(r)
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return errNoSignature()
	}
	if len(form) > MaxParams {
		return errTooMany()
	}
	if !v.s.verify(r.URL, form, sig) {
		return errMismatch()
	}
	return repeated(form)
}

// Verify checks the signature of a request on its raw body.
func (v *Verifier) Verify(r *webhook.Request) error {
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return errNoSignature()
	}
	var ok bool
	switch sum := bodySHA256(r.URL); {
	case r.Method == "GET":
		ok = v.s.verify(r.URL, nil, sig)
	case sum != "":
		ok = v.s.verify(r.URL, nil, sig) && bodyMatches(r.Body, sum)
	default:
		if countParams(r.Body, MaxParams) > MaxParams {
			return errTooMany()
		}
		form, err := parseQuery(r.Body)
		if err != nil || !v.s.verify(r.URL, form, sig) {
			return errMismatch()
		}
		return repeated(form)
	}
	if !ok {
		return errMismatch()
	}
	return nil
}

// repeated refuses a signed form that repeats a parameter. Twilio signs a
// repeated parameter's distinct values in sorted order, so their order and
// count (and with them the value a parser reads first, and the bytes kept
// on raw.v1) could change without breaking the signature. Twilio's
// messaging webhooks repeat no parameter (media come as MediaUrl0,
// MediaUrl1, ...).
func repeated(form url.Values) error {
	for k, vs := range form {
		if len(vs) > 1 {
			return fmt.Errorf("twilio: %w: parameter %q is repeated; the signature does not cover the order or count of its values",
				webhook.ErrMalformed, clip(k))
		}
	}
	return nil
}

// clip shortens a parameter name for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}

func errTooMany() error {
	return fmt.Errorf("twilio: %w: more than %d form parameters", webhook.ErrMalformed, MaxParams)
}

// isForm reports whether a content type is a form's (or unset).
func isForm(ct string) bool {
	return ct == "" || strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded")
}
