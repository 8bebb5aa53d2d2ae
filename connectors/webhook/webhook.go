// Package webhook is the contract between the HTTP routes and the provider
// packages: a provider declares its Routes, sees a plain Request (raw bytes,
// headers, the public URL the provider called) and returns the normalized
// events to publish, or an error naming what was wrong. It owns that contract
// and the event helpers; it must import nothing of fiber, Kafka or the
// gateway's other packages (normalize excepted).
package webhook

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/opengateway/gateway/normalize"
)

// Header reads a request's headers by name, case-insensitively; http.Header
// satisfies it. The webhook routes pass the server's own header block
// without copying it, so a Header (and the strings it returns, which are
// copies) is only for use while Handle runs.
type Header interface {
	// Get returns the first value of a header, "" when absent.
	Get(name string) string
	// Values returns every value of a header.
	Values(name string) []string
}

var _ Header = http.Header(nil)

// Request is one webhook call as received.
type Request struct {
	Method string
	// URL is the public URL the provider called: GATEWAY_PUBLIC_URL, the
	// path and the query exactly as sent.
	URL    string
	Header Header
	// Query is the parsed query string (nil when the URL has none).
	Query      url.Values
	Body       []byte
	ReceivedAt time.Time
}

// Route is one provider webhook, mounted by the connectors package.
type Route struct {
	// Name labels the route's metrics and raw.v1 records (twilio_messaging).
	Name    string
	Path    string
	Methods []string
	// Handler is nil when the connector is disabled (its secrets are not
	// set): the route still exists and answers 404.
	Handler Handler
	// Replay turns a request kept on raw.v1, whose credentials were checked
	// when it was accepted, into the events Handler made of it with today's
	// parser, without checking them again (`gateway replay`). It is set
	// whether the connector is enabled or not, and needs no secret; nil for
	// a route that keeps nothing on raw.v1.
	Replay Handler
	// MaxBody is the largest body this route accepts (default 1 MiB).
	MaxBody int
}

// Event is a normalized event and its Kafka key (channel:address of the contact).
type Event struct {
	Key   string
	Event normalize.Event
	// Origin is where the message of a message.received event came in
	// (MessageEvent sets it), for the routes' metrics; zero for others.
	Origin Origin
}

// Origin is where a message came in: the entry point its connector found
// ("" when none: the core derives one from provider and channel), its
// provider and its channel.
type Origin struct {
	EntryPoint, Provider, Channel string
}

// Result is what a provider package makes of a request.
type Result struct {
	// Events go to inbound.v1, all of them before the provider is answered.
	Events []Event
	// Ignored counts items of the payload that carry nothing for the gateway.
	Ignored int
	// ContentType and Body are the answer on success (TwiML, a challenge).
	ContentType string
	Body        []byte
	// NoRaw is set for requests that are not provider events (the Meta
	// subscription check) and so are not recorded on raw.v1.
	NoRaw bool
	// DeadLetter, when set, is why the request carries something the
	// gateway cannot file (DeadLetterUnknownEntryPoint): it is still
	// answered with Body and kept on raw.v1, and a copy goes to dlq.v1
	// with this reason and DeadLetterError, counted and logged. Events
	// holds what a batch (Meta) carried for the gateway besides.
	DeadLetter      string
	DeadLetterError string
}

// DeadLetterUnknownEntryPoint is the dead-letter reason of a message to a
// business address no entry point has, when its provider has no default
// entry point.
const DeadLetterUnknownEntryPoint = "unknown_entry_point"

// Errors a provider package returns, wrapped with detail; the routes map
// each to a status.
var (
	ErrSignature    = errors.New("signature verification failed") // 403
	ErrExpired      = errors.New("signed timestamp out of range") // 403: a replay, or a clock off
	ErrUnauthorized = errors.New("authentication required")       // 401
	ErrMalformed    = errors.New("malformed payload")             // 400
	ErrUnsupported  = errors.New("unsupported media type")        // 415
)

// Handler turns a webhook request into events.
type Handler interface {
	Handle(ctx context.Context, r *Request) (Result, error)
}

// HeaderAuthorizer is a Handler whose credentials travel in headers (HTTP
// basic auth). The routes call Authorize with the request's headers alone,
// before a byte of the body is read, and answer 401 (with the
// WWW-Authenticate challenge) when it returns an error: a caller without
// credentials never makes the gateway read, or hold, its body. Authorize
// must compare in constant time and fail closed; Handle checks the
// credentials again.
type HeaderAuthorizer interface {
	Authorize(h Header) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, r *Request) (Result, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, r *Request) (Result, error) { return f(ctx, r) }

// NewEvent builds an inbound event for a normalized message or status.
func NewEvent(source, typ, key string, at time.Time, data any) (Event, error) {
	ev, err := normalize.NewEvent(source, typ, key, at, data)
	if err != nil {
		return Event{}, err
	}
	return Event{Key: key, Event: ev}, nil
}

// MessageEvent builds the message.received event of an inbound message.
func MessageEvent(source string, m normalize.Message) (Event, error) {
	key := normalize.InboundKey(m.Channel, m.Contact().Address)
	ev, err := normalize.NewMessageEvent(source, normalize.TypeMessageReceived, key, m.ReceivedAt, &m)
	if err != nil {
		return Event{}, err
	}
	return Event{Key: key, Event: ev, Origin: Origin{EntryPoint: m.EntryPoint, Provider: m.Provider, Channel: m.Channel}}, nil
}

// StatusEvent builds the message.status event of a delivery update.
func StatusEvent(source string, s normalize.Status) (Event, error) {
	key := s.Provider + ":" + s.ProviderMessageID
	if s.Recipient != nil {
		key = normalize.InboundKey(s.Channel, s.Recipient.Address)
	}
	return NewEvent(source, normalize.TypeMessageStatus, key, s.At, s)
}

// UpdateEvent builds the message.updated event of a change to a message
// already received, keyed like that message (channel:address of its contact).
func UpdateEvent(source string, u normalize.Update) (Event, error) {
	return NewEvent(source, normalize.TypeMessageUpdated, normalize.InboundKey(u.Channel, u.Contact.Address), u.At, u)
}
