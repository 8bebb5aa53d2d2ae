package outbox

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/opengateway/gateway/core"
)

// Codes of a failed send, as a reply's last_error and message.failed's
// error show them. A reply that fails for good after temporary failures
// has max_attempts or max_age instead; one whose provider's sender is off,
// channel_unavailable.
const (
	CodeSendFailed          = "send_failed"          // the provider refused it; retrying cannot help
	CodeRateLimited         = "rate_limited"         // the provider answered 429
	CodeProviderUnavailable = "provider_unavailable" // the provider answered 5xx
	CodeUnreachable         = "unreachable"          // no answer: connection refused, timeout
)

// DeliveryErrorOf describes a failed send for people: a code saying what
// kind of failure it was, the provider's message and code. URLs in it keep
// only their scheme and host, so a path or query (an account id, a token
// in a query) is never shown.
func DeliveryErrorOf(err error) core.DeliveryError {
	derr := core.DeliveryError{Code: CodeSendFailed, Message: err.Error()}
	var se *SendError
	if !errors.As(err, &se) {
		derr.Message = redactURLs(derr.Message)
		return derr
	}
	derr.ProviderCode, derr.Message = se.ProviderCode, se.Message
	if derr.Message == "" {
		derr.Message = http.StatusText(se.HTTPStatus)
	}
	switch {
	case se.Permanent:
	case se.HTTPStatus == http.StatusTooManyRequests:
		derr.Code = CodeRateLimited
	case se.HTTPStatus >= 500:
		derr.Code = CodeProviderUnavailable
	case se.HTTPStatus == 0:
		derr.Code = CodeUnreachable
	}
	derr.Message = redactURLs(derr.Message)
	return derr
}

var urlRest = regexp.MustCompile(`(?i)\b(https?://)(?:[^/?#\s"'@]*@)?([^/?#\s"'@:]*)[^\s"']*`)

// redactURLs cuts every URL in s down to its scheme and host (no user
// info, port, path or query), keeping punctuation that ends it.
func redactURLs(s string) string {
	return urlRest.ReplaceAllStringFunc(s, func(u string) string {
		url := strings.TrimRight(u, ":,.;)")
		m := urlRest.FindStringSubmatch(url)
		if m == nil {
			return u
		}
		return m[1] + m[2] + u[len(url):]
	})
}
