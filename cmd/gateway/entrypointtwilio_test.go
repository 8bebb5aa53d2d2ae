package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// twoTwilioAccounts is an entry points file of two Twilio accounts with a
// number each.
const twoTwilioAccounts = `entry_points:
  - id: support-us
    provider: twilio
    address: "+15558675310"
    inbox: us
    credentials:
      account_sid: TWILIO_ACCOUNT_SID_US
      auth_token: TWILIO_AUTH_TOKEN_US
  - id: support-uk
    provider: twilio
    address: "+447700900123"
    inbox: uk
    routing: round_robin
    agents: [ann]
    credentials:
      account_sid: TWILIO_ACCOUNT_SID_UK
      auth_token: TWILIO_AUTH_TOKEN_UK
`

const (
	usAccount, ukAccount       = providertest.TwilioAccountSID, "ACfedcba9876543210fedcba9876543210"
	usAuthToken, ukAuthToken   = providertest.TwilioAuthToken, "ukauthtoken0123456789"
	usBusiness, ukBusiness     = "+15558675310", "+447700900123"
	usCustomer, ukCustomer     = "+14155550101", "+447700900555"
	unknownBusiness            = "+15550009999"
	usMessaging, ukMessaging   = "/webhooks/twilio/messaging/support-us", "/webhooks/twilio/messaging/support-uk"
	usEntryPoint, ukEntryPoint = "support-us", "support-uk"
)

// Two Twilio accounts with a number each, end to end: a webhook to each
// number (on its entry point's route, signed with its account's token)
// lands in its entry point's inbox with its entry_point (routed round robin
// where the entry point says so), and the reply goes
// out through that account from that number; the other account's
// signature is refused (403), an unknown entry point id is 404, and a
// message to a number no entry point has is answered, kept on raw.v1 and
// sent to dlq.v1 as unknown_entry_point.
func TestTwoTwilioAccountsEndToEnd(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			fake := providertest.NewTwilio(t)
			fake.AddAccount(ukAccount, ukAuthToken)
			path := filepath.Join(t.TempDir(), "entry-points.yaml")
			if err := os.WriteFile(path, []byte(twoTwilioAccounts), 0o600); err != nil {
				t.Fatal(err)
			}
			g := startGateway(t, dialect, map[string]string{"GATEWAY_ENTRY_POINTS": path, "TWILIO_API_URL": fake.URL,
				"TWILIO_ACCOUNT_SID_US": usAccount, "TWILIO_AUTH_TOKEN_US": usAuthToken,
				"TWILIO_ACCOUNT_SID_UK": ukAccount, "TWILIO_AUTH_TOKEN_UK": ukAuthToken,
				"GATEWAY_API_TOKENS": "agent:ann:ann-token"})
			sign := func(token, path string, form url.Values) *string {
				s := twilio.Sign(token, testPublic+path, form)
				return &s
			}
			send := func(path, token, sid, from, to string) int {
				form := smsForm(sid, from, "hello from "+from)
				form.Set("To", to)
				s, _ := postTwilio(t, g, path, form, sign(token, path, form))
				return s
			}
			for _, c := range []struct {
				name, path, token, sid, from, to string
				want                             int
			}{
				{"us number  signed with the us token", usMessaging, usAuthToken, "SM00000000000000000000000000000a01", usCustomer, usBusiness, http.StatusOK},
				{"uk number  signed with the uk token", ukMessaging, ukAuthToken, "SM00000000000000000000000000000a02", ukCustomer, ukBusiness, http.StatusOK},
				{"uk route  signed with the us token", ukMessaging, usAuthToken, "SM00000000000000000000000000000a03", ukCustomer, ukBusiness, http.StatusForbidden},
				{"us route  signed with the uk token", usMessaging, ukAuthToken, "SM00000000000000000000000000000a04", usCustomer, usBusiness, http.StatusForbidden},
				{"unknown entry point id", "/webhooks/twilio/messaging/support-fr", ukAuthToken, "SM00000000000000000000000000000a05", ukCustomer, ukBusiness, http.StatusNotFound},
				{"uk number on the shared route", "/webhooks/twilio/messaging", testToken, "SM00000000000000000000000000000a06", ukCustomer, ukBusiness, http.StatusForbidden},
				{"unknown number on the shared route", "/webhooks/twilio/messaging", testToken, "SM00000000000000000000000000000a07", usCustomer, unknownBusiness, http.StatusOK},
			} {
				if got := send(c.path, c.token, c.sid, c.from, c.to); got != c.want {
					t.Errorf("%s: %d, want %d", c.name, got, c.want)
				}
			}

			dead := consume(t, g, "gateway.dlq.v1", func(e []topicEvent) bool { return len(e) == 1 })
			if h := dead[0].Headers; h["dlq-reason"] != "unknown_entry_point" || h["dlq-topic"] != "gateway.raw.v1" ||
				h["route"] != "twilio_messaging" {
				t.Errorf("dlq.v1 record headers %v", h)
			}
			consume(t, g, "gateway.raw.v1", func(e []topicEvent) bool { return len(e) == 3 })
			convs := map[string]core.Conversation{}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 2 })
			if n := count(evs, "conversation.created"); n != 2 {
				t.Errorf("%d conversation.created, want 2 (the unknown number made none)", n)
			}
			for _, want := range []struct{ entry, inbox, assignee string }{{usEntryPoint, "us", ""}, {ukEntryPoint, "uk", "ann"}} {
				var page struct{ Data []core.Conversation }
				getAs(t, g, "ann-token", "/v1/conversations?entry_point="+want.entry, &page)
				if len(page.Data) != 1 || page.Data[0].Inbox != want.inbox || page.Data[0].EntryPoint != want.entry ||
					page.Data[0].Assignee != want.assignee {
					t.Fatalf("?entry_point=%s: %+v, want one conversation in inbox %s assigned to %q", want.entry, page.Data, want.inbox, want.assignee)
				}
				convs[want.entry] = page.Data[0]
			}

			replyTo := func(conv core.Conversation) {
				req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr()+"/v1/conversations/"+conv.ID+"/messages",
					strings.NewReader(`{"text":"on it"}`))
				req.Header.Set("Authorization", "Bearer ann-token")
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					t.Fatalf("reply: %d %s", resp.StatusCode, b)
				}
			}
			replyTo(convs[ukEntryPoint])
			replyTo(convs[usEntryPoint])
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 2 })
			sent := map[string]providertest.TwilioMessage{}
			for _, m := range fake.Messages() {
				sent[m.To] = m
			}
			if m := sent[ukCustomer]; m.AccountSID != ukAccount || m.From != ukBusiness ||
				!strings.HasPrefix(m.StatusCallback, testPublic+"/webhooks/twilio/status/support-uk?") {
				t.Errorf("reply to the uk customer: %+v, want from %s under %s", m, ukBusiness, ukAccount)
			}
			if m := sent[usCustomer]; m.AccountSID != usAccount || m.From != usBusiness {
				t.Errorf("reply to the us customer: %+v, want from %s under %s", m, usBusiness, usAccount)
			}

			// The uk account's status callback, signed with its token, is taken.
			m := sent[ukCustomer]
			callback := strings.TrimPrefix(m.StatusCallback, testPublic)
			st := url.Values{"MessageSid": {m.SID}, "MessageStatus": {"delivered"}, "To": {ukCustomer}, "AccountSid": {ukAccount}}
			if s, b := postTwilio(t, g, callback, st, sign(ukAuthToken, callback, st)); s != http.StatusOK {
				t.Fatalf("uk status callback: %d %s", s, b)
			}
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.delivered") == 1 })
		})
	}
}
