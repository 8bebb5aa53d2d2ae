// Package normalize holds the gateway's provider-neutral types: the normalized
// message, the inbound events the connectors publish, canonical addresses and
// the CloudEvents codec. It does no I/O.
package normalize

import (
	"strconv"
	"strings"
	"time"
)

// Channels a message can travel on.
const (
	ChannelSMS       = "sms"
	ChannelMMS       = "mms"
	ChannelWhatsApp  = "whatsapp"
	ChannelMessenger = "messenger"
	ChannelInstagram = "instagram"
	ChannelEmail     = "email"
	ChannelChat      = "chat"
	// ChannelVoice carries phone calls: one message per call (Kind
	// MessageKindCall), replied to by SMS from the number that was called.
	ChannelVoice = "voice"
)

// Address kinds. SMS, MMS and WhatsApp share KindPhone so that one customer's
// messages on those channels land in one conversation.
const (
	KindPhone     = "phone"
	KindEmail     = "email"
	KindMessenger = "messenger" // page-scoped id (PSID) or page id
	KindInstagram = "instagram" // Instagram-scoped id (IGSID) or account id
	KindChat      = "chat"      // web chat visitor id
	KindWhatsApp  = "whatsapp"  // WhatsApp business-scoped user id without a phone number
)

// Message kinds (Message.Kind): what a message is besides text. Empty is an
// ordinary message.
const (
	// MessageKindCall is a phone call; Message.Call says how it went.
	MessageKindCall = "call"

	// The kinds below are noise: kept and published, but they never start,
	// reopen or wake a conversation, never count as unreplied or as a reply,
	// and never open a 24-hour window (Message.Noise).

	// MessageKindReaction is an emoji reaction to a message (or its removal).
	MessageKindReaction = "reaction"
	// MessageKindReadReceipt is a read receipt that came as a message
	// rather than as a delivery status.
	MessageKindReadReceipt = "read_receipt"
	// MessageKindReferral is referral or ad metadata without text: the
	// customer came through an m.me link, an ad or a QR code.
	MessageKindReferral = "referral"
	// MessageKindGetStarted is the customer opening the chat: Messenger's
	// Get Started button, WhatsApp's request_welcome.
	MessageKindGetStarted = "get_started"
	// MessageKindSystem is a notice of the channel itself (a WhatsApp user
	// changed their number).
	MessageKindSystem = "system"
)

var noiseKinds = map[string]bool{MessageKindReaction: true, MessageKindReadReceipt: true, MessageKindReferral: true,
	MessageKindGetStarted: true, MessageKindSystem: true}

// Noise reports whether a message is noise: a reaction, a read receipt,
// referral metadata without text, a Get Started tap or a system notice.
func (m *Message) Noise() bool { return noiseKinds[m.Kind] }

// Call states (Call.Status), in the order a call can reach them: it rings;
// nobody answers (missed) or someone does (answered); the caller leaves a
// voicemail. A missed call and a voicemail wait for a reply; an answered
// call does not.
const (
	CallRinging   = "ringing"
	CallMissed    = "missed"
	CallAnswered  = "answered"
	CallVoicemail = "voicemail"
)

var callRank = map[string]int{CallRinging: 0, CallMissed: 1, CallAnswered: 2, CallVoicemail: 3}

// CallAdvances reports whether a call may move from one state to another:
// only forward (ringing → missed → answered → voicemail), so a late or
// repeated callback never undoes what a later one said. Unknown states
// never advance.
func CallAdvances(from, to string) bool {
	f, ok1 := callRank[from]
	t, ok2 := callRank[to]
	return ok1 && ok2 && t > f
}

// Call is what a call message says of the call.
type Call struct {
	// Status is ringing, missed, answered or voicemail.
	Status string `json:"status"`
	// Direction is inbound (the customer called) or outbound.
	Direction string `json:"direction"`
	// DurationSeconds is how long the call lasted, once known (0 before).
	DurationSeconds int `json:"duration_seconds"`
}

// Directions of a message.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Party is one end of a message.
type Party struct {
	Kind    string `json:"kind"`
	Address string `json:"address"`
	Name    string `json:"name,omitempty"`
}

// Attachment is a file carried by a message.
type Attachment struct {
	URL         string `json:"url"`
	ContentType string `json:"content_type,omitempty"`
	Filename    string `json:"filename,omitempty"`
	Size        int64  `json:"size,omitempty"`
	// Status is empty or "stored" when the file is available at URL, "pending"
	// while it is being copied, "failed" when it could not be fetched (Error says why).
	Status string `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// ProviderRef is how the provider names the file (a media id or URL), kept
	// so that a failed copy can be retried.
	ProviderRef string `json:"provider_ref,omitempty"`
}

// Thread carries email threading headers.
type Thread struct {
	MessageID  string   `json:"message_id,omitempty"`
	InReplyTo  string   `json:"in_reply_to,omitempty"`
	References []string `json:"references,omitempty"`
}

// Message is the normalized message every channel is turned into.
type Message struct {
	MessageID         string       `json:"message_id"`
	Channel           string       `json:"channel"`
	Provider          string       `json:"provider"`
	ProviderMessageID string       `json:"provider_message_id,omitempty"`
	Direction         string       `json:"direction"`
	From              Party        `json:"from"`
	To                Party        `json:"to"`
	Text              string       `json:"text,omitempty"`
	Subject           string       `json:"subject,omitempty"`
	HTML              string       `json:"html,omitempty"`
	Thread            *Thread      `json:"thread,omitempty"`
	Attachments       []Attachment `json:"attachments,omitempty"`
	ReceivedAt        time.Time    `json:"received_at"`
	// Echo marks a message the business sent from another tool that the
	// provider reports back (Messenger echoes): recorded, not customer input.
	Echo bool `json:"echo,omitempty"`
	// SenderVerified is set on inbound email: true when SPF or DKIM
	// authenticated a domain aligned with the From address, false when
	// neither did (the From may be forged). Nil on other channels, where
	// the provider authenticates the sender.
	SenderVerified *bool `json:"sender_verified,omitempty"`
	// Extra holds channel specifics that have no common field (location,
	// interactive replies, postbacks, referrals, reactions).
	Extra map[string]any `json:"extra,omitempty"`
	// Kind says what the message is when it is not plain text
	// (MessageKindCall, or one of the noise kinds); empty for an ordinary
	// message.
	Kind string `json:"kind,omitempty"`
	// Call is set on a call message (Kind MessageKindCall).
	Call *Call `json:"call,omitempty"`
	// EntryPoint is the id of the entry point the message came in at (the
	// GATEWAY_ENTRY_POINTS file's, found by the business address or the
	// webhook route); empty when the connector did not say, and the core
	// derives one from provider and channel.
	EntryPoint string `json:"entry_point,omitempty"`
}

// AwaitsReply reports whether an inbound message asks for an answer: every
// message does, except noise and a call that was answered or is still
// ringing.
func (m *Message) AwaitsReply() bool {
	if m.Noise() {
		return false
	}
	if m.Kind != MessageKindCall {
		return true
	}
	return m.Call != nil && (m.Call.Status == CallMissed || m.Call.Status == CallVoicemail)
}

// Update changes a message the gateway already has, named by its
// provider's id: a call's outcome and duration, its recording, its
// transcription. Fields left empty change nothing.
type Update struct {
	Provider          string `json:"provider"`
	ProviderMessageID string `json:"provider_message_id"`
	// Channel and Contact are the message's channel and customer: the
	// update's Kafka key, which keeps it behind the message it changes.
	Channel string `json:"channel"`
	Contact Party  `json:"contact"`
	// Call carries a new call state (only a forward move applies) and,
	// when not 0, the call's duration.
	Call *Call `json:"call,omitempty"`
	// Text replaces the message's text (a voicemail's transcription).
	Text string `json:"text,omitempty"`
	// Attachments are added to the message's, unless one with the same
	// ProviderRef is there already (a voicemail's recording).
	Attachments []Attachment `json:"attachments,omitempty"`
	At          time.Time    `json:"at"`
}

// Apply changes m by u and reports whether anything changed.
func (u *Update) Apply(m *Message) bool {
	changed := false
	if c := u.Call; c != nil {
		if m.Call == nil {
			m.Call = &Call{Status: CallRinging, Direction: c.Direction}
		}
		if CallAdvances(m.Call.Status, c.Status) {
			m.Call.Status, changed = c.Status, true
		}
		if c.DurationSeconds > 0 && c.DurationSeconds != m.Call.DurationSeconds {
			m.Call.DurationSeconds, changed = c.DurationSeconds, true
		}
	}
	if u.Text != "" && u.Text != m.Text {
		m.Text, changed = u.Text, true
	}
	for _, a := range u.Attachments {
		if !hasAttachment(m.Attachments, a.ProviderRef) {
			m.Attachments, changed = append(m.Attachments, a), true
		}
	}
	return changed
}

func hasAttachment(as []Attachment, ref string) bool {
	for _, a := range as {
		if ref != "" && a.ProviderRef == ref {
			return true
		}
	}
	return false
}

// Contact is the customer's side of a message: From when inbound, To when outbound.
func (m *Message) Contact() Party {
	if m.Direction == Outbound {
		return m.To
	}
	return m.From
}

// Status is a delivery update for an outbound message.
type Status struct {
	Provider          string    `json:"provider"`
	ProviderMessageID string    `json:"provider_message_id"`
	Channel           string    `json:"channel,omitempty"`
	Status            string    `json:"status"` // queued, sent, delivered, read, failed
	ProviderStatus    string    `json:"provider_status,omitempty"`
	ErrorCode         string    `json:"error_code,omitempty"`
	ErrorMessage      string    `json:"error_message,omitempty"`
	Recipient         *Party    `json:"recipient,omitempty"`
	At                time.Time `json:"at"`
	// MessageID is the gateway's id of the message when the provider echoes
	// it back (Twilio status-callback URL, WhatsApp biz_opaque_callback_data).
	MessageID string `json:"message_id,omitempty"`
}

// Delivery states of an outbound message, in the order they can be reached.
// A state never goes backwards; failed is terminal.
const (
	StatusQueued    = "queued"
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
)

var statusRank = map[string]int{StatusQueued: 0, StatusSent: 1, StatusDelivered: 2, StatusRead: 3, StatusFailed: 4}

// Advances reports whether moving from one delivery state to another is
// forward: queued → sent → delivered → read, or failed from queued or sent.
// Unknown states never advance; failed is final.
func Advances(from, to string) bool {
	f, ok1 := statusRank[from]
	t, ok2 := statusRank[to]
	if !ok1 || !ok2 || from == StatusFailed {
		return false
	}
	if to == StatusFailed {
		return from == StatusQueued || from == StatusSent
	}
	return t > f
}

// Template is a pre-approved outbound message: a WhatsApp template, or a
// Twilio Content SID with its variables.
type Template struct {
	// Name is the WhatsApp template name or the Twilio ContentSid (HX...).
	Name     string `json:"name"`
	Language string `json:"language,omitempty"`
	// Components is the WhatsApp components array, passed through as given.
	Components []map[string]any `json:"components,omitempty"`
	// Variables are Twilio ContentVariables ({"1": "Ann"}).
	Variables map[string]string `json:"variables,omitempty"`
}

// WatermarkPrefix starts the ProviderMessageID of a receipt that names no
// message but covers every message sent to a user up to a time (Messenger
// and Instagram reads, deliveries without mids).
const WatermarkPrefix = "watermark:"

// WatermarkID is the ProviderMessageID of a watermark receipt: user is the
// recipient's id, ms the watermark in milliseconds since the epoch.
func WatermarkID(user string, ms int64) string {
	return WatermarkPrefix + user + ":" + strconv.FormatInt(ms, 10)
}

// ParseWatermarkID reverses WatermarkID.
func ParseWatermarkID(id string) (user string, at time.Time, ok bool) {
	rest, found := strings.CutPrefix(id, WatermarkPrefix)
	i := strings.LastIndexByte(rest, ':')
	if !found || i <= 0 {
		return "", time.Time{}, false
	}
	ms, err := strconv.ParseInt(rest[i+1:], 10, 64)
	if err != nil || ms <= 0 {
		return "", time.Time{}, false
	}
	return rest[:i], time.UnixMilli(ms).UTC(), true
}
