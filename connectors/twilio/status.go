package twilio

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// Status handles POST /webhooks/twilio/status: delivery callbacks of
// messages the gateway sent.
type Status struct{ Verifier *Verifier }

// Handle verifies and parses a status callback.
func (h Status) Handle(_ context.Context, r *webhook.Request) (webhook.Result, error) {
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
	return status(r, form)
}

// ReplayStatus parses a status callback kept on raw.v1 (its signature was
// checked when it was accepted).
func ReplayStatus(_ context.Context, r *webhook.Request) (webhook.Result, error) {
	form, err := parseForm(r)
	if err != nil {
		return webhook.Result{}, err
	}
	return status(r, form)
}

func status(r *webhook.Request, form url.Values) (webhook.Result, error) {
	st, err := ParseStatus(form, r.ReceivedAt)
	if err != nil {
		return webhook.Result{}, err
	}
	// The gateway names its message in the callback URL it gives Twilio.
	st.MessageID = r.Query.Get(CallbackParam)
	ev, err := webhook.StatusEvent(source, st)
	if err != nil {
		return webhook.Result{}, err
	}
	return webhook.Result{Events: []webhook.Event{ev}}, nil
}

// statusOf maps Twilio's MessageStatus onto the gateway's delivery states.
var statusOf = map[string]string{
	"accepted": normalize.StatusQueued, "scheduled": normalize.StatusQueued, "queued": normalize.StatusQueued,
	"sending": normalize.StatusQueued, "sent": normalize.StatusSent, "delivered": normalize.StatusDelivered,
	"partially_delivered": normalize.StatusDelivered, "read": normalize.StatusRead,
	"undelivered": normalize.StatusFailed, "failed": normalize.StatusFailed, "canceled": normalize.StatusFailed,
}

// ParseStatus turns a status callback form into a normalized status.
func ParseStatus(form url.Values, at time.Time) (normalize.Status, error) {
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	raw := strings.ToLower(form.Get("MessageStatus"))
	if raw == "" {
		raw = strings.ToLower(form.Get("SmsStatus"))
	}
	if sid == "" || raw == "" {
		return normalize.Status{}, fmt.Errorf("twilio: %w: MessageSid and MessageStatus are required", webhook.ErrMalformed)
	}
	if form.Get("EventType") == "READ" {
		raw = "read"
	}
	st, ok := statusOf[raw]
	if !ok {
		return normalize.Status{}, fmt.Errorf("twilio: %w: unknown MessageStatus %q", webhook.ErrMalformed, raw)
	}
	out := normalize.Status{Provider: Provider, ProviderMessageID: sid, Status: st, ProviderStatus: raw,
		ErrorCode: form.Get("ErrorCode"), ErrorMessage: form.Get("ChannelStatusMessage"), At: at.UTC()}
	if to := form.Get("To"); to != "" {
		channel := normalize.ChannelSMS
		if strings.HasPrefix(strings.ToLower(to), "whatsapp:") {
			channel = normalize.ChannelWhatsApp
		}
		if p, err := party(to, channel); err == nil {
			out.Channel, out.Recipient = channel, &p
		}
	}
	return out, nil
}

// CallbackParam is the status-callback query parameter naming the gateway's
// message (set by the outbox's Twilio sender).
const CallbackParam = "gateway_message_id"
