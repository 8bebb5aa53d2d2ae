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
	// EntryPoints are the Twilio numbers of GATEWAY_ENTRY_POINTS; none
	// (no file): messages name no entry point and the core derives it.
	EntryPoints []EntryPoint
	// VoiceEntryPoints are its voice numbers (provider voice); none: calls
	// name no entry point and the core derives it.
	VoiceEntryPoints []EntryPoint
}

// voiceConfig is cfg.Voice with the API URL calls' recordings come from.
func (cfg Settings) voiceConfig() VoiceConfig {
	vc := cfg.Voice
	vc.APIURL = cfg.APIURL
	if vc.APIURL == "" {
		vc.APIURL = "https://api.twilio.com"
	}
	return vc
}

// New returns the Twilio connector: the messaging, status and voice webhooks
// (enabled by TWILIO_AUTH_TOKEN), the sender and the media fetcher (by
// TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN), and TWILIO_FROM_NUMBER as the
// SMS and MMS address of proactive messages (and WhatsApp's, unless another
// connector has one). Each message names its entry point (Settings.EntryPoints):
// an entry point with an account of its own has its own webhooks and sender.
func New(cfg Settings, deps connector.Deps) (connector.Connector, error) {
	var eps, veps *EntryPoints
	replay := webhook.HandlerFunc(ReplayMessaging)
	if len(cfg.EntryPoints) > 0 {
		eps = NewEntryPoints(cfg.EntryPoints)
		replay = eps.Replay
	}
	if len(cfg.VoiceEntryPoints) > 0 {
		veps = NewVoiceEntryPoints(cfg.VoiceEntryPoints)
	}
	c := connector.Connector{
		Name: "twilio",
		Routes: []webhook.Route{
			{Name: "twilio_messaging", Path: MessagingPath, Methods: []string{http.MethodPost}, Replay: replay},
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
		c.Routes[0].Handler, c.Routes[1].Handler = Messaging{Verifier: v, EntryPoints: eps}, Status{Verifier: v}
		for i := 2; i < len(c.Routes); i++ {
			c.Routes[i].Handler = Voice{Verifier: v, Config: cfg.voiceConfig(), Path: c.Routes[i].Path, EntryPoints: veps}
		}
		c.Switches[0].Disabled = ""
		if cfg.PublicURL == "" {
			c.Switches[0].Warning = "twilio connector: GATEWAY_PUBLIC_URL is not set; signatures are checked against the URL of each request as received, which fails behind a proxy"
		}
	}
	c.Routes = append(c.Routes, ownRoutes(cfg.EntryPoints, eps, replay)...)
	c.Routes = append(c.Routes, ownVoiceRoutes(cfg, veps)...)
	for _, ep := range append(cfg.EntryPoints[:len(cfg.EntryPoints):len(cfg.EntryPoints)], cfg.VoiceEntryPoints...) {
		if ep.Own() { // its webhooks are on with its own account, whatever TWILIO_AUTH_TOKEN says
			c.Switches = append(c.Switches, connector.Switch{Connector: "twilio_" + ep.ID})
		}
	}
	var err error
	if c.Senders, c.Fetchers, err = sendersOf(cfg, deps); err != nil {
		return connector.Connector{}, err
	}
	if cfg.FromNumber != "" {
		if p, err := normalize.CanonicalPhone(cfg.FromNumber); err == nil {
			from := core.BusinessAddress{Party: normalize.Party{Kind: normalize.KindPhone, Address: p}, Provider: Provider}
			c.Addresses = map[string]core.BusinessAddress{normalize.ChannelSMS: from, normalize.ChannelMMS: from}
			c.Fallbacks = map[string]core.BusinessAddress{normalize.ChannelWhatsApp: from}
		}
	}
	return c, nil
}

// ownRoutes are the messaging and status webhooks of each entry point with
// an account of its own (MessagingPath/{id}, StatusPath/{id}), signed with
// its auth token; another id has no route (404).
func ownRoutes(list []EntryPoint, eps *EntryPoints, replay webhook.Handler) []webhook.Route {
	var out []webhook.Route
	for _, ep := range list {
		if !ep.Own() {
			continue
		}
		v := NewVerifier(ep.AuthToken)
		out = append(out,
			webhook.Route{Name: "twilio_messaging", Path: MessagingPath + "/" + ep.ID, Methods: []string{http.MethodPost},
				Handler: Messaging{Verifier: v, EntryPoints: eps, EntryPoint: ep.ID}, Replay: replay},
			webhook.Route{Name: "twilio_status", Path: StatusPath + "/" + ep.ID, Methods: []string{http.MethodPost},
				Handler: Status{Verifier: v}, Replay: webhook.HandlerFunc(ReplayStatus)})
	}
	return out
}

// ownVoiceRoutes are the voice webhooks of each voice entry point with an
// account of its own (VoicePath/{id} and the status, recording and
// transcription callbacks under it, which its TwiML names), signed with its
// auth token, and the status callback of the SMS replies that leave from
// its number (StatusPath/{id}); another id has no route (404).
func ownVoiceRoutes(cfg Settings, veps *EntryPoints) []webhook.Route {
	var out []webhook.Route
	for _, ep := range cfg.VoiceEntryPoints {
		if !ep.Own() {
			continue
		}
		v := NewVerifier(ep.AuthToken)
		for _, r := range []struct{ name, path string }{{"twilio_voice", VoicePath}, {"twilio_voice_status", VoiceStatusPath},
			{"twilio_voice_recording", VoiceRecordingPath}, {"twilio_voice_transcription", VoiceTranscriptionPath}} {
			out = append(out, webhook.Route{Name: r.name, Path: r.path + "/" + ep.ID, Methods: []string{http.MethodPost},
				Handler: Voice{Verifier: v, Config: cfg.voiceConfig(), Path: r.path, EntryPoints: veps, EntryPoint: ep.ID}})
		}
		out = append(out, webhook.Route{Name: "twilio_status", Path: StatusPath + "/" + ep.ID, Methods: []string{http.MethodPost},
			Handler: Status{Verifier: v}, Replay: webhook.HandlerFunc(ReplayStatus)})
	}
	return out
}

// sendersOf are the sender and the media fetcher: of TWILIO_ACCOUNT_SID
// and TWILIO_AUTH_TOKEN, and of each entry point's own account (a reply
// chosen by the number it leaves from, a media URL by the account it names).
func sendersOf(cfg Settings, deps connector.Deps) (map[string]outbox.Sender, map[string]media.Fetcher, error) {
	all, fs := senders{byFrom: map[string]*Sender{}}, fetchers{bySID: map[string]media.Fetcher{}}
	var err error
	if cfg.AccountSID != "" && cfg.AuthToken != "" {
		if all.shared, fs.shared, err = accountOf(cfg, deps, cfg.AccountSID, cfg.AuthToken, StatusPath); err != nil {
			return nil, nil, fmt.Errorf("TWILIO_ACCOUNT_SID: %w", err)
		}
	}
	// A voice number's replies leave as SMS from it, through its account,
	// unless a Twilio entry point has that number too (listed first, it wins).
	for _, ep := range append(cfg.EntryPoints[:len(cfg.EntryPoints):len(cfg.EntryPoints)], cfg.VoiceEntryPoints...) {
		if !ep.Own() {
			continue
		}
		s, f, err := accountOf(cfg, deps, ep.AccountSID, ep.AuthToken, StatusPath+"/"+ep.ID)
		if err != nil {
			return nil, nil, fmt.Errorf("entry point %q: %w", ep.ID, err)
		}
		if _, taken := all.byFrom[ep.Address]; !taken {
			all.byFrom[ep.Address] = s
		}
		if _, taken := fs.bySID[ep.AccountSID]; !taken {
			fs.bySID[ep.AccountSID] = f
		}
	}
	switch {
	case len(all.byFrom) > 0:
		return map[string]outbox.Sender{Provider: all}, map[string]media.Fetcher{Provider: fs}, nil
	case all.shared != nil:
		return map[string]outbox.Sender{Provider: all.shared}, map[string]media.Fetcher{Provider: fs.shared}, nil
	}
	return nil, nil, nil
}

// accountOf are the sender and the media fetcher of one account; sends
// ask for status callbacks at statusPath.
func accountOf(cfg Settings, deps connector.Deps, sid, token, statusPath string) (*Sender, media.Fetcher, error) {
	callback := ""
	if cfg.PublicURL != "" {
		callback = cfg.PublicURL + statusPath
	}
	s, err := NewSender(SenderConfig{AccountSID: sid, AuthToken: token,
		BaseURL: cfg.APIURL, UserAgent: deps.UserAgent, StatusCallback: callback, HTTPClient: deps.HTTPClient})
	if err != nil {
		return nil, nil, err
	}
	f, err := NewFetcher(FetcherConfig{AccountSID: sid, AuthToken: token, APIURL: cfg.APIURL,
		AllowedHosts: cfg.MediaAllowedHosts, UserAgent: deps.UserAgent, Client: deps.MediaClient})
	return s, f, err
}
