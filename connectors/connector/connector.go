// Package connector is the contract between the gateway's wiring and the
// provider packages (connectors/twilio, meta, sendgrid, webchat): one
// constructor per provider turns its own settings (a small struct the
// provider declares, built by cmd/gateway from the configuration) into a
// Connector, which
// holds everything the gateway needs from that provider: its webhook routes,
// its outbox senders, its media fetchers and the business addresses of
// proactive messages. cmd/gateway mounts and registers them in generic loops.
//
// It owns only these types. It must not import fiber, Kafka clients, the
// configuration or any provider package; provider packages import it, never
// the other way round.
package connector

import (
	"context"
	"io"
	"net/http"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// New builds one provider's Connector from its settings S. It returns an
// error naming the variable that is wrong; a provider whose credentials are
// not set is not an error (its routes answer 404, it has no sender).
type New[S any] func(settings S, deps Deps) (Connector, error)

// Connector is everything the gateway takes from one provider. Maps are keyed
// by provider name (twilio, meta_whatsapp, ...) for senders and fetchers, by
// channel for addresses; every map may be nil.
type Connector struct {
	// Name is the provider package (twilio, meta, sendgrid).
	Name string
	// Routes are the provider's webhooks, mounted whether enabled or not.
	Routes []webhook.Route
	// Switches say which of its webhooks are enabled, for the start-up log.
	Switches []Switch
	// Senders send the outbox's messages.
	Senders map[string]outbox.Sender
	// Fetchers download the files of inbound messages into the media store.
	Fetchers map[string]media.Fetcher
	// Addresses are the business addresses proactive messages are sent
	// from, by channel.
	Addresses map[string]core.BusinessAddress
	// Fallbacks are addresses for channels no connector has in Addresses
	// (Twilio sends WhatsApp from its number when the WhatsApp Cloud API is
	// not configured).
	Fallbacks map[string]core.BusinessAddress
}

// Switch is whether one connector's webhooks are enabled, for the log.
type Switch struct {
	// Connector names it in logs (twilio, sendgrid_inbound).
	Connector string
	// Disabled is why it is off ("TWILIO_AUTH_TOKEN is not set"); empty
	// when it is enabled.
	Disabled string
	// Warning is logged when it is enabled but set up in a way that may fail.
	Warning string
}

// Deps is what the gateway lends every provider.
type Deps struct {
	// UserAgent is sent on every outbound request.
	UserAgent string
	// HTTPClient calls the providers' APIs (sends); MediaClient downloads
	// files. Nil means a default client.
	HTTPClient, MediaClient *http.Client
	// Media returns the store for files that arrive inside a webhook (email
	// attachments). A connector calls it only when it has such a webhook
	// enabled; the gateway then builds the store before it serves.
	Media func() MediaStore
}

// MediaStore keeps a file a webhook carried and returns the attachment
// pointing at the stored copy (media.Copier does).
type MediaStore interface {
	Put(ctx context.Context, key string, r io.Reader, a normalize.Attachment) normalize.Attachment
}

var _ MediaStore = (*media.Copier)(nil)
