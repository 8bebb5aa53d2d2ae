package connector

import (
	"net/http"
	"time"
)

// APIIdleConnsPerHost is how many idle connections to one provider host an
// APIClient keeps: at least as many as sends run at once (the dispatcher's
// workers), so that each send reuses a kept connection instead of opening
// a new one (a TCP and TLS handshake per send to api.twilio.com).
const APIIdleConnsPerHost = 256

// APIClient returns the HTTP client for the providers' send APIs: Go's
// default transport (proxy from the environment, HTTP/2, dial and TLS
// timeouts) keeping APIIdleConnsPerHost idle connections per host instead
// of its default two, and the given timeout per request.
func APIClient(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = APIIdleConnsPerHost
	t.MaxIdleConns = 4 * APIIdleConnsPerHost
	return &http.Client{Transport: t, Timeout: timeout}
}
