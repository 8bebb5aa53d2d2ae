package meta

// The sender, through Meta's Graph API: WhatsApp Cloud API messages
// (POST /{version}/{phone_number_id}/messages) and Messenger and Instagram
// Send API messages (POST /{version}/me/messages).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// Defaults for SenderConfig.
const (
	DefaultGraphURL = "https://graph.facebook.com"
	DefaultVersion  = "v23.0"
)

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 1 << 20

// DefaultUserAgent is sent when SenderConfig.UserAgent is empty.
const DefaultUserAgent = "gateway/0.0.0"

// SenderConfig configures a Sender. A channel whose token is empty is refused with
// a permanent error.
type SenderConfig struct {
	// GraphURL is the Graph API host without version (META_GRAPH_URL),
	// default https://graph.facebook.com.
	GraphURL string
	// Version is the Graph API version (META_GRAPH_VERSION), default v23.0.
	Version string
	// WhatsAppToken and PhoneNumberID send WhatsApp messages; a Send whose
	// From address is a phone number id (digits, no "+") sends from that
	// number instead of PhoneNumberID.
	WhatsAppToken string
	PhoneNumberID string
	// PageToken sends Messenger and Instagram messages (the Page linked to
	// the Instagram account).
	PageToken string
	// UserAgent is sent on every request. The WhatsApp OpenAPI document wants
	// name/1.2.3, e.g. "gateway/1.4.0".
	UserAgent string
	// HTTPClient default: connector.APIClient with a 30 s timeout.
	HTTPClient *http.Client
}

// Sender sends WhatsApp, Messenger and Instagram messages, choosing by
// Send.Channel. It is safe for concurrent use.
type Sender struct {
	cfg  SenderConfig
	base string // GraphURL/Version
}

var _ outbox.Sender = (*Sender)(nil)

// NewSender returns a Sender, or an error naming what is wrong in cfg.
func NewSender(cfg SenderConfig) (*Sender, error) {
	var problems []string
	if cfg.GraphURL == "" {
		cfg.GraphURL = DefaultGraphURL
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	graph := strings.TrimRight(cfg.GraphURL, "/")
	if u, err := url.Parse(graph); err != nil || u.Scheme == "" || u.Host == "" {
		problems = append(problems, fmt.Sprintf("graph URL %q must be an absolute URL", cfg.GraphURL))
	}
	if !strings.HasPrefix(cfg.Version, "v") || strings.Contains(cfg.Version, "/") {
		problems = append(problems, fmt.Sprintf("graph version %q must look like v23.0", cfg.Version))
	}
	if cfg.WhatsAppToken == "" && cfg.PageToken == "" {
		problems = append(problems, "neither a WhatsApp token nor a page token is set")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("meta sender: %s", strings.Join(problems, "; "))
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = connector.APIClient(30 * time.Second)
	}
	return &Sender{cfg: cfg, base: graph + "/" + cfg.Version}, nil
}

// Send sends one message on Send.Channel: whatsapp, messenger or instagram.
//
// WhatsApp: a template (Template.Name, Language, Components), else one
// attachment (image, video, audio or document by Content-Type, with Text as
// caption), else Text. Messenger/Instagram: Text or one attachment, with
// messaging_type (default RESPONSE, MESSAGE_TAG when a Tag is given) and tag.
// Several attachments, or text with an attachment on Messenger, are
// refused: Split makes them several sends, each one provider message with
// its own id.
func (s *Sender) Send(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	switch m.Channel {
	case normalize.ChannelWhatsApp:
		return s.sendWhatsApp(ctx, m)
	case normalize.ChannelMessenger, normalize.ChannelInstagram:
		return s.sendMessenger(ctx, m)
	}
	return outbox.Result{}, invalid("channel %q is not sent through Meta", m.Channel)
}

var _ outbox.Splitter = (*Sender)(nil)

// maxCaption is the longest WhatsApp media caption, in characters.
const maxCaption = 1024

// Split implements outbox.Splitter. WhatsApp takes one attachment per
// message, with the text as its caption (not on audio, at most 1024
// characters); Messenger and Instagram take text or one attachment. A reply
// with more goes as several messages in order: the text (as the first
// attachment's caption where it can be one), then each attachment. A
// template, or anything else, is one send.
func (s *Sender) Split(m outbox.Send) []outbox.Send { return split(m) }

func split(m outbox.Send) []outbox.Send {
	if m.Template != nil || len(m.Attachments) == 0 {
		return []outbox.Send{m}
	}
	atts := m.Attachments
	var out []outbox.Send
	part := func(text string, a []normalize.Attachment) {
		p := m
		p.Text, p.Attachments = text, a
		out = append(out, p)
	}
	switch m.Channel {
	case normalize.ChannelWhatsApp:
		caption := m.Text == "" || whatsAppMediaType(atts[0].ContentType) != "audio" && utf8.RuneCountInString(m.Text) <= maxCaption
		if len(atts) == 1 && caption {
			return []outbox.Send{m}
		}
		if caption {
			part(m.Text, atts[:1])
			atts = atts[1:]
		} else {
			part(m.Text, nil)
		}
	case normalize.ChannelMessenger, normalize.ChannelInstagram:
		if len(atts) == 1 && m.Text == "" {
			return []outbox.Send{m}
		}
		if m.Text != "" {
			part(m.Text, nil)
		}
	default:
		return []outbox.Send{m}
	}
	for _, a := range atts {
		part("", []normalize.Attachment{a})
	}
	return out
}

func invalid(format string, a ...any) error {
	return &outbox.SendError{Permanent: true, Message: "meta: " + fmt.Sprintf(format, a...)}
}

func (s *Sender) sendWhatsApp(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	if s.cfg.WhatsAppToken == "" {
		return outbox.Result{}, invalid("no WhatsApp access token configured")
	}
	phoneID := s.cfg.PhoneNumberID
	if isDigits(m.From.Address) {
		phoneID = m.From.Address
	}
	if phoneID == "" {
		return outbox.Result{}, invalid("no WhatsApp phone number id to send from")
	}
	to := strings.TrimPrefix(strings.TrimPrefix(m.To.Address, "whatsapp:"), "+")
	if to == "" {
		return outbox.Result{}, invalid("no recipient address")
	}
	body := map[string]any{"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
	if m.MessageID != "" {
		// Echoed in the statuses[] webhook: the first status links a send
		// whose answer was lost (a dispatcher that died).
		body["biz_opaque_callback_data"] = m.MessageID
	}
	switch {
	case m.Template != nil:
		t := m.Template
		if t.Name == "" || t.Language == "" {
			return outbox.Result{}, invalid("a WhatsApp template needs a name and a language")
		}
		tpl := map[string]any{"name": t.Name, "language": map[string]any{"policy": "deterministic", "code": t.Language}}
		if len(t.Components) > 0 {
			tpl["components"] = t.Components
		}
		body["type"], body["template"] = "template", tpl
	case len(m.Attachments) > 1:
		return outbox.Result{}, invalid("%d attachments: WhatsApp sends one per message", len(m.Attachments))
	case len(m.Attachments) == 1:
		a := m.Attachments[0]
		if a.URL == "" {
			return outbox.Result{}, invalid("attachment without a URL")
		}
		typ := whatsAppMediaType(a.ContentType)
		media := map[string]any{"link": a.URL}
		if m.Text != "" {
			if typ == "audio" {
				return outbox.Result{}, invalid("WhatsApp audio takes no caption: send the text separately")
			}
			media["caption"] = m.Text
		}
		if typ == "document" && a.Filename != "" {
			media["filename"] = a.Filename
		}
		body["type"], body[typ] = typ, media
	case m.Text != "":
		body["type"], body["text"] = "text", map[string]any{"body": m.Text, "preview_url": false}
	default:
		return outbox.Result{}, invalid("nothing to send: no text, attachment or template")
	}
	var out struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if err := s.post(ctx, s.base+"/"+url.PathEscape(phoneID)+"/messages", s.cfg.WhatsAppToken, body, &out); err != nil {
		return outbox.Result{}, err
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		return outbox.Result{}, &outbox.SendError{HTTPStatus: http.StatusOK, Message: "meta: WhatsApp answer without a message id"}
	}
	return outbox.Result{ProviderMessageID: out.Messages[0].ID}, nil
}

func whatsAppMediaType(contentType string) string {
	switch ct := strings.ToLower(contentType); {
	case strings.HasPrefix(ct, "image/"):
		return "image"
	case strings.HasPrefix(ct, "video/"):
		return "video"
	case strings.HasPrefix(ct, "audio/"):
		return "audio"
	}
	return "document"
}

func (s *Sender) sendMessenger(ctx context.Context, m outbox.Send) (outbox.Result, error) {
	if s.cfg.PageToken == "" {
		return outbox.Result{}, invalid("no page access token configured for %s", m.Channel)
	}
	if m.To.Address == "" {
		return outbox.Result{}, invalid("no recipient id")
	}
	if m.Template != nil {
		return outbox.Result{}, invalid("templates are not supported on %s: use a message tag", m.Channel)
	}
	mt := m.MessagingType
	if mt == "" {
		mt = "RESPONSE"
		if m.Tag != "" {
			mt = "MESSAGE_TAG"
		}
	}
	body := map[string]any{"recipient": map[string]any{"id": m.To.Address}, "messaging_type": mt}
	switch mt {
	case "MESSAGE_TAG":
		if m.Tag == "" {
			return outbox.Result{}, invalid("messaging_type MESSAGE_TAG needs a tag")
		}
		body["tag"] = m.Tag
	case "RESPONSE", "UPDATE":
	default:
		return outbox.Result{}, invalid("messaging_type %q is not RESPONSE, UPDATE or MESSAGE_TAG", mt)
	}
	switch {
	case len(m.Attachments) > 1:
		return outbox.Result{}, invalid("%d attachments: %s sends one per message", len(m.Attachments), m.Channel)
	case len(m.Attachments) == 1 && m.Text != "":
		return outbox.Result{}, invalid("%s sends text and an attachment as two messages", m.Channel)
	case len(m.Attachments) == 1:
		a := m.Attachments[0]
		if a.URL == "" {
			return outbox.Result{}, invalid("attachment without a URL")
		}
		body["message"] = map[string]any{"attachment": map[string]any{
			"type":    messengerAttachmentType(a.ContentType),
			"payload": map[string]any{"url": a.URL, "is_reusable": true},
		}}
	case m.Text != "":
		body["message"] = map[string]any{"text": m.Text}
	default:
		return outbox.Result{}, invalid("nothing to send: no text or attachment")
	}
	var out struct {
		MessageID string `json:"message_id"`
	}
	if err := s.post(ctx, s.base+"/me/messages", s.cfg.PageToken, body, &out); err != nil {
		return outbox.Result{}, err
	}
	if out.MessageID == "" {
		return outbox.Result{}, &outbox.SendError{HTTPStatus: http.StatusOK, Message: "meta: Send API answer without a message id"}
	}
	return outbox.Result{ProviderMessageID: out.MessageID}, nil
}

func messengerAttachmentType(contentType string) string {
	switch ct := strings.ToLower(contentType); {
	case strings.HasPrefix(ct, "image/"):
		return "image"
	case strings.HasPrefix(ct, "video/"):
		return "video"
	case strings.HasPrefix(ct, "audio/"):
		return "audio"
	}
	return "file"
}

// post sends body as JSON with the token as a Bearer header (never in the
// URL, where it would end up in error messages and logs) and decodes a 2xx
// answer into out.
func (s *Sender) post(ctx context.Context, u, token string, body, out any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return invalid("encode request: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, &buf)
	if err != nil {
		return invalid("build request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if s.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", s.cfg.UserAgent)
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		msg := "meta: " + err.Error()
		if ctx.Err() != nil {
			msg = "meta: " + ctx.Err().Error() + ": " + err.Error()
		}
		return &outbox.SendError{Message: msg}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return classify(resp.StatusCode, resp.Header, raw, time.Now())
	}
	if err != nil {
		return &outbox.SendError{HTTPStatus: resp.StatusCode, Message: "meta: read answer: " + err.Error()}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &outbox.SendError{HTTPStatus: resp.StatusCode, Message: "meta: decode answer: " + err.Error()}
	}
	return nil
}

// transientCodes are Graph error codes a later retry can succeed on: rate
// limits (4 app, 17 user, 32 page, 613, 80007 WhatsApp account, 130429
// throughput, 131048 spam rate limit, 131056 pair rate limit) and temporary
// failures (1 unknown, 2 service, 131000 something went wrong, 131016 service
// unavailable, 133004 server temporarily unavailable).
var transientCodes = map[int]bool{
	1: true, 2: true, 4: true, 17: true, 32: true, 613: true, 80007: true,
	130429: true, 131000: true, 131016: true, 131048: true, 131056: true, 133004: true,
}

type graphError struct {
	Error struct {
		Message      string          `json:"message"`
		Type         string          `json:"type"`
		Code         int             `json:"code"`
		ErrorSubcode int             `json:"error_subcode"`
		IsTransient  bool            `json:"is_transient"`
		ErrorData    json.RawMessage `json:"error_data"`
		FBTraceID    string          `json:"fbtrace_id"`
	} `json:"error"`
}

// classify turns a non-2xx answer into an outbox.SendError: HTTP 429 and
// 5xx, the codes in transientCodes and errors Meta marks is_transient can be
// retried; every other error (131047 window closed, 131026 undeliverable,
// 100 invalid parameter, 190 token, 10/200 permission, 551 unavailable,
// 10/2018278 outside the Messenger window, ...) cannot. ProviderCode is the
// Graph error code; the subcode and fbtrace_id go into Message.
func classify(status int, h http.Header, raw []byte, now time.Time) error {
	se := &outbox.SendError{HTTPStatus: status, RetryAfter: retryAfter(h, now)}
	var ge graphError
	if json.Unmarshal(raw, &ge) != nil || ge.Error.Code == 0 && ge.Error.Message == "" {
		se.Message = "meta: " + http.StatusText(status)
		se.Permanent = status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout
		return se
	}
	e := ge.Error
	se.ProviderCode = strconv.Itoa(e.Code)
	msg := e.Message
	var data struct {
		Details string `json:"details"`
	}
	if len(e.ErrorData) > 0 && json.Unmarshal(e.ErrorData, &data) == nil && data.Details != "" {
		msg += ": " + data.Details
	}
	var extra []string
	if e.ErrorSubcode != 0 {
		extra = append(extra, "subcode "+strconv.Itoa(e.ErrorSubcode))
	}
	if e.FBTraceID != "" {
		extra = append(extra, "fbtrace_id "+e.FBTraceID)
	}
	if len(extra) > 0 {
		msg += " (" + strings.Join(extra, ", ") + ")"
	}
	se.Message = "meta: " + msg
	transient := status == http.StatusTooManyRequests || status >= 500 || transientCodes[e.Code] || e.IsTransient
	se.Permanent = !transient
	return se
}

// retryAfter reads Retry-After (seconds or an HTTP date), else the longest
// estimated_time_to_regain_access (minutes) of X-Business-Use-Case-Usage.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if d, ok := outbox.RetryAfter(h, now); ok {
		return d
	}
	var usage map[string][]struct {
		EstimatedTimeToRegainAccess int `json:"estimated_time_to_regain_access"`
	}
	var d time.Duration
	if v := h.Get("X-Business-Use-Case-Usage"); v != "" && json.Unmarshal([]byte(v), &usage) == nil {
		for _, entries := range usage {
			for _, u := range entries {
				d = max(d, time.Duration(u.EstimatedTimeToRegainAccess)*time.Minute)
			}
		}
	}
	return d
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
