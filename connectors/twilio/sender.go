package twilio

// The sender: SMS, MMS and WhatsApp messages through Twilio's Messages API
// (POST /2010-04-01/Accounts/{AccountSid}/Messages.json) with twilio-go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// DefaultBaseURL is Twilio's API host.
const DefaultBaseURL = "https://api.twilio.com"

// maxSendMedia is how many MediaUrl one message may carry.
const maxSendMedia = 10

// DefaultUserAgent is sent when SenderConfig.UserAgent is empty.
const DefaultUserAgent = "gateway/0.0.0"

// SenderConfig configures a Sender.
type SenderConfig struct {
	AccountSID string
	AuthToken  string
	// BaseURL replaces scheme and host of Twilio's API (TWILIO_API_URL),
	// default https://api.twilio.com. A path is kept as a prefix.
	BaseURL string
	// UserAgent is sent on every request ("gateway/1.2.3"); twilio-go's own
	// is replaced.
	UserAgent string
	// StatusCallback is where Twilio reports delivery, unless a Send names
	// its own.
	StatusCallback string
	// HTTPClient supplies the transport and timeout; default:
	// connector.APIClient with a 30 s timeout. Redirects are never followed.
	HTTPClient *http.Client
}

// Sender sends through Twilio. It is safe for concurrent use.
type Sender struct {
	cfg   SenderConfig
	base  *url.URL
	creds *client.Credentials
}

var _ outbox.Sender = (*Sender)(nil)

var alnum = regexp.MustCompile(`^[a-zA-Z0-9]+$`)

// NewSender returns a Sender, or an error naming what is wrong in cfg.
func NewSender(cfg SenderConfig) (*Sender, error) {
	var problems []string
	if !alnum.MatchString(cfg.AccountSID) {
		problems = append(problems, "account SID must be non-empty and alphanumeric")
	}
	if !alnum.MatchString(cfg.AuthToken) {
		problems = append(problems, "auth token must be non-empty and alphanumeric")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || base.Scheme == "" || base.Host == "" {
		problems = append(problems, fmt.Sprintf("base URL %q must be an absolute URL", cfg.BaseURL))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("twilio sender: %s", strings.Join(problems, "; "))
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = connector.APIClient(30 * time.Second)
	}
	return &Sender{cfg: cfg, base: base, creds: client.NewCredentials(cfg.AccountSID, cfg.AuthToken)}, nil
}

// Send sends one message. Channels: sms, mms, whatsapp. A From address
// starting with "MG" is used as MessagingServiceSid. A Template sends
// ContentSid (Template.Name) with ContentVariables (Template.Variables).
func (s *Sender) Send(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	params, err := s.params(m)
	if err != nil {
		return outbox.Result{}, err
	}
	// twilio-go takes no context and hard-codes its host: each send gets its
	// own client whose transport carries ctx, rewrites the host, sets our
	// headers and remembers the answer's status and headers (twilio-go keeps
	// only the decoded error body).
	rt := &roundTripper{ctx: ctx, base: s.base, userAgent: s.cfg.UserAgent, token: m.MessageID, next: s.cfg.HTTPClient.Transport}
	c := &client.Client{
		Credentials: s.creds,
		HTTPClient: &http.Client{
			Transport: rt, Timeout: s.cfg.HTTPClient.Timeout, Jar: s.cfg.HTTPClient.Jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(s.cfg.AccountSID)
	// A RequestHandler built by hand ignores TWILIO_EDGE and TWILIO_REGION,
	// which would otherwise rewrite the host name.
	api := openapi.NewApiService(&client.RequestHandler{Client: c})
	msg, err := api.CreateMessage(params)
	if err != nil {
		return outbox.Result{}, classify(ctx, err, rt.status(), rt.header())
	}
	if msg.Sid == nil || *msg.Sid == "" {
		return outbox.Result{}, &outbox.SendError{HTTPStatus: rt.status(), Message: "twilio: answer without a message sid"}
	}
	return outbox.Result{ProviderMessageID: *msg.Sid}, nil
}

func (s *Sender) params(m outbox.Send) (*openapi.CreateMessageParams, error) {
	invalid := func(format string, a ...any) error {
		return &outbox.SendError{Permanent: true, Message: "twilio: " + fmt.Sprintf(format, a...)}
	}
	var prefix string
	switch m.Channel {
	case normalize.ChannelSMS, normalize.ChannelMMS:
	case normalize.ChannelWhatsApp:
		prefix = "whatsapp:"
	default:
		return nil, invalid("channel %q is not sent through Twilio", m.Channel)
	}
	if m.To.Address == "" {
		return nil, invalid("no recipient address")
	}
	if m.From.Address == "" {
		return nil, invalid("no sender address (From)")
	}
	if len(m.Attachments) > maxSendMedia {
		return nil, invalid("%d attachments, at most %d per message", len(m.Attachments), maxSendMedia)
	}
	p := &openapi.CreateMessageParams{}
	p.SetTo(withPrefix(prefix, m.To.Address))
	if strings.HasPrefix(m.From.Address, "MG") {
		p.SetMessagingServiceSid(m.From.Address)
	} else {
		p.SetFrom(withPrefix(prefix, m.From.Address))
	}
	if t := m.Template; t != nil {
		if t.Name == "" {
			return nil, invalid("template without a ContentSid (name)")
		}
		p.SetContentSid(t.Name)
		if len(t.Variables) > 0 {
			b, err := json.Marshal(t.Variables)
			if err != nil {
				return nil, invalid("encode content variables: %v", err)
			}
			p.SetContentVariables(string(b))
		}
	} else if m.Text != "" {
		p.SetBody(m.Text)
	}
	if len(m.Attachments) > 0 {
		urls := make([]string, 0, len(m.Attachments))
		for _, a := range m.Attachments {
			if a.URL == "" {
				return nil, invalid("attachment without a URL")
			}
			urls = append(urls, a.URL)
		}
		p.SetMediaUrl(urls)
	}
	if m.Template == nil && m.Text == "" && len(m.Attachments) == 0 {
		return nil, invalid("nothing to send: no text, attachment or template")
	}
	cb := m.StatusCallback
	if cb == "" {
		cb = s.cfg.StatusCallback
	}
	if cb != "" {
		// The callback names the gateway's message, so the first status
		// links a send whose answer was lost (a dispatcher that died).
		p.SetStatusCallback(withMessageID(cb, m.MessageID))
	}
	return p, nil
}

func withPrefix(prefix, addr string) string {
	if prefix == "" || strings.HasPrefix(addr, prefix) {
		return addr
	}
	return prefix + addr
}

// classify turns what twilio-go returned into an outbox.SendError: 429, 5xx
// and transport errors (timeouts included) can be retried; other 4xx cannot.
func classify(ctx context.Context, err error, status int, h http.Header) error {
	se := &outbox.SendError{HTTPStatus: status, RetryAfter: retryAfter(h, time.Now())}
	var rest *client.TwilioRestError
	var restV1 *client.RestErrorV1
	switch {
	case errors.As(err, &rest):
		if rest.Status != 0 {
			se.HTTPStatus = rest.Status
		}
		se.ProviderCode = strconv.Itoa(rest.Code)
		se.Message = rest.Message
	case errors.As(err, &restV1):
		if restV1.HttpStatusCode != 0 {
			se.HTTPStatus = restV1.HttpStatusCode
		}
		se.ProviderCode = strconv.Itoa(restV1.Code)
		se.Message = restV1.Message
	case status != 0:
		// An error status whose body was not a Twilio error (an HTML 502
		// from a proxy, say).
		se.Message = "twilio: " + err.Error()
	default:
		// Never answered: transport error, timeout or cancelled context.
		se.HTTPStatus = 0
		se.Message = "twilio: " + err.Error()
		if ctx.Err() != nil {
			se.Message = "twilio: " + ctx.Err().Error() + ": " + err.Error()
		}
		return se
	}
	if se.ProviderCode == "0" {
		se.ProviderCode = ""
	}
	se.Permanent = se.HTTPStatus >= 400 && se.HTTPStatus < 500 &&
		se.HTTPStatus != http.StatusTooManyRequests && se.HTTPStatus != http.StatusRequestTimeout
	return se
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	d, _ := outbox.RetryAfter(h, now)
	return d
}

// roundTripper serves one Send and dies with it (twilio-go's API takes no
// context, so the call's ctx can only reach the request here): it gives
// twilio-go's request the send's context, sends it to the configured host, sets User-Agent and the
// idempotency token, and keeps the answer's status and headers.
type roundTripper struct {
	ctx       context.Context
	base      *url.URL
	userAgent string
	token     string
	next      http.RoundTripper

	mu   sync.Mutex
	code int
	hdr  http.Header
}

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(rt.ctx)
	req.URL.Scheme, req.URL.Host, req.Host = rt.base.Scheme, rt.base.Host, rt.base.Host
	if p := strings.TrimRight(rt.base.Path, "/"); p != "" {
		req.URL.Path = p + req.URL.Path
		req.URL.RawPath = ""
	}
	if rt.userAgent != "" {
		req.Header.Set("User-Agent", rt.userAgent)
	}
	if rt.token != "" {
		// The gateway message id as idempotency key, so that a resend after
		// a crash or a lost answer does not send twice. Twilio documents
		// I-Twilio-Idempotency-Token on the webhooks it sends; whether the
		// REST API honours it on requests is not confirmed by the
		// documentation we have. Harmless if ignored.
		req.Header.Set("I-Twilio-Idempotency-Token", rt.token)
	}
	next := rt.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if resp != nil {
		rt.mu.Lock()
		rt.code, rt.hdr = resp.StatusCode, resp.Header.Clone()
		rt.mu.Unlock()
	}
	return resp, err
}

func (rt *roundTripper) status() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.code
}

func (rt *roundTripper) header() http.Header {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.hdr == nil {
		return http.Header{}
	}
	return rt.hdr
}

func withMessageID(callback, id string) string {
	if id == "" {
		return callback
	}
	sep := "?"
	if strings.Contains(callback, "?") {
		sep = "&"
	}
	return callback + sep + CallbackParam + "=" + url.QueryEscape(id)
}
