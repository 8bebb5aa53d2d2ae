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

// Default media hosts, used unless GATEWAY_MEDIA_ALLOWED_HOSTS replaces
// them. WhatsApp: the Graph API host (of META_GRAPH_URL) answers a media id
// with a short-lived URL on lookaside.fbsbx.com. Messenger and Instagram:
// attachment URLs on Meta's CDNs.
var (
	DefaultWhatsAppMediaHosts = []string{"graph.facebook.com", "lookaside.fbsbx.com"}
	DefaultCDNMediaHosts      = []string{"*.fbcdn.net", "*.cdninstagram.com", "lookaside.fbsbx.com"}
)

// whatsAppMediaOrigin serves WhatsApp media downloads, which need the token.
const whatsAppMediaOrigin = "https://lookaside.fbsbx.com"

// GraphFetcherConfig configures the WhatsApp media fetcher.
type GraphFetcherConfig struct {
	BaseURL string // META_GRAPH_URL
	Version string // META_GRAPH_VERSION
	Token   string
	// AllowedHosts is GATEWAY_MEDIA_ALLOWED_HOSTS; empty: the Graph host
	// and DefaultWhatsAppMediaHosts.
	AllowedHosts []string
	UserAgent    string
	Client       *http.Client
}

// GraphFetcher downloads WhatsApp Cloud API media: the media id resolves to
// a short-lived URL (GET /{version}/{media-id}), which is then fetched with
// the same bearer token. The token goes only to the Graph API origin and to
// Meta's media download origin (https://lookaside.fbsbx.com, which requires
// it), never to a host either redirects to.
type GraphFetcher struct {
	base, version string
	http          *fetch.HTTP
}

var _ media.Fetcher = (*GraphFetcher)(nil)

// NewGraphFetcher returns the WhatsApp media fetcher.
func NewGraphFetcher(cfg GraphFetcherConfig) (*GraphFetcher, error) {
	hosts, err := fetch.Allowed(cfg.AllowedHosts, append([]string{fetch.HostOf(cfg.BaseURL)}, DefaultWhatsAppMediaHosts...)...)
	if err != nil {
		return nil, err
	}
	return &GraphFetcher{base: cfg.BaseURL, version: cfg.Version, http: fetch.New(fetch.Config{Client: cfg.Client, Hosts: hosts,
		AuthOrigins: []string{cfg.BaseURL, whatsAppMediaOrigin}, Bearer: cfg.Token, UserAgent: cfg.UserAgent})}, nil
}

// Fetch implements media.Fetcher.
func (g *GraphFetcher) Fetch(ctx context.Context, mediaID string) (io.ReadCloser, string, error) {
	if mediaID == "" {
		return nil, "", fmt.Errorf("%w: no media id", media.ErrPermanent)
	}
	body, _, err := g.http.Fetch(ctx, g.base+"/"+g.version+"/"+url.PathEscape(mediaID))
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
	file, ct, err := g.http.Fetch(ctx, meta.URL)
	if err != nil {
		return nil, "", err
	}
	if ct == "" || ct == "application/octet-stream" {
		ct = meta.MimeType
	}
	return file, ct, nil
}

// NewCDNFetcher returns the fetcher of Messenger and Instagram attachment
// URLs: public CDN URLs, fetched without credentials.
func NewCDNFetcher(allowed []string, userAgent string, client *http.Client) (*fetch.HTTP, error) {
	hosts, err := fetch.Allowed(allowed, DefaultCDNMediaHosts...)
	if err != nil {
		return nil, err
	}
	return fetch.New(fetch.Config{Client: client, Hosts: hosts, UserAgent: userAgent}), nil
}

// NewPageFetcher returns the fetcher of the Messenger and Instagram
// attachment URLs of the messages to a page with a token of its own: the
// CDN URLs as NewCDNFetcher does, and the page's token on the URLs of the
// Graph API origin (graphURL) and of Meta's media download origin
// (https://lookaside.fbsbx.com), never on a CDN host or a redirect target.
func NewPageFetcher(graphURL, token string, allowed []string, userAgent string, client *http.Client) (*fetch.HTTP, error) {
	hosts, err := fetch.Allowed(allowed, append([]string{fetch.HostOf(graphURL)}, DefaultCDNMediaHosts...)...)
	if err != nil {
		return nil, err
	}
	return fetch.New(fetch.Config{Client: client, Hosts: hosts, AuthOrigins: []string{graphURL, whatsAppMediaOrigin},
		Bearer: token, UserAgent: userAgent}), nil
}

// fetchers are the media fetchers of the Meta channels: Messenger and
// Instagram attachments are public CDN URLs, WhatsApp media ids need the
// access token.
func fetchers(graphURL, version, waToken string, allowed []string, userAgent string, client *http.Client) (map[string]media.Fetcher, error) {
	cdn, err := NewCDNFetcher(allowed, userAgent, client)
	if err != nil {
		return nil, err
	}
	out := map[string]media.Fetcher{ProviderMessenger: cdn, ProviderInstagram: cdn}
	if waToken != "" {
		wa, err := NewGraphFetcher(GraphFetcherConfig{BaseURL: graphURL, Version: version, Token: waToken,
			AllowedHosts: allowed, UserAgent: userAgent, Client: client})
		if err != nil {
			return nil, err
		}
		out[ProviderWhatsApp] = wa
	}
	return out, nil
}
