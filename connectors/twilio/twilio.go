package twilio

import (
	"fmt"
	"net/http"
	"time"

	"github.com/opengateway/gateway/config"
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

var _ connector.New = New

// New returns the Twilio connector: the messaging, status and voice webhooks
// (enabled by TWILIO_AUTH_TOKEN), the sender and the media fetcher (by
// TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN), and TWILIO_FROM_NUMBER as the
// SMS and MMS address of proactive messages (and WhatsApp's, unless another
// connector has one).
func New(cfg config.Config, deps connector.Deps) (connector.Connector, error) {
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
	if cfg.TwilioAuthToken != "" {
		v := NewVerifier(cfg.TwilioAuthToken)
		c.Routes[0].Handler, c.Routes[1].Handler = Messaging{Verifier: v}, Status{Verifier: v}
		vc := VoiceConfig{ForwardTo: cfg.VoiceForwardTo, RingSeconds: cfg.VoiceRingSeconds, Greeting: cfg.VoiceGreeting,
			MaxRecording: int(cfg.VoiceMaxRecording / time.Second), APIURL: cfg.TwilioAPIURL}
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
	if cfg.TwilioAccountSID != "" && cfg.TwilioAuthToken != "" {
		callback := ""
		if cfg.PublicURL != "" {
			callback = cfg.PublicURL + StatusPath
		}
		s, err := NewSender(SenderConfig{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken,
			BaseURL: cfg.TwilioAPIURL, UserAgent: deps.UserAgent, StatusCallback: callback, HTTPClient: deps.HTTPClient})
		if err != nil {
			return connector.Connector{}, fmt.Errorf("TWILIO_ACCOUNT_SID: %w", err)
		}
		c.Senders = map[string]outbox.Sender{Provider: s}
		f, err := NewFetcher(FetcherConfig{AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken, APIURL: cfg.TwilioAPIURL,
			AllowedHosts: cfg.MediaAllowedHosts, UserAgent: deps.UserAgent, Client: deps.MediaClient})
		if err != nil {
			return connector.Connector{}, err
		}
		c.Fetchers = map[string]media.Fetcher{Provider: f}
	}
	if cfg.TwilioFromNumber != "" {
		if p, err := normalize.CanonicalPhone(cfg.TwilioFromNumber); err == nil {
			from := core.Sender{Party: normalize.Party{Kind: normalize.KindPhone, Address: p}, Provider: Provider}
			c.Addresses = map[string]core.Sender{normalize.ChannelSMS: from, normalize.ChannelMMS: from}
			c.Fallbacks = map[string]core.Sender{normalize.ChannelWhatsApp: from}
		}
	}
	return c, nil
}
