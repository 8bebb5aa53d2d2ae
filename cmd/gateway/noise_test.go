package main

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// Seed (issue): "A WhatsApp reaction reopened a closed conversation and
// counted as unreplied." End to end on both stores: a text, the
// conversation closed by an admin, then a reaction webhook: it is published
// as message.received with kind reaction on the same conversation, which
// stays closed, its unreplied count the text's alone, and is never
// reopened; the unreplied figure stays 0.
func TestWhatsAppReactionDoesNotReopenAClosedConversation(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startWhatsAppGateway(t, dialect, "admin:ops:ops-token")
			webhook := func(id, typ, object string) {
				t.Helper()
				body := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"%s","timestamp":"1749416383","type":"%s","%s":%s}]},"field":"messages"}]}]}`,
					providertest.MetaPhoneNumberID, id, typ, typ, object))
				if s, b := postMeta(t, g, "/webhooks/whatsapp", body, meta.Sign(metaSecret, body)); s != http.StatusOK {
					t.Fatalf("webhook %s: %d %s", typ, s, b)
				}
			}
			webhook("wamid.TEXT1", "text", `{"body":"Where is my order?"}`)
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
			conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)
			auth := map[string]string{"Authorization": "Bearer ops-token", "Content-Type": "application/json"}
			if s, b := post(t, g, "/v1/conversations/"+conv+"/status", []byte(`{"status":"closed"}`), auth); s != http.StatusOK {
				t.Fatalf("close: %d %s", s, b)
			}
			webhook("wamid.REACT1", "reaction", `{"message_id":"wamid.OUT1","emoji":"\ud83d\udc4d"}`)
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 2 })
			got := ofType(evs, "message.received")[1]
			msg, _ := got.Data["message"].(map[string]any)
			if got.Data["conversation_id"] != conv || msg["kind"] != "reaction" {
				t.Fatalf("the reaction's message.received: conversation %v, message %v", got.Data["conversation_id"], msg)
			}
			if n := count(evs, "conversation.reopened") + count(evs, "conversation.created"); n != 1 {
				t.Errorf("events %v: the reaction opened a conversation", typesOf(evs))
			}
			var c core.Conversation
			getAs(t, g, "ops-token", "/v1/conversations/"+conv, &c)
			if c.Status != core.StatusClosed || c.Unreplied != 1 || c.MessageCount != 2 {
				t.Fatalf("after the reaction: status %s, unreplied %d, %d messages; want closed, 1 (the text's), 2", c.Status, c.Unreplied, c.MessageCount)
			}
			var st core.Stats
			getAs(t, g, "ops-token", "/v1/stats", &st)
			if st.Unreplied != 0 {
				t.Errorf("unreplied figure %d, want 0", st.Unreplied)
			}
		})
	}
}
