package twilio

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

// Webhook paths; the status path is also the status callback of sends.
const (
	MessagingPath = "/webhooks/twilio/messaging"
	StatusPath    = "/webhooks/twilio/status"
)

var _ connector.New[Settings] = New

// Settings are what the Twilio connector takes of the configuration
// (TWILIO_*, GATEWAY_VOICE_*, GATEWAY_PUBLIC_URL,
// GATEWAY_MEDIA_ALLOWED_HOSTS).
type Settings struct {
	AccountSID, AuthToken, FromNumber string
	// APIURL is TWILIO_API_URL ("" means https://api.twilio.com).
	APIURL string
	// PublicURL is the gateway's public URL: signatures are checked
	// against it, and sends ask for status callbacks under it.
	PublicURL         string
	MediaAllowedHosts []string
	// Voice is how calls are answered; its APIURL is taken from APIURL.
	Voice VoiceConfig
}

// New returns the Twilio connector: the messaging, status and voice webhooks
// (enabled by TWILIO_AUTH_TOKEN), the sender and the media fetcher (by
// TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN), and TWILIO_FROM_NUMBER as the
// SMS and MMS address of proactive messages (and WhatsApp's, unless another
// connector has one).
func New(cfg Settings, deps connector.Deps) (connector.Connector, error) {
	c := connector.Connector{
		Name: "twilio",
		Routes: []webhook.Route{
			{Name: "twilio_messaging", Path: MessagingPath, Methods: []string{http.MethodPost}, Replay: webhook.HandlerFunc(ReplayMessaging)},
			{Name: "twilio_status", Path: StatusPath, Methods: []string{http.MethodPost}, Replay: webhook.HandlerFunc(ReplayStatus)},
			{Name: "twilio_voice", Path: VoicePath, Methods: []string{http.MethodPost}},
			{Name: "twilio_voice_status", Path: VoiceStatusPath, Methods: []string{http.MethodPost}},
			{Name: "twilio_voice_recording", Path: VoiceRecordingPath, Methods: []string{http.MethodPost}},
			{Name: "twilio_voice_transcription", Path: VoiceTranscriptionPath, Methods: []string{http.MethodPost}},
		},
		Switches: []connector.Switch{{Connector: "twilio", Disabled: "TWILIO_AUTH_TOKEN is not set"}},
	}
	if cfg.AuthToken != "" {
		v := NewVerifier(cfg.AuthToken)
		c.Routes[0].Handler, c.Routes[1].Handler = Messaging{Verifier: v}, Status{Verifier: v}
		vc := cfg.Voice
		vc.APIURL = cfg.APIURL
		if vc.APIURL == "" {
			vc.APIURL = "https://api.twilio.com"
		}
		for i := 2; i < len(c.Routes); i++ {
			c.Routes[i].Handler = Voice{Verifier: v, Config: vc, Path: c.Routes[i].Path}
		}
		c.Switches[0].Disabled = ""
		if cfg.PublicURL == "" {
			c.Switches[0].Warning = "twilio connector: GATEWAY_PUBLIC_URL is not set; signatures are checked against the URL of each request as received, which fails behind a proxy"
		}
	}
	if cfg.AccountSID != "" && cfg.AuthToken != "" {
		callback := ""
		if cfg.PublicURL != "" {
			callback = cfg.PublicURL + StatusPath
		}
		s, err := NewSender(SenderConfig{AccountSID: cfg.AccountSID, AuthToken: cfg.AuthToken,
			BaseURL: cfg.APIURL, UserAgent: deps.UserAgent, StatusCallback: callback, HTTPClient: deps.HTTPClient})
		if err != nil {
			return connector.Connector{}, fmt.Errorf("TWILIO_ACCOUNT_SID: %w", err)
		}
		c.Senders = map[string]outbox.Sender{Provider: s}
		f, err := NewFetcher(FetcherConfig{AccountSID: cfg.AccountSID, AuthToken: cfg.AuthToken, APIURL: cfg.APIURL,
			AllowedHosts: cfg.MediaAllowedHosts, UserAgent: deps.UserAgent, Client: deps.MediaClient})
		if err != nil {
			return connector.Connector{}, err
		}
		c.Fetchers = map[string]media.Fetcher{Provider: f}
	}
	if cfg.FromNumber != "" {
		if p, err := normalize.CanonicalPhone(cfg.FromNumber); err == nil {
			from := core.Sender{Party: normalize.Party{Kind: normalize.KindPhone, Address: p}, Provider: Provider}
			c.Addresses = map[string]core.Sender{normalize.ChannelSMS: from, normalize.ChannelMMS: from}
			c.Fallbacks = map[string]core.Sender{normalize.ChannelWhatsApp: from}
		}
	}
	return c, nil
}
