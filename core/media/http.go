package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// HTTPFetcher downloads a URL with optional basic auth (Twilio media) or a
// bearer token. Redirects are followed; credentials are not sent to another
// host. 404, 403, 401 and other 4xx are permanent, 5xx and 429 transient.
type HTTPFetcher struct {
	Client     *http.Client
	User, Pass string
	Bearer     string
	UserAgent  string
}

// Fetch implements Fetcher.
func (h HTTPFetcher) Fetch(ctx context.Context, ref string) (io.ReadCloser, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrPermanent, err)
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
		err := fmt.Errorf("media: GET %s: HTTP %d", redact(ref), resp.StatusCode)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			return nil, "", errors.Join(ErrPermanent, err)
		}
		return nil, "", err
	}
	return resp.Body, resp.Header.Get("Content-Type"), nil
}

// redact drops the query (which may carry tokens) from a URL for messages.
func redact(u string) string {
	for i := 0; i < len(u); i++ {
		if u[i] == '?' {
			return u[:i]
		}
	}
	return u
}
