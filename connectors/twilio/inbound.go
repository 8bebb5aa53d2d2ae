package twilio

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// Provider is the provider name on normalized messages.
const Provider = "twilio"

const source = "/gateway/connectors/twilio"

// EmptyTwiML is the answer to an inbound message: no automatic reply.
var EmptyTwiML = []byte(`<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)

// maxMedia bounds NumMedia (Twilio sends at most 10 for MMS).
const maxMedia = 20

// Messaging handles POST /webhooks/twilio/messaging, and
// /webhooks/twilio/messaging/{id} for an entry point with an account of its
// own (Verifier then checks that account's signature).
type Messaging struct {
	Verifier *Verifier
	// EntryPoints finds the entry point of each message; nil names none
	// (the core derives it).
	EntryPoints *EntryPoints
	// EntryPoint is the id of the entry point whose route this is, "" on
	// the shared route.
	EntryPoint string
}

// Handle verifies and parses an inbound message.
func (h Messaging) Handle(_ context.Context, r *webhook.Request) (webhook.Result, error) {
	form, err := parseForm(r)
	if err != nil {
		// A body that is not a form cannot carry a valid signature: refused
		// as unsigned, never as malformed, so nothing is learnt without the token.
		if verr := h.Verifier.Verify(r); verr != nil {
			return webhook.Result{}, verr
		}
		return webhook.Result{}, err
	}
	if err := h.Verifier.VerifyForm(r, form); err != nil {
		return webhook.Result{}, err
	}
	return messagingAt(r, form, h.EntryPoints, h.EntryPoint)
}

// ReplayMessaging parses an inbound message kept on raw.v1 (its signature
// was checked when it was accepted).
func ReplayMessaging(_ context.Context, r *webhook.Request) (webhook.Result, error) {
	form, err := parseForm(r)
	if err != nil {
		return webhook.Result{}, err
	}
	return messagingAt(r, form, nil, "")
}

// messagingAt makes the event of a message received on the route of entry
// point fixed ("" on the shared route), naming its entry point when eps is
// set; a message no entry point takes is dead-lettered.
func messagingAt(r *webhook.Request, form url.Values, eps *EntryPoints, fixed string) (webhook.Result, error) {
	m, err := ParseMessage(form, r.ReceivedAt)
	if err != nil {
		return webhook.Result{}, err
	}
	if eps != nil {
		id, dead, err := eps.find(m.To, fixed)
		if err != nil {
			return webhook.Result{}, err
		}
		if dead != "" {
			return webhook.Result{ContentType: "text/xml", Body: EmptyTwiML, DeadLetter: webhook.DeadLetterUnknownEntryPoint,
				DeadLetterError: dead}, nil
		}
		m.EntryPoint = id
	}
	ev, err := webhook.MessageEvent(source, m)
	if err != nil {
		return webhook.Result{}, err
	}
	return webhook.Result{Events: []webhook.Event{ev}, ContentType: "text/xml", Body: EmptyTwiML}, nil
}

func parseForm(r *webhook.Request) (url.Values, error) {
	if r.Method == "GET" {
		return r.Query, nil
	}
	ct := r.Header.Get("Content-Type")
	if !isForm(ct) {
		return nil, fmt.Errorf("twilio: %w: content type %q, want application/x-www-form-urlencoded", webhook.ErrUnsupported, ct)
	}
	// Bounded before parsing: Twilio sends about 40 parameters.
	if countParams(r.Body, MaxParams) > MaxParams {
		return nil, errTooMany()
	}
	form, err := parseQuery(r.Body)
	if err != nil {
		return nil, fmt.Errorf("twilio: %w: form body: %v", webhook.ErrMalformed, err)
	}
	return form, nil
}

// ParseMessage turns the form of an inbound SMS, MMS or WhatsApp message
// into a normalized message.
func ParseMessage(form url.Values, at time.Time) (normalize.Message, error) {
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsMessageSid")
	}
	if sid == "" {
		return normalize.Message{}, fmt.Errorf("twilio: %w: MessageSid is missing", webhook.ErrMalformed)
	}
	from, to := form.Get("From"), form.Get("To")
	if from == "" || to == "" {
		return normalize.Message{}, fmt.Errorf("twilio: %w: From and To are required", webhook.ErrMalformed)
	}
	channel := normalize.ChannelSMS
	if strings.HasPrefix(strings.ToLower(from), "whatsapp:") {
		channel = normalize.ChannelWhatsApp
	}
	n := 0
	if s := form.Get("NumMedia"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 0 || n > maxMedia {
			return normalize.Message{}, fmt.Errorf("twilio: %w: NumMedia %q", webhook.ErrMalformed, s)
		}
	}
	if n > 0 && channel == normalize.ChannelSMS {
		channel = normalize.ChannelMMS
	}
	contact, err := party(from, channel)
	if err != nil {
		return normalize.Message{}, fmt.Errorf("twilio: %w: From %v", webhook.ErrMalformed, err)
	}
	contact.Name = form.Get("ProfileName")
	business, err := party(to, channel)
	if err != nil {
		return normalize.Message{}, fmt.Errorf("twilio: %w: To %v", webhook.ErrMalformed, err)
	}
	m := normalize.Message{
		MessageID: normalize.NewID(), Channel: channel, Provider: Provider, ProviderMessageID: sid,
		Direction: normalize.Inbound, From: contact, To: business, Text: form.Get("Body"), ReceivedAt: at.UTC(),
	}
	for i := 0; i < n; i++ {
		u := form.Get("MediaUrl" + strconv.Itoa(i))
		if u == "" {
			return normalize.Message{}, fmt.Errorf("twilio: %w: MediaUrl%d is missing (NumMedia=%d)", webhook.ErrMalformed, i, n)
		}
		m.Attachments = append(m.Attachments, normalize.Attachment{
			URL: u, ProviderRef: u, ContentType: form.Get("MediaContentType" + strconv.Itoa(i)), Status: "pending",
		})
	}
	m.Extra = extra(form)
	return m, nil
}

// party makes a canonical address of a Twilio address: E.164 for phones,
// with the whatsapp: prefix removed. A WhatsApp user known only by a
// business-scoped id keeps that id, with the whatsapp kind.
func party(addr, channel string) (normalize.Party, error) {
	// The address is the Kafka key and, JSON-encoded, the customer's
	// address: bytes that are not UTF-8 would differ between the two.
	if !utf8.ValidString(addr) {
		return normalize.Party{}, fmt.Errorf("%q is not UTF-8", addr)
	}
	p, err := normalize.CanonicalPhone(addr)
	if err == nil {
		return normalize.Party{Kind: normalize.KindPhone, Address: p}, nil
	}
	bare := strings.TrimSpace(addr)
	if i := strings.IndexByte(bare, ':'); i >= 0 {
		bare = bare[i+1:]
	}
	if channel == normalize.ChannelWhatsApp && bare != "" {
		return normalize.Party{Kind: normalize.KindWhatsApp, Address: bare}, nil
	}
	if isShortCode(bare) {
		return normalize.Party{Kind: normalize.KindPhone, Address: bare}, nil
	}
	return normalize.Party{}, fmt.Errorf("%q is not a phone number", addr)
}

func isShortCode(s string) bool {
	if len(s) < 3 || len(s) > 7 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// extraFields are the channel specifics kept in Message.Extra.
var extraFields = []string{"WaId", "MessageType", "ButtonText", "ButtonPayload", "Latitude", "Longitude", "Address", "Label",
	"Forwarded", "FrequentlyForwarded", "OriginalRepliedMessageSid", "OriginalRepliedMessageSender",
	"ReferralBody", "ReferralHeadline", "ReferralSourceId", "ReferralSourceType", "ReferralSourceUrl", "ReferralCtwaClid",
	"MessagingServiceSid", "AccountSid", "NumSegments"}

func extra(form url.Values) map[string]any {
	var out map[string]any
	for _, k := range extraFields {
		if v := form.Get(k); v != "" {
			if out == nil {
				out = map[string]any{}
			}
			out[k] = v
		}
	}
	return out
}
