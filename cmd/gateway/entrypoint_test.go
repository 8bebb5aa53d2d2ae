package main

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/sendgrid"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/connectors/webchat"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// The derived entry points name every connector's provider: a message of
// each comes in at its own entry point.
func TestDerivedEntryPointsNameEveryProvider(t *testing.T) {
	for _, c := range []struct{ provider, channel, want string }{
		{twilio.Provider, normalize.ChannelSMS, core.EntryPointTwilio},
		{twilio.Provider, normalize.ChannelMMS, core.EntryPointTwilio},
		{twilio.Provider, normalize.ChannelWhatsApp, core.EntryPointTwilio},
		{twilio.Provider, normalize.ChannelVoice, core.EntryPointVoice},
		{meta.ProviderWhatsApp, normalize.ChannelWhatsApp, core.EntryPointWhatsApp},
		{meta.ProviderMessenger, normalize.ChannelMessenger, core.EntryPointMessenger},
		{meta.ProviderInstagram, normalize.ChannelInstagram, core.EntryPointInstagram},
		{sendgrid.Provider, normalize.ChannelEmail, core.EntryPointSendGrid},
		{webchat.Provider, normalize.ChannelChat, core.EntryPointWebChat},
	} {
		if got := core.EntryPointOf(c.provider, c.channel); got != c.want {
			t.Errorf("%s on %s: entry point %q, want %q", c.provider, c.channel, got, c.want)
		}
	}
}

// A Twilio SMS webhook and a WhatsApp Cloud API webhook, end to end: each
// conversation starts at its provider's derived entry point, says so in
// conversation.created, and GET /v1/conversations?entry_point= lists it
// under its own entry point only.
func TestConversationsListedByEntryPointEndToEnd(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startWhatsAppGateway(t, dialect, "agent:ann:ann-token")
			if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm("SM00000000000000000000000000000071", "+14155550101", "Where is my parcel?"), nil); s != http.StatusOK {
				t.Fatalf("Twilio SMS webhook: %d %s", s, b)
			}
			body := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.ENTRY1","timestamp":"1700000000","type":"text","text":{"body":"Do you ship abroad?"}}]},"field":"messages"}]}]}`,
				providertest.MetaPhoneNumberID))
			if s, b := postMeta(t, g, "/webhooks/whatsapp", body, meta.Sign(metaSecret, body)); s != http.StatusOK {
				t.Fatalf("WhatsApp webhook: %d %s", s, b)
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "conversation.created") == 2 })
			byEntry := map[string]string{}
			for _, ev := range ofType(evs, "conversation.created") {
				entry, _ := ev.Data["entry_point"].(string)
				conv, _ := ev.Data["conversation"].(map[string]any)
				if conv["entry_point"] != entry {
					t.Errorf("conversation.created: data.entry_point %q, conversation.entry_point %v", entry, conv["entry_point"])
				}
				byEntry[entry] = ev.Data["conversation_id"].(string)
			}
			if len(byEntry) != 2 || byEntry["twilio"] == "" || byEntry["whatsapp"] == "" {
				t.Fatalf("conversation.created by entry point %v, want twilio and whatsapp", byEntry)
			}
			for _, entry := range []string{"twilio", "whatsapp"} {
				var page struct{ Data []core.Conversation }
				getAs(t, g, "ann-token", "/v1/conversations?entry_point="+entry, &page)
				var got []string
				for _, c := range page.Data {
					got = append(got, c.ID)
					if c.EntryPoint != entry {
						t.Errorf("?entry_point=%s listed %s with entry_point %q", entry, c.ID, c.EntryPoint)
					}
				}
				if !slices.Equal(got, []string{byEntry[entry]}) {
					t.Errorf("?entry_point=%s lists %v, want only %s", entry, got, byEntry[entry])
				}
			}
		})
	}
}
