package sendgrid

import (
	"encoding/json"
	"regexp"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Sender authentication of inbound email.
//
// SendGrid's MX checks SPF and DKIM and posts its verdicts in the form
// fields SPF ("pass", "fail", "softfail", "neutral", "none", ...) and dkim
// ("{@example.com : pass}", "{@a.com : pass, @b.com : fail}" or "none"), in
// the default and in the raw ("Send Raw") mode alike. Those fields are
// the only verdicts trusted: Authentication-Results and Received-SPF
// headers inside the message are not, because whoever sends the mail can
// write them (SendGrid documents none it adds itself).
//
// The sender is verified when either
//   - DKIM passed for a domain aligned with the From address's domain, or
//   - SPF passed and the envelope sender's domain (the MAIL FROM SPF
//     checks, the envelope field's "from") is aligned with the From
//     address's domain.
//
// Two domains are aligned when they are equal or one is a subdomain of the
// other, and the shorter is not a public suffix (so "co.uk" aligns with
// nothing). Anything else is unverified: verdicts missing, SPF for an
// envelope sender of another domain or for an empty one (bounces), DKIM
// only for a relay's or mailing list's domain.

// spfPass reports whether the SPF field's verdict is pass ("pass", or
// "pass" followed by a comment).
func spfPass(field string) bool {
	verdict, _, _ := strings.Cut(strings.TrimSpace(field), " ")
	return strings.EqualFold(verdict, "pass")
}

// dkimEntry is one "@domain : result" of the dkim field; the result is a
// single word (SendGrid has been seen to append diagnostics to other
// results, never to pass).
var dkimEntry = regexp.MustCompile(`@([A-Za-z0-9._-]+)\s*:\s*([A-Za-z]+)`)

// dkimPassDomains returns the domains whose DKIM signature passed.
func dkimPassDomains(field string) []string {
	var out []string
	for _, m := range dkimEntry.FindAllStringSubmatch(field, -1) {
		if strings.EqualFold(m[2], "pass") {
			out = append(out, m[1])
		}
	}
	return out
}

// envelopeSender returns the envelope field's "from" (the MAIL FROM), or
// "" when it is missing or the field is not JSON.
func envelopeSender(field string) string {
	var env struct {
		From string `json:"from"`
	}
	_ = json.Unmarshal([]byte(field), &env)
	return env.From
}

// senderVerified applies the rule above to the From address and the
// fields SPF, dkim and envelope.
func senderVerified(from, spf, dkim, envelope string) bool {
	fromDomain := domainOf(from)
	if fromDomain == "" {
		return false
	}
	for _, d := range dkimPassDomains(dkim) {
		if aligned(d, fromDomain) {
			return true
		}
	}
	return spfPass(spf) && aligned(domainOf(envelopeSender(envelope)), fromDomain)
}

// domainOf is the lower-cased domain of an address ("" without one).
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return normDomain(addr[i+1:])
}

// aligned reports whether two domains are equal or one is a subdomain of
// the other, the shorter not being a public suffix.
func aligned(a, b string) bool {
	a, b = normDomain(a), normDomain(b)
	if a == "" || b == "" {
		return false
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	if a != b && !strings.HasSuffix(b, "."+a) {
		return false
	}
	if !strings.Contains(a, ".") {
		return false // a top-level domain
	}
	suffix, _ := publicsuffix.PublicSuffix(a)
	return suffix != a
}

func normDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}
