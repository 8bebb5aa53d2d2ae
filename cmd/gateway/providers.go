package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"time"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/connectors/sendgrid"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/connectors/webchat"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// providers are the provider packages; adding one is one line here.
var providers = []connector.New{twilio.New, meta.New, sendgrid.New, webchat.NewConnector}

// connectors builds (once) every provider's connector from the
// configuration.
func (g *Gateway) connectors() ([]connector.Connector, error) {
	if g.conns != nil {
		return g.conns, nil
	}
	deps := connector.Deps{
		UserAgent:   userAgent(),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second},
		MediaClient: &http.Client{Timeout: 60 * time.Second},
		Media: func() connector.MediaStore {
			g.mediaAtIngest = true
			return ingestMedia{g}
		},
	}
	conns := make([]connector.Connector, 0, len(providers))
	for _, newConn := range providers {
		c, err := newConn(g.cfg, deps)
		if err != nil {
			return nil, err
		}
		conns = append(conns, c)
	}
	g.conns = conns
	return conns, nil
}

// ingestMedia stores files that arrive inside a webhook in the media copier,
// which mountWebhooks builds before the gateway serves.
type ingestMedia struct{ g *Gateway }

func (m ingestMedia) Put(ctx context.Context, key string, r io.Reader, a normalize.Attachment) normalize.Attachment {
	return m.g.media.Put(ctx, key, r, a)
}

// webhookRoutes are every connector's routes; each connector's webhooks are
// logged as enabled or disabled.
func (g *Gateway) webhookRoutes(conns []connector.Connector) []webhook.Route {
	var routes []webhook.Route
	for _, c := range conns {
		for _, s := range c.Switches {
			switch {
			case s.Disabled != "":
				g.log.Info("connector disabled: "+s.Disabled, "connector", s.Connector)
			default:
				if s.Warning != "" {
					g.log.Warn(s.Warning)
				}
				g.log.Info("connector enabled", "connector", s.Connector)
			}
		}
		routes = append(routes, c.Routes...)
	}
	return routes
}

// sendersOf are the outbox's senders by provider name.
func sendersOf(conns []connector.Connector) (map[string]outbox.Sender, error) {
	out := map[string]outbox.Sender{}
	for _, c := range conns {
		if err := merge(out, c.Senders, c.Name, "sender"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fetchersOf are the media copier's fetchers by provider name.
func fetchersOf(conns []connector.Connector) (map[string]media.Fetcher, error) {
	out := map[string]media.Fetcher{}
	for _, c := range conns {
		if err := merge(out, c.Fetchers, c.Name, "media fetcher"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addressesOf are the business addresses of proactive messages, by channel: a
// connector's own address for a channel wins over another's fallback.
func addressesOf(conns []connector.Connector) (map[string]core.Sender, error) {
	out := map[string]core.Sender{}
	for _, c := range conns {
		if err := merge(out, c.Addresses, c.Name, "address of channel"); err != nil {
			return nil, err
		}
	}
	for _, c := range conns {
		for ch, s := range c.Fallbacks {
			if _, ok := out[ch]; !ok {
				out[ch] = s
			}
		}
	}
	return out, nil
}

// merge adds src to dst; two connectors claiming one key is a wiring error.
func merge[V any](dst, src map[string]V, conn, what string) error {
	for k := range src {
		if _, ok := dst[k]; ok {
			return fmt.Errorf("connector %s: %s %q is already taken by another connector", conn, what, k)
		}
	}
	maps.Copy(dst, src)
	return nil
}
