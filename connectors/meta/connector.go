package meta

import (
	"fmt"
	"net/http"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core"
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
}

// New returns the Meta connector: the WhatsApp and Messenger/Instagram
// webhooks (enabled by META_APP_SECRET with META_VERIFY_TOKEN), the sender
// of each channel whose token is set, the media fetchers (Messenger and
// Instagram files are public URLs; WhatsApp's need WHATSAPP_ACCESS_TOKEN),
// and WHATSAPP_PHONE_NUMBER_ID as the WhatsApp address of proactive messages.
func New(cfg Settings, deps connector.Deps) (connector.Connector, error) {
	both := []string{http.MethodGet, http.MethodPost}
	c := connector.Connector{
		Name: "meta",
		Routes: []webhook.Route{
			{Name: ProviderWhatsApp, Path: "/webhooks/whatsapp", Methods: both, Replay: replay(ParseWhatsApp)},
			{Name: ProviderMessenger, Path: "/webhooks/messenger", Methods: both, Replay: replay(ParseMessenger)},
		},
		Switches: []connector.Switch{{Connector: "meta", Disabled: "META_APP_SECRET and META_VERIFY_TOKEN are both needed"}},
	}
	var err error
	if c.Fetchers, err = fetchers(cfg.GraphURL, cfg.GraphVersion, cfg.WhatsAppAccessToken, cfg.MediaAllowedHosts,
		deps.UserAgent, deps.MediaClient); err != nil {
		return connector.Connector{}, err
	}
	if cfg.AppSecret != "" && cfg.VerifyToken != "" {
		c.Routes[0].Handler = WhatsApp{AppSecret: cfg.AppSecret, VerifyToken: cfg.VerifyToken}
		c.Routes[1].Handler = Messenger{AppSecret: cfg.AppSecret, VerifyToken: cfg.VerifyToken}
		c.Switches[0].Disabled = ""
	}
	if cfg.WhatsAppAccessToken != "" || cfg.MessengerPageAccessToken != "" {
		s, err := NewSender(SenderConfig{GraphURL: cfg.GraphURL, Version: cfg.GraphVersion,
			WhatsAppToken: cfg.WhatsAppAccessToken, PhoneNumberID: cfg.WhatsAppPhoneNumberID,
			PageToken: cfg.MessengerPageAccessToken, UserAgent: deps.UserAgent, HTTPClient: deps.HTTPClient})
		if err != nil {
			return connector.Connector{}, fmt.Errorf("WHATSAPP_ACCESS_TOKEN/MESSENGER_PAGE_ACCESS_TOKEN: %w", err)
		}
		c.Senders = map[string]outbox.Sender{}
		if cfg.WhatsAppAccessToken != "" {
			c.Senders[ProviderWhatsApp] = s
		}
		if cfg.MessengerPageAccessToken != "" {
			c.Senders[ProviderMessenger], c.Senders[ProviderInstagram] = s, s
		}
	}
	if cfg.WhatsAppPhoneNumberID != "" && cfg.WhatsAppAccessToken != "" {
		c.Addresses = map[string]core.BusinessAddress{normalize.ChannelWhatsApp: {
			Party: normalize.Party{Kind: normalize.KindPhone, Address: cfg.WhatsAppPhoneNumberID}, Provider: ProviderWhatsApp}}
	}
	return c, nil
}
