// Package normalize holds the gateway's provider-neutral types: the normalized
// message, the inbound events the connectors publish, canonical addresses and
// the CloudEvents codec. It does no I/O.
package normalize

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
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

// NewID returns a new time-ordered gateway id (UUIDv7).
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
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
