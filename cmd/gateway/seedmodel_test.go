package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// A WhatsApp webhook whose message Meta timestamped 273 days ago, end to
// end: first response counts from the gateway's receipt of the webhook
// (the inbound.v1 record's time), not from Meta's timestamp; a bot's reply
// (an auto-responder's) leaves the message unreplied, a human's answers it.
func TestWhatsAppTimesCountFromTheGatewaysReceiptAndOnlyHumansAnswer(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startWhatsAppGateway(t, dialect, "agent:ann:ann-token,bot:autoresponder:bot-token")
			sent := time.Now().Add(-273 * 24 * time.Hour).Unix()
			body := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.LATE1","timestamp":"%d","type":"text","text":{"body":"Is my order on its way?"}}]},"field":"messages"}]}]}`,
				providertest.MetaPhoneNumberID, sent))
			accepted := time.Now()
			if s, b := postMeta(t, g, "/webhooks/whatsapp", body, meta.Sign(metaSecret, body)); s != http.StatusOK {
				t.Fatalf("webhook: %d %s", s, b)
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
			conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)
			reply := []byte(`{"template":{"name":"order_update","language":"en"}}`)
			for _, token := range []string{"bot-token", "ann-token"} {
				if s, b := post(t, g, "/v1/conversations/"+conv+"/messages", reply,
					map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}); s != http.StatusAccepted {
					t.Fatalf("reply with %s: %d %s", token, s, b)
				}
				var c core.Conversation
				getAs(t, g, "ann-token", "/v1/conversations/"+conv, &c)
				switch token {
				case "bot-token":
					if c.Unreplied != 1 || c.FirstResponseSeconds != nil {
						t.Fatalf("after the auto-responder: unreplied %d, first response %v; want 1 and none", c.Unreplied, c.FirstResponseSeconds)
					}
					if c.FirstInboundAt == nil || c.FirstInboundAt.Before(accepted.Add(-time.Second)) {
						t.Fatalf("first inbound at %v, want the receipt time (%v), not Meta's", c.FirstInboundAt, accepted)
					}
				default:
					if c.Unreplied != 0 || c.FirstResponseSeconds == nil || *c.FirstResponseSeconds > 60 {
						t.Fatalf("after ann: unreplied %d, first response %v seconds; want 0 and under a minute", c.Unreplied, c.FirstResponseSeconds)
					}
				}
			}
		})
	}
}

// "A human reply sent from the provider's own app" counts as the answer: a
// customer's WhatsApp message, then a person answers from the WhatsApp
// Business app on the same number (Meta's smb_message_echoes): the echo is
// kept as an outbound message of the conversation and unreplied is 0.
func TestWhatsAppBusinessAppEchoAnswersTheCustomer(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startGateway(t, dialect, map[string]string{"META_APP_SECRET": metaSecret, "META_VERIFY_TOKEN": metaVerify,
				"GATEWAY_API_TOKENS": "agent:ann:ann-token"})
			notify := func(field, items string) {
				t.Helper()
				body := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},` +
					items + `},"field":"` + field + `"}]}]}`)
				if s, b := postMeta(t, g, "/webhooks/whatsapp", body, meta.Sign(metaSecret, body)); s != http.StatusOK {
					t.Fatalf("%s webhook: %d %s", field, s, b)
				}
			}
			notify("messages", `"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.IN1","timestamp":"1749416800","type":"text","text":{"body":"Is my order on its way?"}}]`)
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
			conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)
			notify("smb_message_echoes", `"message_echoes":[{"from":"15550783881","to":"16505551234","id":"wamid.ECHO1","timestamp":"1749416900","type":"text","text":{"body":"Yes, it ships tomorrow."}}]`)
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 2 })
			echo := ofType(evs, "message.received")[1]
			if echo.Data["conversation_id"] != conv || echo.Data["message"].(map[string]any)["direction"] != "outbound" {
				t.Fatalf("the echo: %v", echo.Data)
			}
			var c core.Conversation
			getAs(t, g, "ann-token", "/v1/conversations/"+conv, &c)
			if c.Unreplied != 0 || c.FirstResponseSeconds == nil {
				t.Fatalf("after the Business app's reply: unreplied %d, first response %v; want 0 and set", c.Unreplied, c.FirstResponseSeconds)
			}
		})
	}
}
