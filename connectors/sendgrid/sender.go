package sendgrid

// The sender: email replies through SendGrid's v3 Mail Send API
// (POST /v3/mail/send) with sendgrid-go.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	"github.com/sendgrid/sendgrid-go/helpers/mail"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// DefaultBaseURL is SendGrid's API host.
const DefaultBaseURL = "https://api.sendgrid.com"

// DefaultUserAgent is sent when SenderConfig.UserAgent is empty.
const DefaultUserAgent = "gateway/0.0.0"

// SenderConfig configures a Sender.
type SenderConfig struct {
	APIKey string
	// BaseURL is SendGrid's API host without path (SENDGRID_API_URL),
	// default https://api.sendgrid.com.
	BaseURL string
	// UserAgent is sent on every request ("gateway/1.2.3") instead of
	// sendgrid-go's.
	UserAgent string
	// HTTPClient default: connector.APIClient with a 30 s timeout.
	HTTPClient *http.Client
}

// Sender sends email through SendGrid. It is safe for concurrent use.
type Sender struct {
	cfg  SenderConfig
	host string
	rest *rest.Client
}

var _ outbox.Sender = (*Sender)(nil)

// NewSender returns a Sender, or an error naming what is wrong in cfg.
func NewSender(cfg SenderConfig) (*Sender, error) {
	var problems []string
	if cfg.APIKey == "" {
		problems = append(problems, "API key is empty")
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	host := strings.TrimRight(cfg.BaseURL, "/")
	if u, err := url.Parse(host); err != nil || u.Scheme == "" || u.Host == "" {
		problems = append(problems, fmt.Sprintf("base URL %q must be an absolute URL", cfg.BaseURL))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("sendgrid sender: %s", strings.Join(problems, "; "))
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = connector.APIClient(30 * time.Second)
	}
	return &Sender{cfg: cfg, host: host, rest: &rest.Client{HTTPClient: cfg.HTTPClient}}, nil
}

// Send sends one email. The subject is sent as given (the caller makes the
// "Re: " subject of a reply). Send.Thread describes the message replied to:
// its Message-ID becomes In-Reply-To, and References is its References plus
// its Message-ID. A Template sends template_id (Template.Name) with
// Template.Variables as dynamic_template_data. Attachments are refused:
// SendGrid wants their bytes, not URLs.
func (s *Sender) Send(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	body, err := buildMail(m)
	if err != nil {
		return outbox.Result{}, err
	}
	req := sendgrid.GetRequest(s.cfg.APIKey, "/v3/mail/send", s.host)
	req.Method = rest.Post
	req.Body = body
	req.Headers["Content-Type"] = "application/json"
	if s.cfg.UserAgent != "" {
		req.Headers["User-Agent"] = s.cfg.UserAgent
	}
	resp, err := s.rest.SendWithContext(ctx, req)
	if err != nil {
		msg := "sendgrid: " + err.Error()
		if ctx.Err() != nil {
			msg = "sendgrid: " + ctx.Err().Error() + ": " + err.Error()
		}
		return outbox.Result{}, &outbox.SendError{Message: msg}
	}
	h := http.Header(resp.Headers)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return outbox.Result{ProviderMessageID: h.Get("X-Message-Id")}, nil
	}
	return outbox.Result{}, classify(resp.StatusCode, h, resp.Body, time.Now())
}

func buildMail(m outbox.Send) ([]byte, error) {
	invalid := func(format string, a ...any) error {
		return &outbox.SendError{Permanent: true, Message: "sendgrid: " + fmt.Sprintf(format, a...)}
	}
	if m.Channel != "" && m.Channel != normalize.ChannelEmail {
		return nil, invalid("channel %q is not sent through SendGrid", m.Channel)
	}
	if m.From.Address == "" {
		return nil, invalid("no sender address (From)")
	}
	if m.To.Address == "" {
		return nil, invalid("no recipient address")
	}
	if len(m.Attachments) > 0 {
		return nil, invalid("email attachments must be uploaded: SendGrid takes attachment content, not URLs")
	}
	ml := mail.NewV3Mail()
	ml.SetFrom(mail.NewEmail(m.From.Name, m.From.Address))
	p := mail.NewPersonalization()
	p.AddTos(mail.NewEmail(m.To.Name, m.To.Address))
	if m.MessageID != "" {
		p.SetCustomArg(MessageIDArg, m.MessageID)
	}
	ml.AddPersonalizations(p)
	ml.Subject = m.Subject
	if m.Template != nil {
		if m.Template.Name == "" {
			return nil, invalid("template without an id (name)")
		}
		ml.SetTemplateID(m.Template.Name)
		for k, v := range m.Template.Variables {
			p.SetDynamicTemplateData(k, v)
		}
	} else {
		if m.Subject == "" {
			return nil, invalid("no subject")
		}
		if m.Text == "" && m.HTML == "" {
			return nil, invalid("nothing to send: no text, HTML or template")
		}
	}
	// text/plain must come first.
	if m.Text != "" {
		ml.AddContent(mail.NewContent("text/plain", m.Text))
	}
	if m.HTML != "" {
		ml.AddContent(mail.NewContent("text/html", m.HTML))
	}
	if inReplyTo, refs := threadHeaders(m.Thread); inReplyTo != "" {
		ml.SetHeader("In-Reply-To", inReplyTo)
		ml.SetHeader("References", refs)
	}
	b, err := json.Marshal(ml)
	if err != nil {
		return nil, invalid("encode mail: %v", err)
	}
	return b, nil
}

// threadHeaders returns In-Reply-To and References for a reply to the
// message t describes: In-Reply-To is its Message-ID (its In-Reply-To when it
// has none), References its References followed by that id, each id in angle
// brackets, without repeats.
func threadHeaders(t *normalize.Thread) (inReplyTo, references string) {
	if t == nil {
		return "", ""
	}
	parent := angle(t.MessageID)
	var refs []string
	seen := map[string]bool{}
	add := func(id string) {
		if id = angle(id); id != "" && !seen[id] {
			seen[id] = true
			refs = append(refs, id)
		}
	}
	for _, r := range t.References {
		for _, id := range strings.Fields(r) {
			add(id)
		}
	}
	if parent == "" {
		// The thread names no Message-ID: reply to what it replied to.
		parent = angle(t.InReplyTo)
	}
	if parent == "" {
		return "", ""
	}
	add(parent)
	return parent, strings.Join(refs, " ")
}

func angle(id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return ""
	}
	return "<" + strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">") + ">"
}

// classify turns a non-2xx answer into an outbox.SendError: 408, 429 and
// 5xx can be retried; other 4xx cannot.
func classify(status int, h http.Header, body string, now time.Time) error {
	se := &outbox.SendError{
		HTTPStatus: status,
		Permanent:  status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout,
		Message:    "sendgrid: " + errorMessage(status, body),
		RetryAfter: retryAfter(h, now),
	}
	return se
}

// errorMessage is the first errors[].message of a SendGrid error body, with
// its field; the status text when the body says nothing.
func errorMessage(status int, body string) string {
	var e struct {
		Errors []struct {
			Message string `json:"message"`
			Field   any    `json:"field"`
		} `json:"errors"`
	}
	if json.Unmarshal([]byte(body), &e) == nil && len(e.Errors) > 0 && e.Errors[0].Message != "" {
		msg := e.Errors[0].Message
		if f, ok := e.Errors[0].Field.(string); ok && f != "" && f != "null" {
			msg += " (field " + f + ")"
		}
		return msg
	}
	return http.StatusText(status)
}

// retryAfter reads Retry-After (seconds or an HTTP date), else SendGrid's
// X-RateLimit-Reset (unix seconds).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if d, ok := outbox.RetryAfter(h, now); ok {
		return d
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			if t := time.Unix(n, 0); t.After(now) {
				return t.Sub(now).Round(time.Second)
			}
		}
	}
	return 0
}
