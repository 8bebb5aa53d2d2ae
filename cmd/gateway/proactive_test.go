package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// apiJSON sends a JSON request to the operator API as the agent and decodes
// the answer.
func apiJSON(t *testing.T, g *Gateway, method, path, body string) (int, map[string]any) {
	t.Helper()
	status, b := apiCall(t, g, method, path, body)
	var out map[string]any
	if err := json.Unmarshal([]byte(b), &out); err != nil {
		t.Fatalf("%s %s: %d %q", method, path, status, b)
	}
	return status, out
}

// "A new conversation can be created by sending a new message to a
// contact", and "WhatsApp and SMS are more effective channels for
// pro-active engagement" with their "message sending restrictions"
// (Converso): a customer created with a phone who never wrote gets an SMS
// from TWILIO_FROM_NUMBER through Twilio; WhatsApp without a template is
// 422 template_required and creates nothing, with one it reaches the Graph
// API; the customer's SMS answer joins the same customer and conversation.
func TestNewConversationBySendingANewMessageToAContact(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			twilioFake, metaFake := providertest.NewTwilio(t), providertest.NewMeta(t)
			g := startGateway(t, dialect, map[string]string{
				"TWILIO_ACCOUNT_SID": providertest.TwilioAccountSID, "TWILIO_AUTH_TOKEN": providertest.TwilioAuthToken,
				"TWILIO_API_URL": twilioFake.URL, "TWILIO_FROM_NUMBER": "+15558675310", "GATEWAY_API_TOKENS": "agent:ann:agent-token",
				"META_APP_SECRET": metaSecret, "META_VERIFY_TOKEN": metaVerify, "META_GRAPH_URL": metaFake.URL,
				"WHATSAPP_ACCESS_TOKEN": providertest.MetaWhatsAppToken, "WHATSAPP_PHONE_NUMBER_ID": providertest.MetaPhoneNumberID,
			})
			s, cust := apiJSON(t, g, "POST", "/v1/customers",
				`{"name":"Ann Lee","identities":[{"kind":"phone","address":"+1 (415) 555-0199"}],"attributes":{"crm_id":"C-7"}}`)
			if s != http.StatusCreated {
				t.Fatalf("POST /v1/customers: %d %v", s, cust)
			}
			custID := cust["id"].(string)
			s, body := apiJSON(t, g, "POST", "/v1/conversations", `{"customer_id":"`+custID+`","channel":"whatsapp","text":"Your order shipped"}`)
			if s != http.StatusUnprocessableEntity || body["error"].(map[string]any)["code"] != "template_required" {
				t.Fatalf("WhatsApp text to a customer who never wrote: %d %v", s, body)
			}
			s, conv := apiJSON(t, g, "POST", "/v1/conversations", `{"customer_id":"`+custID+`","channel":"sms","text":"Your order shipped"}`)
			if s != http.StatusCreated || conv["customer_id"] != custID {
				t.Fatalf("POST /v1/conversations: %d %v", s, conv)
			}
			convID := conv["id"].(string)
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent")+count(e, "message.failed") == 1 })
			if count(evs, "message.failed") > 0 || count(evs, "conversation.created") != 1 {
				t.Fatalf("events %v", typesOf(evs))
			}
			if c := ofType(evs, "customer.created")[0].Data; c["actor"] != "agent:ann" || c["customer_id"] != custID {
				t.Fatalf("customer.created %v", c)
			}
			if got := twilioFake.Messages(); len(got) != 1 || got[0].To != "+14155550199" || got[0].From != "+15558675310" || got[0].Body != "Your order shipped" {
				t.Fatalf("Twilio received %+v", got)
			}

			// The customer answers by SMS: same customer, same conversation.
			in := smsForm("SM00000000000000000000000000000099", "+14155550199", "Thanks! When will it arrive?")
			sig := twilio.Sign(providertest.TwilioAuthToken, testPublic+"/webhooks/twilio/messaging", in)
			if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", in, &sig); s != http.StatusOK {
				t.Fatalf("inbound: %d %s", s, b)
			}
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
			if d := ofType(evs, "message.received")[0].Data; d["customer_id"] != custID || d["conversation_id"] != convID {
				t.Fatalf("the answer went to customer %v conversation %v, want %s %s", d["customer_id"], d["conversation_id"], custID, convID)
			}
			if n := count(evs, "customer.created"); n != 1 {
				t.Fatalf("%d customer.created: the answer made a new customer", n)
			}

			// Another customer who never wrote, on WhatsApp with a template.
			s, cust2 := apiJSON(t, g, "POST", "/v1/customers", `{"identities":[{"kind":"phone","address":"+16505551234"}]}`)
			if s != http.StatusCreated {
				t.Fatalf("POST /v1/customers: %d %v", s, cust2)
			}
			s, conv2 := apiJSON(t, g, "POST", "/v1/conversations", `{"customer_id":"`+cust2["id"].(string)+`","channel":"whatsapp",`+
				`"template":{"name":"order_update","language":"en_US","components":[{"type":"body","parameters":[{"type":"text","text":"A-1"}]}]}}`)
			if s != http.StatusCreated {
				t.Fatalf("WhatsApp template: %d %v", s, conv2)
			}
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent")+count(e, "message.failed") == 2 })
			if count(evs, "message.failed") > 0 {
				t.Fatalf("the template failed: %v", ofType(evs, "message.failed")[0].Data["error"])
			}
			sent := metaFake.Messages()
			if len(sent) != 1 || sent[0].Body["type"] != "template" || sent[0].Body["to"] != "16505551234" ||
				sent[0].Body["template"].(map[string]any)["name"] != "order_update" {
				t.Fatalf("Graph API received %+v", sent)
			}
		})
	}
}
