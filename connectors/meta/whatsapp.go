package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// WhatsApp handles GET and POST /webhooks/whatsapp (WhatsApp Cloud API,
// object whatsapp_business_account).
type WhatsApp struct {
	AppSecret   string
	VerifyToken string
	// EntryPoints finds the entry point of each message; nil names none
	// (the core derives it).
	EntryPoints *EntryPoints
	// EntryPoint is the id of the entry point whose own route this is
	// (an app of its own), "" on the shared route.
	EntryPoint string
}

var _ webhook.Handler = WhatsApp{}

// Handle answers the subscription check or verifies and parses a notification.
func (h WhatsApp) Handle(ctx context.Context, r *webhook.Request) (webhook.Result, error) {
	return handle(ctx, r, h.AppSecret, h.VerifyToken, ParseWhatsApp, h.EntryPoints, h.EntryPoint)
}

const objectWhatsApp = "whatsapp_business_account"

type waEnvelope struct {
	Object string `json:"object"`
	Entry  []struct {
		Changes []struct {
			Field string          `json:"field"`
			Value json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type waValue struct {
	Metadata struct {
		DisplayPhoneNumber string `json:"display_phone_number"`
		PhoneNumberID      string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []json.RawMessage `json:"contacts"`
	Messages []json.RawMessage `json:"messages"`
	Statuses []json.RawMessage `json:"statuses"`
	// Echoes are the messages a person sent from the WhatsApp Business app
	// on a number shared with the Cloud API (field smb_message_echoes).
	Echoes []json.RawMessage `json:"message_echoes"`
}

// Fields of a WhatsApp notification that carry conversation events.
const (
	waFieldMessages = "messages"
	waFieldEchoes   = "smb_message_echoes"
)

type waContact struct {
	Profile struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"profile"`
	WaID   string `json:"wa_id"`
	UserID string `json:"user_id"`
}

// waMessage is the skeleton every message has; the type-specific object is
// read from the raw fields so that one odd field does not lose the message.
type waMessage struct {
	From       string   `json:"from"`
	FromUserID string   `json:"from_user_id"`
	ID         string   `json:"id"`
	Timestamp  unixTime `json:"timestamp"`
	Type       string   `json:"type"`
}

type waMedia struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
	Voice    bool   `json:"voice"`
	Animated bool   `json:"animated"`
}

type waInteractive struct {
	Type        string   `json:"type"`
	ButtonReply *waReply `json:"button_reply"`
	ListReply   *waReply `json:"list_reply"`
	NfmReply    *struct {
		Body string `json:"body"`
	} `json:"nfm_reply"`
}

type waReply struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type waStatus struct {
	ID              string    `json:"id"`
	Status          string    `json:"status"`
	Timestamp       unixTime  `json:"timestamp"`
	RecipientID     string    `json:"recipient_id"`
	RecipientUserID string    `json:"recipient_user_id"`
	Errors          []waError `json:"errors"`
	// BizOpaqueCallbackData is what the send set: the gateway's message id.
	BizOpaqueCallbackData string `json:"biz_opaque_callback_data"`
}

type waError struct {
	Code      flexString `json:"code"`
	Title     string     `json:"title"`
	Message   string     `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

// waMediaTypes are the message types whose object is a media reference.
// "voice" is the On-Premises API's name for a voice note.
var waMediaTypes = map[string]bool{"image": true, "audio": true, "video": true, "document": true, "sticker": true, "voice": true}

// waStatusOf maps WhatsApp statuses onto the gateway's delivery states. A
// played voice message has been read. Others (deleted, warning) are ignored.
var waStatusOf = map[string]string{
	"sent": normalize.StatusSent, "delivered": normalize.StatusDelivered, "read": normalize.StatusRead,
	"played": normalize.StatusRead, "failed": normalize.StatusFailed,
}

// ParseWhatsApp turns a verified WhatsApp Cloud API notification into
// messages and statuses. at is used for items without a timestamp.
func ParseWhatsApp(body []byte, at time.Time) (Batch, error) {
	var env waEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Batch{}, fmt.Errorf("meta: whatsapp: %w: %v", webhook.ErrMalformed, err)
	}
	if env.Object != objectWhatsApp {
		return Batch{}, fmt.Errorf("meta: whatsapp: %w: object %q, want %s", webhook.ErrMalformed, env.Object, objectWhatsApp)
	}
	var b Batch
	for _, e := range env.Entry {
		for _, c := range e.Changes {
			// The messages field carries messages and statuses, and
			// smb_message_echoes what a person sent from the WhatsApp Business
			// app; template, quality and account updates are not conversation
			// events.
			if c.Field != waFieldMessages && c.Field != waFieldEchoes {
				b.Ignored++
				continue
			}
			var v waValue
			if err := json.Unmarshal(c.Value, &v); err != nil {
				b.Ignored++
				continue
			}
			if len(v.Messages) == 0 && len(v.Statuses) == 0 && len(v.Echoes) == 0 {
				b.Ignored++ // errors[] only, or empty
				continue
			}
			contacts := waContacts(v.Contacts)
			business, hasBusiness := waBusiness(v.Metadata.DisplayPhoneNumber, v.Metadata.PhoneNumberID)
			for _, raw := range v.Echoes {
				m, ok := waParseEcho(raw, business, at)
				if !ok || !hasBusiness {
					b.Ignored++
					continue
				}
				b.message(m)
				b.at(v.Metadata.PhoneNumberID)
			}
			for _, raw := range v.Messages {
				m, ok := waParseMessage(raw, contacts, at)
				if !ok || !hasBusiness {
					b.Ignored++
					continue
				}
				m.To = business
				if v.Metadata.PhoneNumberID != "" {
					m.Extra["phone_number_id"] = v.Metadata.PhoneNumberID
				}
				b.message(m)
				b.at(v.Metadata.PhoneNumberID)
			}
			for _, raw := range v.Statuses {
				s, ok := waParseStatus(raw, at)
				if !ok {
					b.Ignored++
					continue
				}
				b.status(s)
				b.at(v.Metadata.PhoneNumberID)
			}
		}
	}
	return b, nil
}

// waParseEcho turns a message a person sent from the WhatsApp Business app
// into an outbound echo from the business to the customer (its "to"): a
// human reply, as Messenger's echoes are.
func waParseEcho(raw json.RawMessage, business normalize.Party, at time.Time) (normalize.Message, bool) {
	var to struct {
		To       string `json:"to"`
		ToUserID string `json:"to_user_id"`
	}
	if json.Unmarshal(raw, &to) != nil {
		return normalize.Message{}, false
	}
	customer, ok := waParty(to.To, to.ToUserID)
	if !ok {
		return normalize.Message{}, false
	}
	m, ok := waParseMessage(raw, nil, at)
	if !ok {
		return normalize.Message{}, false
	}
	m.From, m.To = business, customer
	m.Direction, m.Echo = normalize.Outbound, true
	m.Extra["origin"] = "whatsapp_business_app"
	return m, true
}

func waContacts(raws []json.RawMessage) []waContact {
	out := make([]waContact, 0, len(raws))
	for _, raw := range raws {
		var c waContact
		if json.Unmarshal(raw, &c) == nil {
			out = append(out, c)
		}
	}
	return out
}

// waParty makes the address of a WhatsApp user: E.164 from the wa_id, else
// the business-scoped user id (BSUID, US.1234), else the id as given when it
// is not a phone number.
func waParty(phone, userID string) (normalize.Party, bool) {
	if phone != "" {
		if p, err := normalize.CanonicalPhone(phone); err == nil {
			return normalize.Party{Kind: normalize.KindPhone, Address: p}, true
		}
	}
	if userID != "" {
		return normalize.Party{Kind: normalize.KindWhatsApp, Address: userID}, true
	}
	if phone != "" {
		return normalize.Party{Kind: normalize.KindWhatsApp, Address: phone}, true
	}
	return normalize.Party{}, false
}

// waBusiness makes the business's address: the display phone number in
// E.164, else the phone number id.
func waBusiness(display, phoneNumberID string) (normalize.Party, bool) {
	if p, err := normalize.CanonicalPhone(display); err == nil {
		return normalize.Party{Kind: normalize.KindPhone, Address: p}, true
	}
	if phoneNumberID != "" {
		return normalize.Party{Kind: normalize.KindWhatsApp, Address: phoneNumberID}, true
	}
	return normalize.Party{}, false
}

func waParseMessage(raw json.RawMessage, contacts []waContact, at time.Time) (normalize.Message, bool) {
	var wm waMessage
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &wm) != nil || json.Unmarshal(raw, &fields) != nil || wm.ID == "" {
		return normalize.Message{}, false
	}
	from, ok := waParty(wm.From, wm.FromUserID)
	if !ok {
		return normalize.Message{}, false
	}
	typ := wm.Type
	if typ == "" {
		typ = "unknown"
	}
	m := normalize.Message{
		MessageID: normalize.NewID(), Channel: normalize.ChannelWhatsApp, Provider: ProviderWhatsApp,
		ProviderMessageID: wm.ID, Direction: normalize.Inbound, From: from,
		ReceivedAt: wm.Timestamp.Time(at), Extra: map[string]any{"type": typ},
	}
	if c, ok := waContactOf(contacts, wm); ok {
		m.From.Name = c.Profile.Name
		if c.Profile.Username != "" {
			m.Extra["username"] = c.Profile.Username
		}
	}
	if wm.FromUserID != "" && m.From.Kind == normalize.KindPhone {
		m.Extra["user_id"] = wm.FromUserID
	}
	waContent(&m, typ, fields[typ])
	for _, k := range []string{"context", "referral", "errors", "group_id", "identity"} {
		setRaw(m.Extra, k, fields[k])
	}
	m.Kind = waNoiseKinds[typ]
	return m, true
}

// waContent fills m's text, attachments and extras from the payload of its
// type (the object under the message's "type" key).
func waContent(m *normalize.Message, typ string, payload json.RawMessage) {
	switch {
	case typ == "text":
		var t struct {
			Body string `json:"body"`
		}
		if json.Unmarshal(payload, &t) == nil {
			m.Text = t.Body
		}
	case waMediaTypes[typ]:
		var md waMedia
		if json.Unmarshal(payload, &md) != nil || md.ID == "" {
			setRaw(m.Extra, typ, payload)
			break
		}
		m.Text = md.Caption
		m.Attachments = []normalize.Attachment{{
			ContentType: md.MimeType, Filename: md.Filename, Status: "pending", ProviderRef: md.ID,
		}}
		if md.Voice || typ == "voice" {
			m.Extra["voice"] = true
		}
		if md.Animated {
			m.Extra["animated"] = true
		}
	case typ == "interactive":
		setRaw(m.Extra, typ, payload)
		var in waInteractive
		if json.Unmarshal(payload, &in) != nil {
			break
		}
		switch {
		case in.ButtonReply != nil:
			m.Text, m.Extra["payload"] = in.ButtonReply.Title, in.ButtonReply.ID
		case in.ListReply != nil:
			m.Text, m.Extra["payload"] = in.ListReply.Title, in.ListReply.ID
		case in.NfmReply != nil:
			m.Text = in.NfmReply.Body
		}
	case typ == "button":
		// A tap on a template's quick-reply button.
		setRaw(m.Extra, typ, payload)
		var bt struct {
			Payload string `json:"payload"`
			Text    string `json:"text"`
		}
		if json.Unmarshal(payload, &bt) == nil {
			m.Text, m.Extra["payload"] = bt.Text, bt.Payload
		}
	default:
		// location, contacts, reaction, order, system, request_welcome,
		// unsupported and types not known yet: kept as sent.
		setRaw(m.Extra, typ, payload)
	}
}

// waNoiseKinds are the message types that are noise (normalize.Message.Noise):
// a reaction, the chat opened for the first time, a system notice (the user
// changed their number).
var waNoiseKinds = map[string]string{
	"reaction": normalize.MessageKindReaction, "request_welcome": normalize.MessageKindGetStarted,
	"system": normalize.MessageKindSystem,
}

// waContactOf finds the profile of a message's sender.
func waContactOf(contacts []waContact, wm waMessage) (waContact, bool) {
	for _, c := range contacts {
		if (c.WaID != "" && c.WaID == wm.From) || (c.UserID != "" && c.UserID == wm.FromUserID) {
			return c, true
		}
	}
	if len(contacts) == 1 && contacts[0].WaID == "" && contacts[0].UserID == "" {
		return contacts[0], true
	}
	return waContact{}, false
}

func waParseStatus(raw json.RawMessage, at time.Time) (normalize.Status, bool) {
	var ws waStatus
	if json.Unmarshal(raw, &ws) != nil || ws.ID == "" {
		return normalize.Status{}, false
	}
	provStatus := strings.ToLower(ws.Status)
	st, ok := waStatusOf[provStatus]
	if !ok {
		return normalize.Status{}, false
	}
	out := normalize.Status{
		Provider: ProviderWhatsApp, ProviderMessageID: ws.ID, Channel: normalize.ChannelWhatsApp,
		Status: st, ProviderStatus: provStatus, At: ws.Timestamp.Time(at), MessageID: ws.BizOpaqueCallbackData,
	}
	if p, ok := waParty(ws.RecipientID, ws.RecipientUserID); ok {
		out.Recipient = &p
	}
	if len(ws.Errors) > 0 {
		e := ws.Errors[0]
		out.ErrorCode = string(e.Code)
		msg := e.Title
		if msg == "" {
			msg = e.Message
		}
		if d := e.ErrorData.Details; d != "" && d != msg {
			if msg != "" {
				msg += ": "
			}
			msg += d
		}
		out.ErrorMessage = msg
	}
	return out, true
}
