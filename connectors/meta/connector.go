package meta

import (
	"fmt"
	"net/http"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

var _ connector.New[Settings] = New

// Settings are what the Meta connector takes of the configuration (META_*,
// WHATSAPP_*, MESSENGER_PAGE_ACCESS_TOKEN, GATEWAY_MEDIA_ALLOWED_HOSTS).
type Settings struct {
	AppSecret, VerifyToken, GraphURL, GraphVersion string
	WhatsAppAccessToken, WhatsAppPhoneNumberID     string
	MessengerPageAccessToken                       string
	MediaAllowedHosts                              []string
	// EntryPoints are the WhatsApp numbers, pages and Instagram accounts of
	// GATEWAY_ENTRY_POINTS; none (no file): messages name no entry point
	// and the core derives it.
	EntryPoints []EntryPoint
}

var both = []string{http.MethodGet, http.MethodPost}

// New returns the Meta connector: the WhatsApp and Messenger/Instagram
// webhooks (enabled by META_APP_SECRET with META_VERIFY_TOKEN), the sender
// of each channel whose token is set, the media fetchers (Messenger and
// Instagram files are public URLs; WhatsApp's need WHATSAPP_ACCESS_TOKEN),
// and WHATSAPP_PHONE_NUMBER_ID as the WhatsApp address of proactive messages.
// Each message names its entry point (Settings.EntryPoints): one with an app
// of its own has its own webhooks, one with a token of its own its own
// sender and media fetcher.
func New(cfg Settings, deps connector.Deps) (connector.Connector, error) {
	var eps *EntryPoints
	waReplay, fbReplay := replay(ParseWhatsApp), replay(ParseMessenger)
	if len(cfg.EntryPoints) > 0 {
		eps = NewEntryPoints(cfg.EntryPoints)
		waReplay, fbReplay = eps.replay(ParseWhatsApp, WhatsAppPath), eps.replay(ParseMessenger, MessengerPath)
	}
	c := connector.Connector{
		Name: "meta",
		Routes: []webhook.Route{
			{Name: ProviderWhatsApp, Path: WhatsAppPath, Methods: both, Replay: waReplay},
			{Name: ProviderMessenger, Path: MessengerPath, Methods: both, Replay: fbReplay},
		},
		Switches: []connector.Switch{{Connector: "meta", Disabled: "META_APP_SECRET and META_VERIFY_TOKEN are both needed"}},
	}
	var err error
	if c.Fetchers, err = fetchersOf(cfg, deps); err != nil {
		return connector.Connector{}, err
	}
	if cfg.AppSecret != "" && cfg.VerifyToken != "" {
		c.Routes[0].Handler = WhatsApp{AppSecret: cfg.AppSecret, VerifyToken: cfg.VerifyToken, EntryPoints: eps}
		c.Routes[1].Handler = Messenger{AppSecret: cfg.AppSecret, VerifyToken: cfg.VerifyToken, EntryPoints: eps}
		c.Switches[0].Disabled = ""
	}
	for _, ep := range cfg.EntryPoints {
		if !ep.Own() {
			continue
		}
		// Its webhooks are on with its own app, whatever META_APP_SECRET says.
		r := webhook.Route{Name: ProviderWhatsApp, Path: WhatsAppPath + "/" + ep.ID, Methods: both, Replay: waReplay,
			Handler: WhatsApp{AppSecret: ep.AppSecret, VerifyToken: ep.VerifyToken, EntryPoints: eps, EntryPoint: ep.ID}}
		if ep.Provider != ProviderWhatsApp {
			r = webhook.Route{Name: ProviderMessenger, Path: MessengerPath + "/" + ep.ID, Methods: both, Replay: fbReplay,
				Handler: Messenger{AppSecret: ep.AppSecret, VerifyToken: ep.VerifyToken, EntryPoints: eps, EntryPoint: ep.ID}}
		}
		c.Routes = append(c.Routes, r)
		c.Switches = append(c.Switches, connector.Switch{Connector: "meta_" + ep.ID})
	}
	if c.Senders, err = sendersOf(cfg, deps); err != nil {
		return connector.Connector{}, err
	}
	if cfg.WhatsAppPhoneNumberID != "" && cfg.WhatsAppAccessToken != "" {
		c.Addresses = map[string]core.BusinessAddress{normalize.ChannelWhatsApp: {
			Party: normalize.Party{Kind: normalize.KindPhone, Address: cfg.WhatsAppPhoneNumberID}, Provider: ProviderWhatsApp}}
	}
	return c, nil
}

// sendersOf are the senders of each channel: of the connector's tokens
// (WHATSAPP_ACCESS_TOKEN, MESSENGER_PAGE_ACCESS_TOKEN) and of each entry
// point's own token, a reply chosen by the address it leaves from.
func sendersOf(cfg Settings, deps connector.Deps) (map[string]outbox.Sender, error) {
	var shared *Sender
	if cfg.WhatsAppAccessToken != "" || cfg.MessengerPageAccessToken != "" {
		var err error
		if shared, err = NewSender(SenderConfig{GraphURL: cfg.GraphURL, Version: cfg.GraphVersion,
			WhatsAppToken: cfg.WhatsAppAccessToken, PhoneNumberID: cfg.WhatsAppPhoneNumberID,
			PageToken: cfg.MessengerPageAccessToken, UserAgent: deps.UserAgent, HTTPClient: deps.HTTPClient}); err != nil {
			return nil, fmt.Errorf("WHATSAPP_ACCESS_TOKEN/MESSENGER_PAGE_ACCESS_TOKEN: %w", err)
		}
	}
	out := map[string]outbox.Sender{}
	for _, ch := range []struct{ provider, token, variable string }{
		{ProviderWhatsApp, cfg.WhatsAppAccessToken, "WHATSAPP_ACCESS_TOKEN"},
		{ProviderMessenger, cfg.MessengerPageAccessToken, "MESSENGER_PAGE_ACCESS_TOKEN"},
		{ProviderInstagram, cfg.MessengerPageAccessToken, "MESSENGER_PAGE_ACCESS_TOKEN"},
	} {
		s := senders{byFrom: map[string]*Sender{}, missing: ch.variable}
		if ch.token != "" {
			s.shared = shared
		}
		for _, ep := range cfg.EntryPoints {
			if ep.Provider != ch.provider || ep.AccessToken == "" {
				continue
			}
			sc := SenderConfig{GraphURL: cfg.GraphURL, Version: cfg.GraphVersion, UserAgent: deps.UserAgent, HTTPClient: deps.HTTPClient,
				PageToken: ep.AccessToken}
			if ep.Provider == ProviderWhatsApp {
				sc.PageToken, sc.WhatsAppToken, sc.PhoneNumberID = "", ep.AccessToken, ep.Address
			}
			own, err := NewSender(sc)
			if err != nil {
				return nil, fmt.Errorf("entry point %q: %w", ep.ID, err)
			}
			s.byFrom[ep.Address] = own
		}
		switch {
		case len(s.byFrom) > 0:
			out[ch.provider] = s
		case s.shared != nil:
			out[ch.provider] = s.shared
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// fetchersOf are the media fetchers: the connector's, and for each entry
// point with a token of its own, a fetcher with that token for the media of
// the messages that came in at it (WhatsApp media ids, page attachments).
func fetchersOf(cfg Settings, deps connector.Deps) (map[string]media.Fetcher, error) {
	out, err := fetchers(cfg.GraphURL, cfg.GraphVersion, cfg.WhatsAppAccessToken, cfg.MediaAllowedHosts,
		deps.UserAgent, deps.MediaClient)
	if err != nil {
		return nil, err
	}
	own := map[string]tokenFetchers{}
	for _, ep := range cfg.EntryPoints {
		if ep.AccessToken == "" {
			continue
		}
		var f media.Fetcher
		if ep.Provider == ProviderWhatsApp {
			f, err = NewGraphFetcher(GraphFetcherConfig{BaseURL: cfg.GraphURL, Version: cfg.GraphVersion, Token: ep.AccessToken,
				AllowedHosts: cfg.MediaAllowedHosts, UserAgent: deps.UserAgent, Client: deps.MediaClient})
		} else {
			f, err = NewPageFetcher(cfg.GraphURL, ep.AccessToken, cfg.MediaAllowedHosts, deps.UserAgent, deps.MediaClient)
		}
		if err != nil {
			return nil, fmt.Errorf("entry point %q: %w", ep.ID, err)
		}
		tf, ok := own[ep.Provider]
		if !ok {
			tf = tokenFetchers{byEntryPoint: map[string]media.Fetcher{}, shared: out[ep.Provider]}
		}
		tf.byEntryPoint[ep.ID] = f
		own[ep.Provider] = tf
	}
	for p, tf := range own {
		out[p] = tf
	}
	return out, nil
}
