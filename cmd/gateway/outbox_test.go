package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// A reply command on outbound.v1 leaves through Twilio (a faithful fake) to
// the number the customer wrote from, from the number they wrote to; the
// Twilio status callback then moves it to delivered. A redelivered command
// sends nothing twice.
func TestReplyThroughTwilio(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			fake := providertest.NewTwilio(t)
			g := startGateway(t, dialect, map[string]string{
				"TWILIO_ACCOUNT_SID": providertest.TwilioAccountSID, "TWILIO_AUTH_TOKEN": providertest.TwilioAuthToken,
				"TWILIO_API_URL": fake.URL, "GATEWAY_API_TOKENS": "agent:agent-token",
			})
			sign := func(path string, form url.Values) *string {
				s := twilio.Sign(providertest.TwilioAuthToken, testPublic+path, form)
				return &s
			}
			in := smsForm("SM00000000000000000000000000000001", "+14155550101", "Where is my parcel?")
			if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", in, sign("/webhooks/twilio/messaging", in)); s != http.StatusOK {
				t.Fatalf("inbound: %d %s", s, b)
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
			conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)

			cmd, _ := json.Marshal(map[string]any{"id": "cmd-1", "conversation_id": conv, "text": "It ships today"})
			for i := 0; i < 2; i++ { // the second is a redelivery
				if err := g.producer.Produce(context.Background(), kafkabus.Record{Topic: "gateway.outbound.v1", Key: []byte(conv), Value: cmd}); err != nil {
					t.Fatal(err)
				}
			}
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 1 })
			sent := ofType(evs, "message.sent")[0]
			msg := sent.Data["message"].(map[string]any)
			sid, _ := msg["provider_message_id"].(string)
			if sid == "" || sent.Data["status"] != "sent" {
				t.Fatalf("message.sent %v", sent.Data)
			}
			got := fake.Messages()
			if len(got) != 1 || got[0].To != "+14155550101" || got[0].From != "+15558675310" || got[0].Body != "It ships today" ||
				!strings.HasPrefix(got[0].StatusCallback, testPublic+"/webhooks/twilio/status?gateway_message_id=") || got[0].SID != sid {
				t.Fatalf("Twilio received %+v (sid %s)", got, sid)
			}

			// Twilio calls the callback URL the send named, query included.
			callback := strings.TrimPrefix(got[0].StatusCallback, testPublic)
			st := url.Values{"MessageSid": {sid}, "MessageStatus": {"delivered"}, "To": {"+14155550101"}, "AccountSid": {providertest.TwilioAccountSID}}
			if s, b := postTwilio(t, g, callback, st, sign(callback, st)); s != http.StatusOK {
				t.Fatalf("status callback: %d %s", s, b)
			}
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.delivered") == 1 })
			if n := count(evs, "message.queued"); n != 1 {
				t.Fatalf("%d message.queued: the redelivered command queued again", n)
			}
			if len(fake.Messages()) != 1 {
				t.Fatalf("Twilio received %d messages", len(fake.Messages()))
			}

			// The same through the operator API, twice with one Idempotency-Key.
			for i := 0; i < 2; i++ {
				req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr()+"/v1/conversations/"+conv+"/messages",
					strings.NewReader(`{"text":"Tracking: 1Z999"}`))
				req.Header.Set("Authorization", "Bearer agent-token")
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", "reply-42")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(b), `"status":"queued"`) {
					t.Fatalf("POST messages: %d %s", resp.StatusCode, b)
				}
			}
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 2 })
			if got := fake.Messages(); len(got) != 2 || got[1].Body != "Tracking: 1Z999" {
				t.Fatalf("Twilio received %+v", got)
			}
		})
	}
}
