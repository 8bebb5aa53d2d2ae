package twilio

import (
	"net/http"

	"github.com/opengateway/gateway/connectors/fetch"
	"github.com/opengateway/gateway/core/media"
)

// NewFetcher returns the fetcher of Twilio media URLs (MediaUrl0...): a GET
// with the account SID and auth token as basic auth, which Twilio requires
// when HTTP basic authentication for media is on and ignores otherwise.
func NewFetcher(accountSID, authToken, userAgent string, client *http.Client) media.Fetcher {
	return fetch.HTTP{Client: client, User: accountSID, Pass: authToken, UserAgent: userAgent}
}
