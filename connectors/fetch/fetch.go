// Package fetch is the one HTTP download every provider's media fetcher
// uses: a GET that goes only to the hosts the provider's files may come
// from (checked on the URL, on every redirect and on the address actually
// dialled, so DNS cannot point it inside), with the provider's credentials
// (basic auth or a bearer token) sent only to the provider's API hosts, the
// answer's status sorted into permanent and transient failures, and URLs
// named in errors without their query or user info. It implements
// core/media's Fetcher; it must not import fiber, Kafka or any provider
// package.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/opengateway/gateway/core/media"
)

// MaxRedirects bounds the redirects one download follows.
const MaxRedirects = 3

// Config configures a download.
type Config struct {
	// Client's timeout and TLS settings are kept; its dialer, proxy and
	// redirect policy are replaced by the host rules. Nil: defaults.
	Client *http.Client
	// Hosts are where files may come from: the provider's defaults, or the
	// operator's list (GATEWAY_MEDIA_ALLOWED_HOSTS), see Allowed.
	Hosts media.Hosts
	// AuthOrigins are the only origins (scheme://host[:port], like
	// "https://api.twilio.com") the credentials are sent to; never to
	// another host, before or after a redirect.
	AuthOrigins []string
	// User and Pass are basic auth (Twilio media), Bearer a token.
	User, Pass string
	Bearer     string
	UserAgent  string
	// Resolver resolves host names (nil: the system's).
	Resolver *net.Resolver
}

// HTTP downloads a provider's files. 404, 403, 401 and other 4xx are
// permanent (media.ErrPermanent), as is a URL the host rules refuse; 5xx,
// 429 and network failures are transient.
type HTTP struct {
	cfg    Config
	auth   map[string]bool // host:port with scheme, see origin
	client *http.Client
}

var _ media.Fetcher = (*HTTP)(nil)

// ErrRefused is a URL, redirect or address the host rules do not allow.
var ErrRefused = errors.New("media host not allowed")

// Allowed returns the hosts a provider's files may come from: the
// operator's list when it is set (GATEWAY_MEDIA_ALLOWED_HOSTS, which
// replaces every provider's defaults), else the provider's defaults (empty
// ones, like the host of an API URL that is not set, are skipped).
func Allowed(configured []string, defaults ...string) (media.Hosts, error) {
	if len(configured) > 0 {
		h, err := media.ParseHosts(configured)
		if err != nil {
			return media.Hosts{}, fmt.Errorf("GATEWAY_MEDIA_ALLOWED_HOSTS: %w", err)
		}
		return h, nil
	}
	var own []string
	for _, d := range defaults {
		if d != "" {
			own = append(own, d)
		}
	}
	return media.DefaultHosts(own...)
}

// HostOf is the "host" or "host:port" pattern of an API base URL (like
// TWILIO_API_URL), "" when it has none.
func HostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	return u.Host
}

// New returns a download with the given rules.
func New(cfg Config) *HTTP {
	h := &HTTP{cfg: cfg, auth: map[string]bool{}}
	for _, o := range cfg.AuthOrigins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			h.auth[origin(u)] = true
		}
	}
	var tr *http.Transport
	var timeout time.Duration
	if cfg.Client != nil {
		timeout = cfg.Client.Timeout
		if t, ok := cfg.Client.Transport.(*http.Transport); ok {
			tr = t.Clone()
		}
	}
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	tr.Proxy = nil // a proxy would be dialled instead of the file's host
	tr.DialTLSContext = nil
	tr.DialContext = h.dial
	h.client = &http.Client{Transport: credentials{h, tr}, Timeout: timeout, CheckRedirect: h.checkRedirect}
	return h
}

// dial connects to addr only when the address it resolves to is public, or
// its host is named exactly by the operator's list. The check runs on the
// address actually dialled, after resolution, so a name that resolves to an
// internal address (DNS rebinding) is refused too.
func (h *HTTP) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	internalOK := h.cfg.Hosts.Internal(host, port)
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Resolver: h.cfg.Resolver,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrRefused, address)
			}
			if !internalOK && !media.PublicAddr(ap.Addr()) {
				return fmt.Errorf("%w: %s resolves to the internal address %s", ErrRefused, host, ap.Addr())
			}
			return nil
		}}
	return d.DialContext(ctx, network, addr)
}

func (h *HTTP) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("%w: more than %d redirects", ErrRefused, MaxRedirects)
	}
	if !h.cfg.Hosts.Allows(req.URL) {
		return fmt.Errorf("%w: redirect to %s", ErrRefused, Redact(req.URL.String()))
	}
	return nil
}

// credentials adds the provider's credentials to requests for the auth
// origins only, hop by hop: a redirect to another host gets none.
type credentials struct {
	h    *HTTP
	base http.RoundTripper
}

func (c credentials) RoundTrip(req *http.Request) (*http.Response, error) {
	cfg := c.h.cfg
	send := c.h.auth[origin(req.URL)] && (cfg.User != "" || cfg.Bearer != "")
	if send || req.Header.Get("Authorization") != "" {
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
	}
	if send {
		if cfg.User != "" {
			req.SetBasicAuth(cfg.User, cfg.Pass)
		} else {
			req.Header.Set("Authorization", "Bearer "+cfg.Bearer)
		}
	}
	return c.base.RoundTrip(req)
}

// origin is scheme://host:port with the scheme's default port filled in.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
}

// Fetch implements media.Fetcher.
func (h *HTTP) Fetch(ctx context.Context, ref string) (io.ReadCloser, string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return nil, "", errors.Join(media.ErrPermanent, fmt.Errorf("media: GET: %w", redactErr(err)))
	}
	if !h.cfg.Hosts.Allows(u) {
		return nil, "", errors.Join(media.ErrPermanent, fmt.Errorf("media: GET %s: %w", Redact(ref), ErrRefused))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
	if err != nil {
		return nil, "", errors.Join(media.ErrPermanent, fmt.Errorf("media: GET %s: %w", Redact(ref), redactErr(err)))
	}
	if h.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", h.cfg.UserAgent)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		err = redactErr(err)
		if errors.Is(err, ErrRefused) {
			return nil, "", errors.Join(media.ErrPermanent, err)
		}
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

// redactErr takes the query and user info out of the URL a *url.Error
// names (the client's errors name the whole URL, redirect targets too).
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		c := *ue
		c.URL = Redact(ue.URL)
		return &c
	}
	return err
}

// Redact drops the query and fragment (which may carry tokens) and the user
// info (credentials) from a URL for messages.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable: keep only what precedes any query, fragment or "@".
		for i, r := range raw {
			if r == '?' || r == '#' || r == '@' {
				return raw[:i]
			}
		}
		return raw
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}
