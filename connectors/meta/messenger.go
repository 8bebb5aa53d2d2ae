package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// Messenger handles GET and POST /webhooks/messenger: Facebook Messenger
// (object page) and Instagram messaging (object instagram), which share the
// Messenger Platform's format.
type Messenger struct {
	AppSecret   string
	VerifyToken string
	// EntryPoints finds the entry point of each message; nil names none
	// (the core derives it).
	EntryPoints *EntryPoints
	// EntryPoint is the id of the entry point whose own route this is
	// (an app of its own), "" on the shared route.
	EntryPoint string
}

var _ webhook.Handler = Messenger{}

// Handle answers the subscription check or verifies and parses a notification.
func (h Messenger) Handle(ctx context.Context, r *webhook.Request) (webhook.Result, error) {
	return handle(ctx, r, h.AppSecret, h.VerifyToken, ParseMessenger, h.EntryPoints, h.EntryPoint)
}

// fbChannel is what the envelope's object decides.
type fbChannel struct{ channel, kind, provider string }

var fbObjects = map[string]fbChannel{
	"page":      {normalize.ChannelMessenger, normalize.KindMessenger, ProviderMessenger},
	"instagram": {normalize.ChannelInstagram, normalize.KindInstagram, ProviderInstagram},
}

// fbChangeFields are the subscription fields whose change value is one
// messaging event, for notifications in the field/value shape (the App
// Dashboard's test notifications).
var fbChangeFields = map[string]bool{
	"messages": true, "messaging_postbacks": true, "messaging_referrals": true, "message_deliveries": true,
	"message_reads": true, "messaging_seen": true, "message_echoes": true, "message_reactions": true,
}

type fbEnvelope struct {
	Object string `json:"object"`
	Entry  []struct {
		ID        flexString        `json:"id"`
		Messaging []json.RawMessage `json:"messaging"`
		// Standby carries the events of threads another app controls
		// (handover protocol).
		Standby []json.RawMessage `json:"standby"`
		Changes []struct {
			Field string          `json:"field"`
			Value json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type fbUser struct {
	ID      flexString `json:"id"`
	UserRef flexString `json:"user_ref"`
}

type fbEvent struct {
	Sender    fbUser          `json:"sender"`
	Recipient fbUser          `json:"recipient"`
	Timestamp unixTime        `json:"timestamp"`
	Message   json.RawMessage `json:"message"`
	Postback  json.RawMessage `json:"postback"`
	Delivery  json.RawMessage `json:"delivery"`
	Read      json.RawMessage `json:"read"`
	Reaction  json.RawMessage `json:"reaction"`
	Referral  json.RawMessage `json:"referral"`
}

type fbMessage struct {
	Mid           flexString `json:"mid"`
	Text          string     `json:"text"`
	IsEcho        bool       `json:"is_echo"`
	IsDeleted     bool       `json:"is_deleted"`
	IsUnsupported bool       `json:"is_unsupported"`
	AppID         flexString `json:"app_id"`
	Metadata      string     `json:"metadata"`
	QuickReply    *struct {
		Payload string `json:"payload"`
	} `json:"quick_reply"`
	Attachments []json.RawMessage `json:"attachments"`
	ReplyTo     json.RawMessage   `json:"reply_to"`
	Referral    json.RawMessage   `json:"referral"`
}

type fbAttachment struct {
	Type    string `json:"type"`
	Payload struct {
		URL string `json:"url"`
	} `json:"payload"`
}

type fbPostback struct {
	Mid      flexString      `json:"mid"`
	Title    string          `json:"title"`
	Payload  string          `json:"payload"`
	Referral json.RawMessage `json:"referral"`
}

// ParseMessenger turns a verified Messenger or Instagram notification into
// messages and statuses. at is used for items without a timestamp.
func ParseMessenger(body []byte, at time.Time) (Batch, error) {
	var env fbEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Batch{}, fmt.Errorf("meta: messenger: %w: %v", webhook.ErrMalformed, err)
	}
	ch, ok := fbObjects[env.Object]
	if !ok {
		return Batch{}, fmt.Errorf("meta: messenger: %w: object %q, want page or instagram", webhook.ErrMalformed, env.Object)
	}
	p := fbParser{ch: ch, at: at}
	for _, e := range env.Entry {
		if len(e.Messaging) == 0 && len(e.Standby) == 0 && len(e.Changes) == 0 {
			p.b.Ignored++
			continue
		}
		for _, raw := range e.Messaging {
			p.event(raw, string(e.ID), false)
		}
		for _, raw := range e.Standby {
			p.event(raw, string(e.ID), true)
		}
		for _, c := range e.Changes {
			if !fbChangeFields[c.Field] {
				p.b.Ignored++
				continue
			}
			p.event(c.Value, string(e.ID), false)
		}
	}
	return p.b, nil
}

type fbParser struct {
	ch fbChannel
	at time.Time
	b  Batch
}

func (p *fbParser) party(id string) normalize.Party {
	return normalize.Party{Kind: p.ch.kind, Address: id}
}

// event parses one messaging[] item: exactly one of message, postback,
// delivery, read, reaction or referral. Anything else (optin,
// account_linking, handover control, policy notices) is ignored.
func (p *fbParser) event(raw json.RawMessage, entryID string, standby bool) {
	var ev fbEvent
	if json.Unmarshal(raw, &ev) != nil {
		p.b.Ignored++
		return
	}
	// A user of the checkbox or chat plugin may be known by a user_ref
	// only; it stands in for the PSID and is flagged in Extra.
	sender, userRef := string(ev.Sender.ID), false
	if sender == "" && ev.Sender.UserRef != "" {
		sender, userRef = string(ev.Sender.UserRef), true
	}
	recipient := string(ev.Recipient.ID)
	if recipient == "" {
		recipient = string(ev.Recipient.UserRef)
	}
	if sender == "" {
		p.b.Ignored++
		return
	}
	var ok bool
	first := len(p.b.Items)
	switch {
	case isSet(ev.Message):
		ok = p.message(ev, sender, recipient, entryID)
	case isSet(ev.Postback):
		ok = p.postback(ev, sender, recipient, entryID)
	case isSet(ev.Delivery):
		ok = p.delivery(ev, sender)
	case isSet(ev.Read):
		ok = p.read(ev, sender)
	case isSet(ev.Reaction):
		ok = p.other(ev, normalize.MessageKindReaction, ev.Reaction, sender, recipient, entryID)
	case isSet(ev.Referral):
		ok = p.other(ev, normalize.MessageKindReferral, ev.Referral, sender, recipient, entryID)
	}
	if !ok {
		p.b.Ignored++
		return
	}
	p.business(first, entryID, recipient)
	if last := p.b.Items[len(p.b.Items)-1].Message; last != nil {
		if standby {
			last.Extra["standby"] = true
		}
		if userRef {
			last.Extra["user_ref"] = true
		}
	}
}

// business sets the business address of the items from first on: the
// entry's page or account id, else the page the event names (the
// recipient of a message or receipt, the sender of an echo).
func (p *fbParser) business(first int, entryID, recipient string) {
	for i := first; i < len(p.b.Items); i++ {
		it := &p.b.Items[i]
		switch {
		case entryID != "":
			it.address = entryID
		case it.Message != nil && it.Message.Echo:
			it.address = it.Message.From.Address
		case it.Message != nil:
			it.address = it.Message.To.Address
		default:
			it.address = recipient
		}
	}
}

func isSet(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) > 0 && !bytes.Equal(s, []byte("null"))
}

// newMessage is an inbound message from sender to the page (recipient,
// else the entry's page or account id); false when the page is unknown.
func (p *fbParser) newMessage(ev fbEvent, kind, id, sender, recipient, entryID string) (normalize.Message, bool) {
	if recipient == "" {
		recipient = entryID
	}
	if recipient == "" {
		return normalize.Message{}, false
	}
	return normalize.Message{
		MessageID: normalize.NewID(), Channel: p.ch.channel, Provider: p.ch.provider, ProviderMessageID: id,
		Direction: normalize.Inbound, From: p.party(sender), To: p.party(recipient),
		ReceivedAt: ev.Timestamp.Time(p.at), Extra: map[string]any{"type": kind},
	}, true
}

func (p *fbParser) message(ev fbEvent, sender, recipient, entryID string) bool {
	var fm fbMessage
	if json.Unmarshal(ev.Message, &fm) != nil || fm.IsDeleted {
		return false // an unsent (deleted) Instagram message has nothing to record
	}
	if fm.IsEcho && recipient == "" {
		return false
	}
	id := string(fm.Mid)
	if id == "" {
		id = derivedID("message", sender, strconv.FormatInt(int64(ev.Timestamp), 10), string(compact(ev.Message)))
	}
	m, ok := p.newMessage(ev, "message", id, sender, recipient, entryID)
	if !ok {
		return false
	}
	m.Text = fm.Text
	if fm.IsEcho {
		// The page's own message, sent from another tool (or by us) and
		// reported back: sender is the page, recipient the user.
		m.Direction, m.Echo = normalize.Outbound, true
		if fm.AppID != "" {
			m.Extra["app_id"] = string(fm.AppID)
		}
		if fm.Metadata != "" {
			m.Extra["metadata"] = fm.Metadata
		}
	}
	if fm.QuickReply != nil {
		m.Extra["payload"] = fm.QuickReply.Payload
	}
	if fm.IsUnsupported {
		m.Extra["unsupported"] = true
	}
	// Files become attachments; when any attachment is not a file (a
	// location, a like, a shared link or template), the list is also kept
	// as sent in Extra["attachments"].
	keepAll := false
	var all []any
	for _, raw := range fm.Attachments {
		all = append(all, rawValue(raw))
		var a fbAttachment
		if json.Unmarshal(raw, &a) != nil || a.Payload.URL == "" || a.Type == "template" || a.Type == "fallback" {
			keepAll = true
			continue
		}
		// Meta's CDN links expire: the core copies the file into the media
		// store (the Messenger fetcher downloads it) and links to the copy.
		m.Attachments = append(m.Attachments, normalize.Attachment{URL: a.Payload.URL, ProviderRef: a.Payload.URL,
			Status: "pending"})
	}
	if keepAll {
		m.Extra["attachments"] = all
	}
	setRaw(m.Extra, "reply_to", fm.ReplyTo)
	setRaw(m.Extra, "referral", fm.Referral)
	if m.Text == "" && len(m.Attachments) == 0 && !keepAll && fm.QuickReply == nil && !fm.IsUnsupported && !fm.IsEcho {
		return false
	}
	p.b.message(m)
	return true
}

// postback is a tap on a button, the Get Started button or an Instagram ice
// breaker. Older postbacks have no mid: the id is derived from the sender,
// the timestamp and the payload, so that Meta's retries dedupe.
func (p *fbParser) postback(ev fbEvent, sender, recipient, entryID string) bool {
	var pb fbPostback
	if json.Unmarshal(ev.Postback, &pb) != nil {
		return false
	}
	id := string(pb.Mid)
	if id == "" {
		id = derivedID("postback", sender, strconv.FormatInt(int64(ev.Timestamp), 10), pb.Payload)
	}
	m, ok := p.newMessage(ev, "postback", id, sender, recipient, entryID)
	if !ok {
		return false
	}
	m.Text = pb.Title
	m.Extra["payload"] = pb.Payload
	setRaw(m.Extra, "referral", pb.Referral)
	if p.ch.channel == normalize.ChannelMessenger && isGetStarted(pb) {
		m.Kind = normalize.MessageKindGetStarted
	}
	p.b.message(m)
	return true
}

// isGetStarted reports whether a Messenger postback is a tap on the Get
// Started button of the welcome screen: Meta titles it "Get Started"; a
// page's get_started payload is its own, GET_STARTED by convention.
// Instagram has no such button: its ice breakers are questions the
// customer picked, whatever their payload.
func isGetStarted(pb fbPostback) bool {
	return strings.EqualFold(strings.TrimSpace(pb.Title), "get started") ||
		strings.EqualFold(strings.TrimSpace(pb.Payload), "get_started")
}

// other records an event Meta gives no id to (a referral from an m.me link
// or an ad, a reaction to a message) as a message without text, of that
// kind (noise: normalize.Message.Noise), its details in Extra, with an id
// derived from the sender, the timestamp and the event.
func (p *fbParser) other(ev fbEvent, kind string, raw json.RawMessage, sender, recipient, entryID string) bool {
	v := rawValue(raw)
	if v == nil {
		return false
	}
	id := derivedID(kind, sender, strconv.FormatInt(int64(ev.Timestamp), 10), string(compact(raw)))
	m, ok := p.newMessage(ev, kind, id, sender, recipient, entryID)
	if !ok {
		return false
	}
	m.Extra[kind] = v
	m.Kind = kind
	p.b.message(m)
	return true
}

// delivery gives one delivered status per mid.
func (p *fbParser) delivery(ev fbEvent, user string) bool {
	var d struct {
		Mids      []string `json:"mids"`
		Watermark unixTime `json:"watermark"`
	}
	if json.Unmarshal(ev.Delivery, &d) != nil {
		return false
	}
	at := ev.Timestamp.Time(d.Watermark.Time(p.at))
	n := 0
	for _, mid := range d.Mids {
		if mid == "" {
			continue
		}
		p.b.status(p.status(mid, normalize.StatusDelivered, user, at))
		n++
	}
	if n == 0 && d.Watermark > 0 {
		// "watermark is always present and mids is sometimes present."
		p.b.status(p.status(WatermarkID(user, int64(d.Watermark)), normalize.StatusDelivered, user, d.Watermark.Time(p.at)))
		n++
	}
	return n > 0
}

// read is a read receipt. Messenger's names no message: every message sent
// to the user at or before the watermark has been read. It becomes one
// status whose ProviderMessageID is WatermarkID(user, watermark)
// ("watermark:<psid>:<ms>") and whose At is the watermark; the consumer
// applies it to the outbound messages to that user sent at or before At
// (ParseWatermarkID). An Instagram read (messaging_seen) that names a mid
// is a plain status of that message.
func (p *fbParser) read(ev fbEvent, user string) bool {
	var r struct {
		Mid       flexString `json:"mid"`
		Watermark unixTime   `json:"watermark"`
	}
	if json.Unmarshal(ev.Read, &r) != nil {
		return false
	}
	switch {
	case r.Mid != "":
		p.b.status(p.status(string(r.Mid), normalize.StatusRead, user, ev.Timestamp.Time(r.Watermark.Time(p.at))))
	case r.Watermark > 0:
		p.b.status(p.status(WatermarkID(user, int64(r.Watermark)), normalize.StatusRead, user, r.Watermark.Time(p.at)))
	default:
		return false
	}
	return true
}

func (p *fbParser) status(id, st, user string, at time.Time) normalize.Status {
	u := p.party(user)
	return normalize.Status{Provider: p.ch.provider, ProviderMessageID: id, Channel: p.ch.channel,
		Status: st, ProviderStatus: st, Recipient: &u, At: at}
}

// WatermarkPrefix starts the ProviderMessageID of a Messenger receipt that
// names no message (a read, or a delivery without mids).
const WatermarkPrefix = normalize.WatermarkPrefix

// WatermarkID is the ProviderMessageID of a receipt covering every message
// sent to user up to watermark (milliseconds since the epoch, as sent).
func WatermarkID(user string, watermark int64) string { return normalize.WatermarkID(user, watermark) }

// ParseWatermarkID reverses WatermarkID.
func ParseWatermarkID(id string) (user string, watermark time.Time, ok bool) {
	return normalize.ParseWatermarkID(id)
}

// compact removes insignificant space, so that derived ids do not depend on
// formatting; invalid JSON is returned as is.
func compact(raw json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}
