// Package fetch is the one HTTP download every provider's media fetcher
// uses: a GET with the provider's credentials (basic auth or a bearer
// token), the answer's status sorted into permanent and transient failures,
// URLs redacted in errors. It implements core/media's Fetcher; it must not
// import fiber, Kafka or any provider package.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/opengateway/gateway/core/media"
)

// HTTP downloads a URL with optional basic auth (Twilio media) or a bearer
// token. Redirects are followed; credentials are not sent to another host.
// 404, 403, 401 and other 4xx are permanent (media.ErrPermanent), 5xx and
// 429 transient.
type HTTP struct {
	Client     *http.Client
	User, Pass string
	Bearer     string
	UserAgent  string
}

var _ media.Fetcher = HTTP{}

// Fetch implements media.Fetcher.
func (h HTTP) Fetch(ctx context.Context, ref string) (io.ReadCloser, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", media.ErrPermanent, err)
	}
	if h.User != "" {
		req.SetBasicAuth(h.User, h.Pass)
	}
	if h.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+h.Bearer)
	}
	if h.UserAgent != "" {
		req.Header.Set("User-Agent", h.UserAgent)
	}
	client := h.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		err := fmt.Errorf("media: GET %s: HTTP %d", Redact(ref), resp.StatusCode)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return nil, "", errors.Join(media.ErrPermanent, err)
		}
		return nil, "", err
	}
	return resp.Body, resp.Header.Get("Content-Type"), nil
}

// Redact drops the query (which may carry tokens) from a URL for messages.
func Redact(u string) string {
	before, _, _ := strings.Cut(u, "?")
	return before
}
