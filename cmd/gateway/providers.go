package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/opengateway/gateway/config"
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

// providers are the provider packages, each with the settings it takes of
// the configuration; adding one is one entry here.
var providers = []func(config.Config, connector.Deps) (connector.Connector, error){
	settle(twilio.New, twilioSettings),
	settle(meta.New, metaSettings),
	settle(sendgrid.New, sendgridSettings),
	settle(webchat.NewConnector, func(config.Config) webchat.Settings { return webchat.Settings{} }),
}

// settle gives a provider's constructor its settings, built from the
// configuration.
func settle[S any](newConn connector.New[S], settings func(config.Config) S) func(config.Config, connector.Deps) (connector.Connector, error) {
	return func(cfg config.Config, deps connector.Deps) (connector.Connector, error) {
		return newConn(settings(cfg), deps)
	}
}

func twilioSettings(c config.Config) twilio.Settings {
	return twilio.Settings{AccountSID: c.TwilioAccountSID, AuthToken: c.TwilioAuthToken, FromNumber: c.TwilioFromNumber,
		APIURL: c.TwilioAPIURL, PublicURL: c.PublicURL, MediaAllowedHosts: c.MediaAllowedHosts,
		Voice: twilio.VoiceConfig{ForwardTo: c.VoiceForwardTo, RingSeconds: c.VoiceRingSeconds, Greeting: c.VoiceGreeting,
			MaxRecording: int(c.VoiceMaxRecording / time.Second)},
		EntryPoints: twilioEntryPoints(c, config.ProviderTwilio), VoiceEntryPoints: twilioEntryPoints(c, config.ProviderVoice)}
}

// twilioEntryPoints are the Twilio numbers (provider twilio) or voice
// numbers (provider voice) of the GATEWAY_ENTRY_POINTS file, each with the
// account its credentials name (none: the connector's). Without the file
// there are none: every Twilio message and call comes in at the derived
// entry point, which the core names (as a replay without the secrets does).
func twilioEntryPoints(c config.Config, provider string) []twilio.EntryPoint {
	if c.EntryPointsFile == "" {
		return nil
	}
	var out []twilio.EntryPoint
	for _, ep := range c.EntryPoints {
		if ep.Provider == provider {
			out = append(out, twilio.EntryPoint{ID: ep.ID, Address: ep.Address, Default: ep.Default,
				AccountSID: ep.Credential("account_sid"), AuthToken: ep.Credential("auth_token")})
		}
	}
	return out
}

// entryPointRouting are the inboxes of the GATEWAY_ENTRY_POINTS file's
// entry points and the agents of those routing round_robin; without the
// file conversations start in no inbox, unrouted, as before entry points.
func entryPointRouting(c config.Config) (inboxes map[string]string, agents map[string][]string) {
	if c.EntryPointsFile == "" {
		return nil, nil
	}
	inboxes, agents = map[string]string{}, map[string][]string{}
	for _, ep := range c.EntryPoints {
		inboxes[ep.ID] = ep.Inbox
		if ep.Routing == config.RoutingRoundRobin {
			agents[ep.ID] = ep.Agents
		}
	}
	return inboxes, agents
}

// entryPointIDs are the ids of eps, the values of the metrics'
// entry_point label (with the derived ids and other).
func entryPointIDs(eps []config.EntryPoint) []string {
	ids := make([]string, len(eps))
	for i, ep := range eps {
		ids[i] = ep.ID
	}
	return ids
}

// entryPointWindows are the reopen_window and auto_close_after the entry
// points set, by id; an entry point that sets neither is in neither map.
func entryPointWindows(eps []config.EntryPoint) (reopen, autoClose map[string]time.Duration) {
	reopen, autoClose = map[string]time.Duration{}, map[string]time.Duration{}
	for _, ep := range eps {
		if ep.ReopenWindow > 0 {
			reopen[ep.ID] = ep.ReopenWindow
		}
		if ep.AutoCloseAfter > 0 {
			autoClose[ep.ID] = ep.AutoCloseAfter
		}
	}
	return reopen, autoClose
}

// entryPointSenders are the business addresses a message leaves from when
// a request names its entry point (`entry_point`): a Twilio number, a
// WhatsApp phone number id, a page, an Instagram account, a mailbox. A
// SendGrid domain, a chat site and a voice number send nothing of their
// own. Without the file there are none.
func entryPointSenders(c config.Config) map[string]core.EntryPointSender {
	if c.EntryPointsFile == "" {
		return nil
	}
	out := map[string]core.EntryPointSender{}
	add := func(ep config.EntryPoint, provider, kind string, channels ...string) {
		out[ep.ID] = core.EntryPointSender{Channels: channels, BusinessAddress: core.BusinessAddress{Provider: provider,
			Party: normalize.Party{Kind: kind, Address: ep.Address}}}
	}
	for _, ep := range c.EntryPoints {
		switch ep.Provider {
		case config.ProviderTwilio:
			add(ep, twilio.Provider, normalize.KindPhone, normalize.ChannelSMS, normalize.ChannelMMS)
		case config.ProviderWhatsApp: // a phone number id, as its messages name it
			add(ep, meta.ProviderWhatsApp, normalize.KindWhatsApp, normalize.ChannelWhatsApp)
		case config.ProviderMessenger:
			add(ep, meta.ProviderMessenger, normalize.KindMessenger, normalize.ChannelMessenger)
		case config.ProviderInstagram:
			add(ep, meta.ProviderInstagram, normalize.KindInstagram, normalize.ChannelInstagram)
		case config.ProviderSendGrid:
			if strings.Contains(ep.Address, "@") {
				add(ep, sendgrid.Provider, normalize.KindEmail, normalize.ChannelEmail)
			}
		}
	}
	return out
}

func metaSettings(c config.Config) meta.Settings {
	return meta.Settings{AppSecret: c.MetaAppSecret, VerifyToken: c.MetaVerifyToken, GraphURL: c.MetaGraphURL,
		GraphVersion: c.MetaGraphVersion, WhatsAppAccessToken: c.WhatsAppAccessToken, WhatsAppPhoneNumberID: c.WhatsAppPhoneNumberID,
		MessengerPageAccessToken: c.MessengerPageAccessToken, MediaAllowedHosts: c.MediaAllowedHosts,
		EntryPoints: metaEntryPoints(c)}
}

// metaProviders are the Meta connector's providers by entry point provider.
var metaProviders = map[string]string{config.ProviderWhatsApp: meta.ProviderWhatsApp,
	config.ProviderMessenger: meta.ProviderMessenger, config.ProviderInstagram: meta.ProviderInstagram}

// metaEntryPoints are the WhatsApp numbers, pages and Instagram accounts of
// the GATEWAY_ENTRY_POINTS file, each with the token and app its
// credentials name (none: the connector's). Without the file there are
// none, as for Twilio.
func metaEntryPoints(c config.Config) []meta.EntryPoint {
	if c.EntryPointsFile == "" {
		return nil
	}
	var out []meta.EntryPoint
	for _, ep := range c.EntryPoints {
		provider, ok := metaProviders[ep.Provider]
		if !ok {
			continue
		}
		token := ep.Credential("page_access_token")
		if ep.Provider == config.ProviderWhatsApp {
			token = ep.Credential("access_token")
		}
		out = append(out, meta.EntryPoint{ID: ep.ID, Provider: provider, Address: ep.Address, Default: ep.Default,
			AccessToken: token, AppSecret: ep.Credential("app_secret"), VerifyToken: ep.Credential("verify_token")})
	}
	return out
}

func sendgridSettings(c config.Config) sendgrid.Settings {
	return sendgrid.Settings{APIKey: c.SendGridAPIKey, APIURL: c.SendGridAPIURL, FromEmail: c.SendGridFromEmail,
		InboundUser: c.SendGridInboundUser, InboundPassword: c.SendGridInboundPassword,
		EventPublicKey: c.SendGridEventPublicKey, EventMaxAge: c.SendGridEventMaxAge, EntryPoints: sendgridEntryPoints(c)}
}

// sendgridEntryPoints are the mailboxes and mail domains of the
// GATEWAY_ENTRY_POINTS file, each with the API key, inbound credentials and
// event key its credentials name (none: the connector's). Without the file
// there are none, as for Twilio.
func sendgridEntryPoints(c config.Config) []sendgrid.EntryPoint {
	if c.EntryPointsFile == "" {
		return nil
	}
	var out []sendgrid.EntryPoint
	for _, ep := range c.EntryPoints {
		if ep.Provider == config.ProviderSendGrid {
			out = append(out, sendgrid.EntryPoint{ID: ep.ID, Address: ep.Address, Default: ep.Default,
				APIKey: ep.Credential("api_key"), InboundUser: ep.Credential("inbound_user"),
				InboundPassword: ep.Credential("inbound_password"), EventPublicKey: ep.Credential("event_public_key")})
		}
	}
	return out
}

// connectors builds (once) every provider's connector from the
// configuration.
func (g *Gateway) connectors() ([]connector.Connector, error) {
	if g.conns != nil {
		return g.conns, nil
	}
	deps := connector.Deps{
		UserAgent:   userAgent(),
		HTTPClient:  connector.APIClient(30 * time.Second),
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

// senderNeeds are, by provider, what its sender sends and the variables it
// needs: a provider whose connector has no sender is off, and the start
// log says which of them are missing. Web chat needs none.
var senderNeeds = []struct {
	provider, what string
	vars           func(config.Config) [][2]string // name, value
}{
	{twilio.Provider, "twilio sms/mms/whatsapp", func(c config.Config) [][2]string {
		return [][2]string{{"TWILIO_ACCOUNT_SID", c.TwilioAccountSID}, {"TWILIO_AUTH_TOKEN", c.TwilioAuthToken}}
	}},
	{meta.ProviderWhatsApp, "whatsapp cloud api", func(c config.Config) [][2]string {
		return [][2]string{{"WHATSAPP_ACCESS_TOKEN", c.WhatsAppAccessToken}}
	}},
	{meta.ProviderMessenger, "messenger", func(c config.Config) [][2]string {
		return [][2]string{{"MESSENGER_PAGE_ACCESS_TOKEN", c.MessengerPageAccessToken}}
	}},
	{meta.ProviderInstagram, "instagram", func(c config.Config) [][2]string {
		return [][2]string{{"MESSENGER_PAGE_ACCESS_TOKEN", c.MessengerPageAccessToken}}
	}},
	{sendgrid.Provider, "sendgrid email", func(c config.Config) [][2]string {
		return [][2]string{{"SENDGRID_API_KEY", c.SendGridAPIKey}}
	}},
}

// sendersOff are the providers without a sender, with why (the variables
// missing, never a value), each logged at start: a reply on them is
// refused at the API and on outbound.v1 as channel_unavailable. Their
// webhooks are governed by their own secrets: a connector can receive and
// not send.
func (g *Gateway) sendersOff(conns []connector.Connector) map[string]string {
	on := map[string]bool{}
	for _, c := range conns {
		for p := range c.Senders {
			on[p] = true
		}
	}
	off := map[string]string{}
	for _, n := range senderNeeds {
		if on[n.provider] {
			g.log.Info("sender on: "+n.what, "provider", n.provider)
			continue
		}
		var missing []string
		for _, v := range n.vars(g.cfg) {
			if v[1] == "" {
				missing = append(missing, v[0])
			}
		}
		why := "its credentials are not set"
		if len(missing) > 0 {
			why = strings.Join(missing, " and ") + " missing"
		}
		off[n.provider] = why
		g.log.Info("sender off: "+n.what+": "+why, "provider", n.provider)
	}
	return off
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
func addressesOf(conns []connector.Connector) (map[string]core.BusinessAddress, error) {
	out := map[string]core.BusinessAddress{}
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

// entryPoints are the entry points GET /v1/entry-points lists (the
// GATEWAY_ENTRY_POINTS file's, else one derived per configured provider),
// each logged with its provider and inbox; never a credential.
func (g *Gateway) entryPoints() []core.EntryPoint {
	from := "derived from the provider variables"
	if g.cfg.EntryPointsFile != "" {
		from = "from GATEWAY_ENTRY_POINTS"
	}
	out := make([]core.EntryPoint, 0, len(g.cfg.EntryPoints))
	for _, ep := range g.cfg.EntryPoints {
		enabled := g.cfg.EntryPointEnabled(ep)
		g.log.Info("entry point "+from, "entry_point", ep.ID, "provider", ep.Provider, "inbox", ep.Inbox,
			"routing", ep.Routing, "enabled", enabled)
		out = append(out, core.EntryPoint{ID: ep.ID, Provider: ep.Provider, Address: ep.Address, Inbox: ep.Inbox,
			Routing: ep.Routing, Agents: ep.Agents, Default: ep.Default, Enabled: enabled})
	}
	return out
}
