// Package meta is everything about Meta: the WhatsApp Cloud API, Messenger
// and Instagram messaging webhooks (whatsapp.go, messenger.go, verify.go),
// the sender of replies through the Graph API (sender.go), the media fetchers
// (media.go) and New, which builds all of it from the configuration
// (connector.go). It must not import fiber, Kafka clients or another
// provider's package.
//
// With entry points (entrypoints.go), each message names the WhatsApp
// number, page or Instagram account it came to; one with a Meta app of its
// own has its own routes, and one with a token of its own its own sender
// and media fetcher.
//
// Both webhook routes share the subscription check
// (GET, hub.verify_token) and the X-Hub-Signature-256 check (POST, HMAC-SHA256
// of the raw body with the app secret); the payload formats differ.
//
// One delivery can batch many updates: every message and status becomes one
// event, in payload order. A payload that is not JSON, or whose object is not
// the route's, is malformed (400). Inside a well-formed envelope, an item the
// gateway cannot use (an unknown field or status, a message without an id or
// sender, an item of the wrong shape) is counted in Result.Ignored rather than
// refusing the whole batch: a 400 would make Meta retry the batch, including
// its good items, for days, and the raw request stays on raw.v1 for replay.
package meta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// Provider names on normalized messages and statuses.
const (
	ProviderWhatsApp  = "meta_whatsapp"
	ProviderMessenger = "meta_messenger"
	ProviderInstagram = "meta_instagram"
)

const source = "/gateway/connectors/meta"

// Item is one useful element of a webhook: exactly one of Message and Status is set.
type Item struct {
	Message *normalize.Message
	Status  *normalize.Status
	// address is the business address the item came to (the phone number
	// id, the page or Instagram account id), which finds its entry point.
	address string
}

// Batch is what one webhook delivery carries, in payload order.
type Batch struct {
	Items []Item
	// Ignored counts the elements that carry nothing for the gateway.
	Ignored int
}

func (b *Batch) message(m normalize.Message) { b.Items = append(b.Items, Item{Message: &m}) }
func (b *Batch) status(s normalize.Status)   { b.Items = append(b.Items, Item{Status: &s}) }

// at sets the business address of the last item.
func (b *Batch) at(address string) { b.Items[len(b.Items)-1].address = address }

// Result turns the batch into the events to publish.
func (b Batch) Result() (webhook.Result, error) {
	res := webhook.Result{Ignored: b.Ignored, Events: make([]webhook.Event, 0, len(b.Items))}
	for _, it := range b.Items {
		var (
			ev  webhook.Event
			err error
		)
		switch {
		case it.Message != nil:
			ev, err = webhook.MessageEvent(source, *it.Message)
		case it.Status != nil:
			ev, err = webhook.StatusEvent(source, *it.Status)
		default:
			continue
		}
		if err != nil {
			return webhook.Result{}, fmt.Errorf("meta: build event: %w", err)
		}
		res.Events = append(res.Events, ev)
	}
	return res, nil
}

// parser turns a verified body into a batch; at is used where the payload has no time.
type parser func(body []byte, at time.Time) (Batch, error)

// handle dispatches GET to the subscription check and POST to the signature
// check, then the parser.
// eps, when set, names each message's entry point; fixed is the entry point
// whose own route this is ("" on the shared route).
func handle(_ context.Context, r *webhook.Request, appSecret, verifyToken string, parse parser, eps *EntryPoints, fixed string) (webhook.Result, error) {
	if r == nil {
		return webhook.Result{}, fmt.Errorf("meta: %w: no request", webhook.ErrMalformed)
	}
	switch {
	case strings.EqualFold(r.Method, http.MethodGet):
		return Subscribe(r, verifyToken)
	case strings.EqualFold(r.Method, http.MethodPost):
	default:
		return webhook.Result{}, fmt.Errorf("meta: %w: method %q, want GET or POST", webhook.ErrMalformed, r.Method)
	}
	if err := (Verifier{AppSecret: appSecret}).Verify(r.Header, r.Body); err != nil {
		return webhook.Result{}, err
	}
	return parseResult(r, parse, eps, fixed)
}

// replay parses a delivery kept on raw.v1 (its signature was checked when
// it was accepted).
func replay(parse parser) webhook.HandlerFunc {
	return func(_ context.Context, r *webhook.Request) (webhook.Result, error) {
		if err := replayable(r); err != nil {
			return webhook.Result{}, err
		}
		return parseResult(r, parse, nil, "")
	}
}

func replayable(r *webhook.Request) error {
	if r == nil || !strings.EqualFold(r.Method, http.MethodPost) {
		return fmt.Errorf("meta: %w: only a POST delivery can be replayed", webhook.ErrMalformed)
	}
	return nil
}

// parseResult parses a verified delivery; with eps, each message names its
// entry point, and the messages no entry point takes are dead-lettered (the
// delivery's other items are still filed).
func parseResult(r *webhook.Request, parse parser, eps *EntryPoints, fixed string) (webhook.Result, error) {
	b, err := parse(r.Body, r.ReceivedAt)
	if err != nil {
		return webhook.Result{}, err
	}
	var dead string
	if eps != nil {
		if dead, err = eps.apply(&b, fixed); err != nil {
			return webhook.Result{}, err
		}
	}
	res, err := b.Result()
	if err != nil {
		return webhook.Result{}, err
	}
	if dead != "" {
		res.DeadLetter, res.DeadLetterError = webhook.DeadLetterUnknownEntryPoint, dead
	}
	return res, nil
}

// unixTime is a Meta timestamp: seconds (WhatsApp, dashboard tests) or
// milliseconds (Messenger) since the epoch, sent as a JSON number or string.
// Anything unreadable decodes as zero, which means "not given".
type unixTime int64

func (t *unixTime) UnmarshalJSON(b []byte) error {
	*t = 0
	s := string(bytes.TrimSpace(b))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return nil
		}
		s = strings.TrimSpace(s)
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*t = unixTime(n)
	} else if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f < 1e15 {
		*t = unixTime(f)
	}
	return nil
}

// Time reads t as seconds below 1e11 (year 5138) and as milliseconds above,
// and returns fallback when t is not given or out of range, so that the
// result always fits in RFC 3339.
func (t unixTime) Time(fallback time.Time) time.Time {
	n := int64(t)
	switch {
	case n <= 0:
		return fallback.UTC()
	case n < 1e11:
		return time.Unix(n, 0).UTC()
	case n < 1e14:
		return time.UnixMilli(n).UTC()
	}
	return fallback.UTC()
}

// flexString is an id Meta may send as a JSON string or number (app_id, error codes).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	*f = ""
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// rawValue decodes a JSON fragment for Message.Extra, keeping numbers as
// written (json.Number). It returns nil for an absent, null or invalid fragment.
func rawValue(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	return v
}

// setRaw stores a JSON fragment in extra under key when it holds something.
func setRaw(extra map[string]any, key string, raw json.RawMessage) {
	if v := rawValue(raw); v != nil {
		extra[key] = v
	}
}

// derivedID is a stable provider message id for an event Meta gives no id
// to (postbacks, referrals, reactions): the same delivery retried by Meta
// yields the same id, so the core drops the duplicate.
func derivedID(kind string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return kind + ":" + hex.EncodeToString(h.Sum(nil)[:16])
}
