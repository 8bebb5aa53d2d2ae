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
// sorted form parameters (or, for JSON bodies, of the URL carrying
// bodySHA256, with the body's SHA-256 checked against it), accepting the URL
// with and without its default port, compared in constant time. It signs
// exactly as twilio-go's RequestValidator does (a property test holds them
// together) in one pass over the parameters, and refuses a form of more than
// MaxParams parameters before signing anything.
type Verifier struct {
	s signer
}

// NewVerifier returns a verifier for an account's primary auth token.
func NewVerifier(authToken string) *Verifier {
	return &Verifier{s: newSigner([]byte(authToken))}
}

// VerifyForm checks a form POST whose body the caller has parsed already,
// so the body is parsed once per request (the first value of each
// parameter is signed). Other requests (GET, the JSON bodySHA256 variant)
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
	return nil
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
		form, err := url.ParseQuery(string(r.Body))
		ok = err == nil && v.s.verify(r.URL, form, sig)
	}
	if !ok {
		return errMismatch()
	}
	return nil
}

func errTooMany() error {
	return fmt.Errorf("twilio: %w: more than %d form parameters", webhook.ErrMalformed, MaxParams)
}

// isForm reports whether a content type is a form's (or unset).
func isForm(ct string) bool {
	return ct == "" || strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded")
}
