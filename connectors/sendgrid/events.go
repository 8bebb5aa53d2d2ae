// Package sendgrid is everything about SendGrid: Inbound Parse (email in,
// behind HTTP basic auth; inbound.go), the signed Event Webhook (delivery
// statuses; events.go), the sender of replies through the v3 Mail Send API
// (sender.go), the storing of attachments at ingest (media.go) and New,
// which builds all of it from the configuration (connector.go). It must not
// import fiber, Kafka clients or another provider's package.
package sendgrid

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// Provider is the provider name on normalized messages and statuses.
const Provider = "sendgrid"

const source = "/gateway/connectors/sendgrid"

// Signature headers of the Event Webhook.
const (
	SignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	TimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// MessageIDArg is the custom arg the sender (sender.go) sets to the
// gateway's message id; SendGrid echoes custom args on every event.
const MessageIDArg = "gateway_message_id"

// DefaultEventMaxAge is how far the timestamp of a signed Event Webhook
// request may be from the gateway's clock, either way.
const DefaultEventMaxAge = 10 * time.Minute

// Events handles POST /webhooks/sendgrid/events.
type Events struct {
	key *ecdsa.PublicKey
	// MaxAge bounds the distance between the signed timestamp and Now, in
	// the past or the future (DefaultEventMaxAge when zero): a request
	// captured once cannot be replayed later. Refused as a bad signature.
	MaxAge time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// NewEvents parses the verification key of the signed Event Webhook
// (base64 DER, as SendGrid shows it).
func NewEvents(publicKey string) (*Events, error) {
	k, err := eventwebhook.ConvertPublicKeyBase64ToECDSA(strings.TrimSpace(publicKey))
	if err != nil {
		return nil, fmt.Errorf("sendgrid: event webhook public key: %w", err)
	}
	return &Events{key: k}, nil
}

// Handle verifies the ECDSA signature over timestamp + raw body with
// sendgrid-go, and that the timestamp is within MaxAge of now, then turns
// each event of the batch into a delivery status.
func (h *Events) Handle(ctx context.Context, r *webhook.Request) (webhook.Result, error) {
	sig, ts := r.Header.Get(SignatureHeader), r.Header.Get(TimestampHeader)
	if sig == "" || ts == "" {
		return webhook.Result{}, fmt.Errorf("sendgrid: %w: %s and %s are required", webhook.ErrSignature, SignatureHeader, TimestampHeader)
	}
	if err := h.fresh(ts); err != nil {
		return webhook.Result{}, err
	}
	ok, err := eventwebhook.VerifySignature(h.key, r.Body, sig, ts)
	if err != nil || !ok {
		return webhook.Result{}, fmt.Errorf("sendgrid: %w: event webhook signature does not match", webhook.ErrSignature)
	}
	return ReplayEvents(ctx, r)
}

// ReplayEvents turns an Event Webhook batch kept on raw.v1 (its signature
// and timestamp were checked when it was accepted) into delivery statuses.
func ReplayEvents(_ context.Context, r *webhook.Request) (webhook.Result, error) {
	sts, ignored, err := ParseEvents(r.Body)
	if err != nil {
		return webhook.Result{}, err
	}
	res := webhook.Result{Ignored: ignored}
	for _, st := range sts {
		ev, err := webhook.StatusEvent(source, st)
		if err != nil {
			return webhook.Result{}, err
		}
		res.Events = append(res.Events, ev)
	}
	return res, nil
}

// fresh checks the signed timestamp (Unix seconds) against the clock.
func (h *Events) fresh(ts string) error {
	maxAge, now := h.MaxAge, time.Now
	if maxAge <= 0 {
		maxAge = DefaultEventMaxAge
	}
	if h.Now != nil {
		now = h.Now
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec < 0 {
		return fmt.Errorf("sendgrid: %w: %s %q is not a Unix time", webhook.ErrSignature, TimestampHeader, ts)
	}
	if d := now().Sub(time.Unix(sec, 0)); d > maxAge || d < -maxAge {
		return fmt.Errorf("sendgrid: %w: %s is %s away from now, more than %s (a replay, or a clock off)",
			webhook.ErrExpired, TimestampHeader, d.Round(time.Second), maxAge)
	}
	return nil
}

// statusOf maps SendGrid events onto delivery states (deferred is a
// temporary failure: queued, with the receiving server's answer); the
// engagement events (click, spamreport, unsubscribes) move no message and
// are ignored.
var statusOf = map[string]string{
	"processed": normalize.StatusSent, "deferred": normalize.StatusQueued, "delivered": normalize.StatusDelivered, "open": normalize.StatusRead,
	"bounce": normalize.StatusFailed, "dropped": normalize.StatusFailed, "blocked": normalize.StatusFailed,
}

// ParseEvents turns an Event Webhook batch into statuses; it returns how
// many events carried nothing to apply.
func ParseEvents(body []byte) ([]normalize.Status, int, error) {
	var raw []map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, 0, fmt.Errorf("sendgrid: %w: events are not a JSON array of objects: %v", webhook.ErrMalformed, err)
	}
	var out []normalize.Status
	ignored := 0
	for _, e := range raw {
		event, id := str(e["event"]), str(e["sg_message_id"])
		st, known := statusOf[event]
		if !known || id == "" {
			ignored++ // engagement events, and asynchronous bounces with no message id
			continue
		}
		if i := strings.IndexByte(id, '.'); i > 0 {
			id = id[:i] // the X-Message-Id of the send
		}
		s := normalize.Status{Provider: Provider, ProviderMessageID: id, Channel: normalize.ChannelEmail, Status: st,
			ProviderStatus: event, MessageID: str(e[MessageIDArg]), At: unix(e["timestamp"])}
		if addr, _, err := normalize.CanonicalEmail(str(e["email"])); err == nil {
			s.Recipient = &normalize.Party{Kind: normalize.KindEmail, Address: addr}
		}
		if event == "deferred" {
			s.ErrorMessage = str(e["response"])
		}
		if st == normalize.StatusFailed {
			s.ErrorCode = str(e["status"])
			if s.ErrorCode == "" {
				s.ErrorCode = event
			}
			s.ErrorMessage = str(e["reason"])
		}
		out = append(out, s)
	}
	return out, ignored, nil
}

func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

func unix(raw json.RawMessage) time.Time {
	n, err := strconv.ParseInt(strings.Trim(string(raw), `"`), 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}
