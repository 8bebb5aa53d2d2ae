package twilio

import (
	"net/http"

	"github.com/opengateway/gateway/connectors/fetch"
	"github.com/opengateway/gateway/core/media"
)

// DefaultMediaHosts are where Twilio media may come from unless
// GATEWAY_MEDIA_ALLOWED_HOSTS replaces them: the API host of MediaUrlN
// (and the host of TWILIO_API_URL), the CDN it redirects to when HTTP basic
// auth is enforced on media (mms.twiliocdn.com), and the S3 host that serves
// media stored before it was.
var DefaultMediaHosts = []string{"api.twilio.com", "*.twiliocdn.com", "s3-external-1.amazonaws.com"}

// FetcherConfig configures the Twilio media fetcher.
type FetcherConfig struct {
	AccountSID, AuthToken string
	// APIURL is TWILIO_API_URL: the only origin the credentials go to.
	APIURL string
	// AllowedHosts is GATEWAY_MEDIA_ALLOWED_HOSTS; empty: DefaultMediaHosts.
	AllowedHosts []string
	UserAgent    string
	Client       *http.Client
}

// NewFetcher returns the fetcher of Twilio media URLs (MediaUrl0...): a GET
// with the account SID and auth token as basic auth, which Twilio requires
// when HTTP basic authentication for media is on and ignores otherwise. The
// credentials go only to the API origin, never to the CDN Twilio redirects
// to.
func NewFetcher(cfg FetcherConfig) (media.Fetcher, error) {
	if cfg.APIURL == "" {
		cfg.APIURL = "https://api.twilio.com"
	}
	hosts, err := fetch.Allowed(cfg.AllowedHosts, append([]string{fetch.HostOf(cfg.APIURL)}, DefaultMediaHosts...)...)
	if err != nil {
		return nil, err
	}
	return fetch.New(fetch.Config{Client: cfg.Client, Hosts: hosts, AuthOrigins: []string{cfg.APIURL},
		User: cfg.AccountSID, Pass: cfg.AuthToken, UserAgent: cfg.UserAgent}), nil
}
