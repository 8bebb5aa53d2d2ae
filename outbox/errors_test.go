package outbox_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/outbox"
)

// A failed send is described for people by kind (the code) with the
// provider's message and code; URLs keep only scheme and host, so an
// account id in a path, a token in a query or user info never shows.
func TestDeliveryErrorOf(t *testing.T) {
	transport := &url.Error{Op: "Post", URL: "https://ops:s3cret@graph.facebook.com/v23.0/1234/messages?access_token=EAAG-secret",
		Err: errors.New("dial tcp: connection refused")}
	tests := map[string]struct {
		err  error
		want core.DeliveryError
	}{
		"429": {&outbox.SendError{HTTPStatus: 429, ProviderCode: "20429", Message: "Too Many Requests"},
			core.DeliveryError{Code: "rate_limited", Message: "Too Many Requests", ProviderCode: "20429"}},
		"503 without a message": {&outbox.SendError{HTTPStatus: 503},
			core.DeliveryError{Code: "provider_unavailable", Message: "Service Unavailable"}},
		"refused for good": {&outbox.SendError{Permanent: true, HTTPStatus: 400, ProviderCode: "21211", Message: "Invalid 'To' Phone Number"},
			core.DeliveryError{Code: "send_failed", Message: "Invalid 'To' Phone Number", ProviderCode: "21211"}},
		"no answer": {&outbox.SendError{Message: "meta: " + transport.Error()},
			core.DeliveryError{Code: "unreachable", Message: `meta: Post "https://graph.facebook.com": dial tcp: connection refused`}},
		"not a SendError": {fmt.Errorf("send: %w", transport),
			core.DeliveryError{Code: "send_failed", Message: `send: Post "https://graph.facebook.com": dial tcp: connection refused`}},
		"api.twilio.com path": {&outbox.SendError{Message: "twilio: Post https://api.twilio.com/2010-04-01/Accounts/AC0123/Messages.json: EOF"},
			core.DeliveryError{Code: "unreachable", Message: "twilio: Post https://api.twilio.com: EOF"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := outbox.DeliveryErrorOf(tc.err)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			for _, secret := range []string{"s3cret", "EAAG", "AC0123"} {
				if strings.Contains(got.Message, secret) {
					t.Errorf("message %q shows %s", got.Message, secret)
				}
			}
		})
	}
}
