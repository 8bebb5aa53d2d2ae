package main

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/opengateway/gateway/config"
	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/webchat"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

func build(t *testing.T, cfg config.Config) []connector.Connector {
	t.Helper()
	g := &Gateway{cfg: cfg}
	conns, err := g.connectors()
	if err != nil {
		t.Fatal(err)
	}
	return conns
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Every provider's routes are mounted, answering 404 while disabled; only
// configured providers have senders and (credentialed) fetchers.
func TestConnectorsUnconfigured(t *testing.T) {
	conns := build(t, config.Config{})
	var routes []string
	for _, c := range conns {
		for _, r := range c.Routes {
			if r.Handler != nil {
				t.Errorf("route %s is enabled without credentials", r.Name)
			}
			routes = append(routes, r.Name+" "+r.Path)
		}
	}
	want := []string{"twilio_messaging /webhooks/twilio/messaging", "twilio_status /webhooks/twilio/status",
		"twilio_voice /webhooks/twilio/voice", "twilio_voice_status /webhooks/twilio/voice/status",
		"twilio_voice_recording /webhooks/twilio/voice/recording", "twilio_voice_transcription /webhooks/twilio/voice/transcription",
		"meta_whatsapp /webhooks/whatsapp", "meta_messenger /webhooks/messenger",
		"sendgrid_inbound /webhooks/sendgrid/inbound", "sendgrid_events /webhooks/sendgrid/events"}
	if !slices.Equal(routes, want) {
		t.Errorf("routes %q, want %q", routes, want)
	}
	s, _ := sendersOf(conns)
	f, _ := fetchersOf(conns)
	a, _ := addressesOf(conns)
	if got := keys(s); !slices.Equal(got, []string{"webchat"}) {
		t.Errorf("senders %q, want only webchat", got)
	}
	if got := keys(f); !slices.Equal(got, []string{"meta_instagram", "meta_messenger"}) {
		t.Errorf("fetchers %q, want the public CDN ones", got)
	}
	if len(a) != 0 {
		t.Errorf("addresses %v, want none", a)
	}
}

func TestConnectorsConfigured(t *testing.T) {
	cfg := config.Config{TwilioAccountSID: "ACx", TwilioAuthToken: "tok", TwilioFromNumber: "+1 415 555 0100",
		SendGridAPIKey: "SG.x", SendGridFromEmail: "Shop <help@shop.example>",
		WhatsAppAccessToken: "EAAx", WhatsAppPhoneNumberID: "1234567890", MessengerPageAccessToken: "EAAy",
		MetaAppSecret: "s", MetaVerifyToken: "v"}
	conns := build(t, cfg)
	s, _ := sendersOf(conns)
	f, _ := fetchersOf(conns)
	if got, want := keys(s), []string{"meta_instagram", "meta_messenger", "meta_whatsapp", "sendgrid", "twilio", "webchat"}; !slices.Equal(got, want) {
		t.Errorf("senders %q, want %q", got, want)
	}
	if got, want := keys(f), []string{"meta_instagram", "meta_messenger", "meta_whatsapp", "twilio"}; !slices.Equal(got, want) {
		t.Errorf("fetchers %q, want %q", got, want)
	}
	a, err := addressesOf(conns)
	if err != nil {
		t.Fatal(err)
	}
	phone := normalize.Party{Kind: normalize.KindPhone, Address: "+14155550100"}
	want := map[string]core.BusinessAddress{
		normalize.ChannelSMS: {Party: phone, Provider: "twilio"}, normalize.ChannelMMS: {Party: phone, Provider: "twilio"},
		normalize.ChannelWhatsApp: {Party: normalize.Party{Kind: normalize.KindPhone, Address: "1234567890"}, Provider: "meta_whatsapp"},
		normalize.ChannelEmail:    {Party: normalize.Party{Kind: normalize.KindEmail, Address: "help@shop.example", Name: "Shop"}, Provider: "sendgrid"},
	}
	for ch, w := range want {
		if a[ch] != w {
			t.Errorf("%s: %+v, want %+v", ch, a[ch], w)
		}
	}
	// Without the WhatsApp Cloud API, WhatsApp goes out from the Twilio number.
	cfg.WhatsAppAccessToken = ""
	a, _ = addressesOf(build(t, cfg))
	if w := (core.BusinessAddress{Party: phone, Provider: "twilio"}); a[normalize.ChannelWhatsApp] != w {
		t.Errorf("whatsapp: %+v, want the Twilio fallback %+v", a[normalize.ChannelWhatsApp], w)
	}
}

func TestConnectorErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  config.Config
		want string
	}{
		"twilio sid":          {config.Config{TwilioAccountSID: "AC-1", TwilioAuthToken: "tok"}, "TWILIO_ACCOUNT_SID"},
		"sendgrid public key": {config.Config{SendGridEventPublicKey: "not a key"}, "SENDGRID_EVENT_PUBLIC_KEY"},
		"meta graph version":  {config.Config{MessengerPageAccessToken: "x", MetaGraphVersion: "23"}, "MESSENGER_PAGE_ACCESS_TOKEN"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := (&Gateway{cfg: tc.cfg}).connectors(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one naming %s", err, tc.want)
			}
		})
	}
	// Two connectors claiming one provider name is a wiring error.
	chat, _ := webchat.NewConnector(webchat.Settings{}, connector.Deps{})
	dup := []connector.Connector{chat, chat}
	if _, err := sendersOf(dup); err == nil || !strings.Contains(err.Error(), `"webchat"`) {
		t.Errorf("duplicate sender: err %v", err)
	}
}
