package meta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/opengateway/gateway/connectors/fetch"
	"github.com/opengateway/gateway/core/media"
)

// GraphFetcher downloads WhatsApp Cloud API media: the media id resolves to
// a short-lived URL (GET /{version}/{media-id}), which is then fetched with
// the same bearer token.
type GraphFetcher struct {
	Client    *http.Client
	BaseURL   string // META_GRAPH_URL
	Version   string // META_GRAPH_VERSION
	Token     string
	UserAgent string
}

var _ media.Fetcher = GraphFetcher{}

// Fetch implements media.Fetcher.
func (g GraphFetcher) Fetch(ctx context.Context, mediaID string) (io.ReadCloser, string, error) {
	if mediaID == "" {
		return nil, "", fmt.Errorf("%w: no media id", media.ErrPermanent)
	}
	h := fetch.HTTP{Client: g.Client, Bearer: g.Token, UserAgent: g.UserAgent}
	body, _, err := h.Fetch(ctx, g.BaseURL+"/"+g.Version+"/"+url.PathEscape(mediaID))
	if err != nil {
		return nil, "", err
	}
	var meta struct {
		URL      string `json:"url"`
		MimeType string `json:"mime_type"`
	}
	err = json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&meta)
	body.Close()
	if err != nil || meta.URL == "" {
		return nil, "", errors.Join(media.ErrPermanent, fmt.Errorf("media: graph answer for %s has no url", mediaID))
	}
	file, ct, err := h.Fetch(ctx, meta.URL)
	if err != nil {
		return nil, "", err
	}
	if ct == "" || ct == "application/octet-stream" {
		ct = meta.MimeType
	}
	return file, ct, nil
}

// fetchers are the media fetchers of the Meta channels: Messenger and
// Instagram attachments are public CDN URLs, WhatsApp media ids need the
// access token.
func fetchers(graphURL, version, waToken, userAgent string, client *http.Client) map[string]media.Fetcher {
	cdn := fetch.HTTP{Client: client, UserAgent: userAgent}
	out := map[string]media.Fetcher{ProviderMessenger: cdn, ProviderInstagram: cdn}
	if waToken != "" {
		out[ProviderWhatsApp] = GraphFetcher{Client: client, BaseURL: graphURL, Version: version, Token: waToken, UserAgent: userAgent}
	}
	return out
}
