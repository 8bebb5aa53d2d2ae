package sendgrid

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

var _ connector.New[Settings] = New

// Settings are what the SendGrid connector takes of the configuration
// (SENDGRID_*).
type Settings struct {
	APIKey, APIURL, FromEmail    string
	InboundUser, InboundPassword string
	// EventPublicKey verifies the Event Webhook; EventMaxAge is how old its
	// signed timestamp may be (SENDGRID_EVENT_TOLERANCE).
	EventPublicKey string
	EventMaxAge    time.Duration
}

// New returns the SendGrid connector: Inbound Parse (enabled by
// SENDGRID_INBOUND_USER with SENDGRID_INBOUND_PASSWORD; its attachments go
// to deps.Media), the Event Webhook (by SENDGRID_EVENT_PUBLIC_KEY), the
// sender (by SENDGRID_API_KEY) and SENDGRID_FROM_EMAIL as the email address
// of proactive messages.
func New(cfg Settings, deps connector.Deps) (connector.Connector, error) {
	c := connector.Connector{
		Name: "sendgrid",
		Routes: []webhook.Route{
			{Name: "sendgrid_inbound", Path: "/webhooks/sendgrid/inbound", Methods: []string{http.MethodPost}, MaxBody: 32 << 20,
				Replay: webhook.HandlerFunc(Inbound{Media: &lazyMedia{get: deps.Media}}.Replay)},
			{Name: "sendgrid_events", Path: "/webhooks/sendgrid/events", Methods: []string{http.MethodPost}, MaxBody: 8 << 20,
				Replay: webhook.HandlerFunc(ReplayEvents)},
		},
		Switches: []connector.Switch{
			{Connector: "sendgrid_inbound", Disabled: "SENDGRID_INBOUND_USER and SENDGRID_INBOUND_PASSWORD are both needed"},
			{Connector: "sendgrid_events", Disabled: "SENDGRID_EVENT_PUBLIC_KEY is not set"},
		},
	}
	if cfg.InboundUser != "" && cfg.InboundPassword != "" {
		h := Inbound{User: cfg.InboundUser, Password: cfg.InboundPassword}
		if deps.Media != nil {
			h.Media = deps.Media()
		}
		c.Routes[0].Handler = h
		c.Switches[0].Disabled = ""
	}
	if cfg.EventPublicKey != "" {
		h, err := NewEvents(cfg.EventPublicKey)
		if err != nil {
			return connector.Connector{}, fmt.Errorf("SENDGRID_EVENT_PUBLIC_KEY: %w", err)
		}
		h.MaxAge = cfg.EventMaxAge
		c.Routes[1].Handler = h
		c.Switches[1].Disabled = ""
	}
	if cfg.APIKey != "" {
		s, err := NewSender(SenderConfig{APIKey: cfg.APIKey, BaseURL: cfg.APIURL, UserAgent: deps.UserAgent, HTTPClient: deps.HTTPClient})
		if err != nil {
			return connector.Connector{}, fmt.Errorf("SENDGRID_API_KEY: %w", err)
		}
		c.Senders = map[string]outbox.Sender{Provider: s}
	}
	if cfg.FromEmail != "" {
		if e, name, err := normalize.CanonicalEmail(cfg.FromEmail); err == nil {
			c.Addresses = map[string]core.BusinessAddress{normalize.ChannelEmail: {
				Party: normalize.Party{Kind: normalize.KindEmail, Address: e, Name: name}, Provider: Provider}}
		}
	}
	return c, nil
}

// lazyMedia asks deps for the media store at the first attachment it
// keeps, so that a gateway that never replays an email never builds one
// for it.
type lazyMedia struct {
	get   func() connector.MediaStore
	once  sync.Once
	store MediaStore
}

func (l *lazyMedia) Put(ctx context.Context, key string, r io.Reader, a normalize.Attachment) normalize.Attachment {
	l.once.Do(func() {
		if l.get != nil {
			l.store = l.get()
		}
	})
	if l.store == nil {
		a.Status, a.Error = "failed", "no media store"
		return a
	}
	return l.store.Put(ctx, key, r, a)
}
