package normalize

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ContentType is the Kafka content-type header value of every event.
const ContentType = "application/cloudevents+json"

// Event types on inbound.v1.
const (
	TypeMessageReceived = "message.received"
	TypeMessageStatus   = "message.status"
	// TypeMessageUpdated is, on inbound.v1, a provider's change to a
	// message already received (normalize.Update) and, on events.v1, the
	// changed message, whole.
	TypeMessageUpdated = "message.updated"
)

// Event types on events.v1 (message.received is shared with inbound.v1).
const (
	TypeCustomerCreated               = "customer.created"
	TypeCustomerMerged                = "customer.merged"
	TypeCustomerErased                = "customer.erased"
	TypeCustomerUpdated               = "customer.updated"
	TypeCustomerIdentityAdded         = "customer.identity_added"
	TypeCustomerIdentityRemoved       = "customer.identity_removed"
	TypeConversationCreated           = "conversation.created"
	TypeConversationReopened          = "conversation.reopened"
	TypeConversationAssigned          = "conversation.assigned"
	TypeConversationStatusChanged     = "conversation.status_changed"
	TypeConversationClosed            = "conversation.closed"
	TypeConversationDeleted           = "conversation.deleted"
	TypeConversationTopicsChanged     = "conversation.topics_changed"
	TypeConversationVisibilityChanged = "conversation.visibility_changed"
	TypeConversationHandedOver        = "conversation.handed_over"
	TypeMessageQueued                 = "message.queued"
	TypeMessageSent                   = "message.sent"
	TypeMessageDelivered              = "message.delivered"
	TypeMessageRead                   = "message.read"
	TypeMessageFailed                 = "message.failed"
	TypeNoteAdded                     = "note.added"
	TypeContactStarted                = "contact.started"
	TypeContactEnded                  = "contact.ended"
)

// Event is a CloudEvents 1.0 event in structured JSON mode.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// NewEvent builds an event with a fresh id. data is marshalled to JSON (a
// Message by its AppendJSON, the same bytes without reflection).
func NewEvent(source, typ, subject string, at time.Time, data any) (Event, error) {
	if m, ok := data.(Message); ok {
		return NewMessageEvent(source, typ, subject, at, &m)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("normalize: marshal %s data: %w", typ, err)
	}
	return newEvent(source, typ, subject, at, raw), nil
}

// NewMessageEvent is NewEvent of a message: the same event, without copying
// the message into an interface value.
func NewMessageEvent(source, typ, subject string, at time.Time, m *Message) (Event, error) {
	bp := scratch.Get().(*[]byte)
	var err error
	*bp, err = m.AppendJSON((*bp)[:0])
	raw := bytes.Clone(*bp)
	if cap(*bp) <= maxScratch {
		scratch.Put(bp)
	}
	if err != nil {
		return Event{}, fmt.Errorf("normalize: marshal %s data: %w", typ, err)
	}
	return newEvent(source, typ, subject, at, raw), nil
}

func newEvent(source, typ, subject string, at time.Time, raw []byte) Event {
	return Event{SpecVersion: "1.0", ID: NewID(), Source: source, Type: typ, Subject: subject,
		Time: at.UTC(), DataContentType: "application/json", Data: raw}
}

// scratch holds the buffers NewEvent encodes a message into before
// copying it out at its size.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxScratch bounds the buffers kept in scratch.
const maxScratch = 64 << 10

// envelope is Event without its data, for Encode.
type envelope struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject,omitempty"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
}

// Encode returns the event as JSON. The data, JSON made by NewEvent or
// read from a decoded event, is spliced in as it is rather than parsed and
// compacted again (the hot path of every webhook); the output is the same
// as json.Marshal of the event.
func (e Event) Encode() ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	head, err := json.Marshal(envelope{e.SpecVersion, e.ID, e.Source, e.Type, e.Subject, e.Time, e.DataContentType})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(head)+len(data)+9)
	out = append(out, head[:len(head)-1]...)
	out = append(out, `,"data":`...)
	out = append(out, data...)
	return append(out, '}'), nil
}

// AppendEncode appends the event as JSON to dst and returns the extended
// buffer: the bytes of Encode, written without a JSON encoder (the webhook
// path encodes into pooled buffers). Strings that need escaping and times
// outside what RFC 3339 can say go through encoding/json.
func (e Event) AppendEncode(dst []byte) ([]byte, error) {
	if y := e.Time.Year(); y < 0 || y > 9999 {
		b, err := e.Encode()
		return append(dst, b...), err
	}
	var err error
	dst = append(dst, `{"specversion":`...)
	dst, err = appendString(dst, e.SpecVersion, err)
	dst = append(dst, `,"id":`...)
	dst, err = appendString(dst, e.ID, err)
	dst = append(dst, `,"source":`...)
	dst, err = appendString(dst, e.Source, err)
	dst = append(dst, `,"type":`...)
	dst, err = appendString(dst, e.Type, err)
	if e.Subject != "" {
		dst = append(dst, `,"subject":`...)
		dst, err = appendString(dst, e.Subject, err)
	}
	dst = append(dst, `,"time":"`...)
	dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","datacontenttype":`...)
	dst, err = appendString(dst, e.DataContentType, err)
	dst = append(dst, `,"data":`...)
	switch {
	case len(e.Data) == 0:
		dst = append(dst, "null"...)
	case needsHTMLEscape(e.Data):
		// As encoding/json writes a RawMessage: <, >, &, U+2028 and
		// U+2029 escaped (data built by NewEvent never has them raw).
		var b bytes.Buffer
		json.HTMLEscape(&b, e.Data)
		dst = append(dst, b.Bytes()...)
	default:
		dst = append(dst, e.Data...)
	}
	return append(dst, '}'), err
}

// needsHTMLEscape reports whether raw JSON holds a byte encoding/json
// escapes in a RawMessage.
func needsHTMLEscape(b []byte) bool {
	for i, c := range b {
		switch {
		case c == '<', c == '>', c == '&':
			return true
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9):
			return true
		}
	}
	return false
}

// appendString appends s as a JSON string exactly as encoding/json writes
// it: plain printable ASCII as it is, anything else through json.Marshal.
func appendString(dst []byte, s string, err error) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, merr := json.Marshal(s)
			if err == nil {
				err = merr
			}
			return append(dst, b...), err
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"'), err
}

// ErrEvent is wrapped by every decoding error.
var ErrEvent = errors.New("invalid event")

// DecodeEvent parses and checks the envelope of a structured-mode CloudEvent.
func DecodeEvent(b []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrEvent, err)
	}
	switch {
	case e.SpecVersion != "1.0":
		return Event{}, fmt.Errorf("%w: specversion %q", ErrEvent, e.SpecVersion)
	case e.ID == "" || e.Source == "" || e.Type == "":
		return Event{}, fmt.Errorf("%w: id, source and type are required", ErrEvent)
	case len(e.Data) == 0 || string(e.Data) == "null":
		return Event{}, fmt.Errorf("%w: data is required", ErrEvent)
	}
	return e, nil
}

// DecodeMessage returns the message of a message.received event and checks
// the fields the core relies on.
func (e Event) DecodeMessage() (Message, error) {
	var m Message
	if err := json.Unmarshal(e.Data, &m); err != nil {
		return Message{}, fmt.Errorf("%w: message data: %v", ErrEvent, err)
	}
	if m.MessageID == "" || m.Channel == "" || m.Provider == "" || m.From.Address == "" || m.From.Kind == "" {
		return Message{}, fmt.Errorf("%w: message_id, channel, provider and from are required", ErrEvent)
	}
	return m, nil
}

// DecodeStatus returns the status of a message.status event.
func (e Event) DecodeStatus() (Status, error) {
	var s Status
	if err := json.Unmarshal(e.Data, &s); err != nil {
		return Status{}, fmt.Errorf("%w: status data: %v", ErrEvent, err)
	}
	if s.Provider == "" || s.ProviderMessageID == "" || s.Status == "" {
		return Status{}, fmt.Errorf("%w: provider, provider_message_id and status are required", ErrEvent)
	}
	return s, nil
}

// DecodeUpdate returns the update of a message.updated event on inbound.v1.
func (e Event) DecodeUpdate() (Update, error) {
	var u Update
	if err := json.Unmarshal(e.Data, &u); err != nil {
		return Update{}, fmt.Errorf("%w: update data: %v", ErrEvent, err)
	}
	if u.Provider == "" || u.ProviderMessageID == "" {
		return Update{}, fmt.Errorf("%w: provider and provider_message_id are required", ErrEvent)
	}
	return u, nil
}

// InboundKey is the Kafka key of an inbound.v1 record: channel:address of the contact.
func InboundKey(channel, address string) string { return channel + ":" + address }
