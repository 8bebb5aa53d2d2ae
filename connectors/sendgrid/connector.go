package sendgrid

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
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
	// EntryPoints are the SendGrid entry points of GATEWAY_ENTRY_POINTS;
	// none (no file): emails name no entry point and the core derives it.
	EntryPoints []EntryPoint
}

// New returns the SendGrid connector: Inbound Parse (enabled by
// SENDGRID_INBOUND_USER with SENDGRID_INBOUND_PASSWORD; its attachments go
// to deps.Media), the Event Webhook (by SENDGRID_EVENT_PUBLIC_KEY), the
// sender (by SENDGRID_API_KEY) and SENDGRID_FROM_EMAIL as the email address
// of proactive messages. Each email names its entry point
// (Settings.EntryPoints): an entry point with credentials of its own has
// its own webhooks and API key.
func New(cfg Settings, deps connector.Deps) (connector.Connector, error) {
	var eps *EntryPoints
	if len(cfg.EntryPoints) > 0 {
		eps = NewEntryPoints(cfg.EntryPoints)
	}
	replayMedia := &lazyMedia{get: deps.Media}
	c := connector.Connector{
		Name: "sendgrid",
		Routes: []webhook.Route{
			{Name: "sendgrid_inbound", Path: InboundPath, Methods: []string{http.MethodPost}, MaxBody: inboundMaxBody,
				Replay: webhook.HandlerFunc(Inbound{Media: replayMedia, EntryPoints: eps}.Replay)},
			{Name: "sendgrid_events", Path: EventsPath, Methods: []string{http.MethodPost}, MaxBody: eventsMaxBody,
				Replay: webhook.HandlerFunc(ReplayEvents)},
		},
		Switches: []connector.Switch{
			{Connector: "sendgrid_inbound", Disabled: "SENDGRID_INBOUND_USER and SENDGRID_INBOUND_PASSWORD are both needed"},
			{Connector: "sendgrid_events", Disabled: "SENDGRID_EVENT_PUBLIC_KEY is not set"},
		},
	}
	var store MediaStore
	if deps.Media != nil && (cfg.InboundUser != "" && cfg.InboundPassword != "" || slices.ContainsFunc(cfg.EntryPoints, EntryPoint.OwnInbound)) {
		store = deps.Media()
	}
	if cfg.InboundUser != "" && cfg.InboundPassword != "" {
		c.Routes[0].Handler = Inbound{User: cfg.InboundUser, Password: cfg.InboundPassword, Media: store, EntryPoints: eps}
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
	own, switches, err := ownRoutes(cfg, eps, store, c.Routes[0].Replay)
	if err != nil {
		return connector.Connector{}, err
	}
	c.Routes, c.Switches = append(c.Routes, own...), append(c.Switches, switches...)
	if c.Senders, err = sendersOf(cfg, deps, eps); err != nil {
		return connector.Connector{}, err
	}
	if cfg.FromEmail != "" {
		if e, name, err := normalize.CanonicalEmail(cfg.FromEmail); err == nil {
			c.Addresses = map[string]core.BusinessAddress{normalize.ChannelEmail: {
				Party: normalize.Party{Kind: normalize.KindEmail, Address: e, Name: name}, Provider: Provider}}
		}
	}
	return c, nil
}

// Body limits of the webhooks.
const (
	inboundMaxBody = 32 << 20
	eventsMaxBody  = 8 << 20
)

// ownRoutes are the webhooks of each entry point with credentials of its
// own: Inbound Parse (InboundPath/{id}) behind its basic auth, the Event
// Webhook (EventsPath/{id}) verified with its key; another id has no route
// (404). Each is logged at start as on.
func ownRoutes(cfg Settings, eps *EntryPoints, store MediaStore, replay webhook.Handler) ([]webhook.Route, []connector.Switch, error) {
	var routes []webhook.Route
	var switches []connector.Switch
	for _, ep := range cfg.EntryPoints {
		if ep.OwnInbound() {
			routes = append(routes, webhook.Route{Name: "sendgrid_inbound", Path: InboundPath + "/" + ep.ID,
				Methods: []string{http.MethodPost}, MaxBody: inboundMaxBody, Replay: replay,
				Handler: Inbound{User: ep.InboundUser, Password: ep.InboundPassword, Media: store, EntryPoints: eps, EntryPoint: ep.ID}})
			switches = append(switches, connector.Switch{Connector: "sendgrid_inbound_" + ep.ID})
		}
		if ep.EventPublicKey != "" {
			h, err := NewEvents(ep.EventPublicKey)
			if err != nil {
				return nil, nil, fmt.Errorf("entry point %q: event_public_key: %w", ep.ID, err)
			}
			h.MaxAge = cfg.EventMaxAge
			routes = append(routes, webhook.Route{Name: "sendgrid_events", Path: EventsPath + "/" + ep.ID,
				Methods: []string{http.MethodPost}, MaxBody: eventsMaxBody, Replay: webhook.HandlerFunc(ReplayEvents), Handler: h})
			switches = append(switches, connector.Switch{Connector: "sendgrid_events_" + ep.ID})
		}
	}
	return routes, switches, nil
}

// sendersOf is the sender: of SENDGRID_API_KEY, and of each entry point's
// own API key (a reply chosen by the address it leaves from).
func sendersOf(cfg Settings, deps connector.Deps, eps *EntryPoints) (map[string]outbox.Sender, error) {
	newSender := func(key string) (*Sender, error) {
		return NewSender(SenderConfig{APIKey: key, BaseURL: cfg.APIURL, UserAgent: deps.UserAgent, HTTPClient: deps.HTTPClient})
	}
	all := senders{eps: eps, byID: map[string]*Sender{}}
	if cfg.APIKey != "" {
		s, err := newSender(cfg.APIKey)
		if err != nil {
			return nil, fmt.Errorf("SENDGRID_API_KEY: %w", err)
		}
		all.shared = s
	}
	for _, ep := range cfg.EntryPoints {
		if ep.APIKey == "" {
			continue
		}
		s, err := newSender(ep.APIKey)
		if err != nil {
			return nil, fmt.Errorf("entry point %q: api_key: %w", ep.ID, err)
		}
		all.byID[ep.ID] = s
	}
	switch {
	case len(all.byID) > 0:
		return map[string]outbox.Sender{Provider: all}, nil
	case all.shared != nil:
		return map[string]outbox.Sender{Provider: all.shared}, nil
	}
	return nil, nil
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
