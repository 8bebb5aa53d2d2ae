package main

import (
	"encoding/json"
	"net/http"
	"net/url"
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
// where the entry point says so), and the reply goes out through that
// account from that number; the other account's signature is refused
// (403), an unknown entry point id is 404, and a message to a number no
// entry point has is answered, kept on raw.v1 and sent to dlq.v1 as
// unknown_entry_point.
func TestTwoTwilioAccountsEndToEnd(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g, fake := startTwoAccounts(t, dialect)
			postToTwoAccounts(t, g)
			dead := consume(t, g, "gateway.dlq.v1", func(e []topicEvent) bool { return len(e) == 1 })
			if h := dead[0].Headers; h["dlq-reason"] != "unknown_entry_point" || h["dlq-topic"] != "gateway.raw.v1" ||
				h["route"] != "twilio_messaging" {
				t.Errorf("dlq.v1 record headers %v", h)
			}
			consume(t, g, "gateway.raw.v1", func(e []topicEvent) bool { return len(e) == 3 })
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 2 })
			if n := count(evs, "conversation.created"); n != 2 {
				t.Errorf("%d conversation.created, want 2 (the unknown number made none)", n)
			}
			convs := map[string]core.Conversation{}
			for _, want := range []struct{ entry, inbox, assignee string }{{usEntryPoint, "us", ""}, {ukEntryPoint, "uk", "ann"}} {
				var page struct{ Data []core.Conversation }
				getAs(t, g, "ann-token", "/v1/conversations?entry_point="+want.entry, &page)
				if len(page.Data) != 1 || page.Data[0].Inbox != want.inbox || page.Data[0].EntryPoint != want.entry ||
					page.Data[0].Assignee != want.assignee {
					t.Fatalf("?entry_point=%s: %+v, want one conversation in inbox %s assigned to %q", want.entry, page.Data, want.inbox, want.assignee)
				}
				convs[want.entry] = page.Data[0]
			}
			replyAs(t, g, "ann-token", convs[ukEntryPoint].ID, "on it")
			replyAs(t, g, "ann-token", convs[usEntryPoint].ID, "on it")
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
			sig := twilio.Sign(ukAuthToken, testPublic+callback, st)
			if s, b := postTwilio(t, g, callback, st, &sig); s != http.StatusOK {
				t.Fatalf("uk status callback: %d %s", s, b)
			}
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.delivered") == 1 })
			sendFromNamedEntryPoints(t, g, fake, convs)
		})
	}
}

// sendFromNamedEntryPoints: a message may name the entry point it leaves
// from: a reply to the uk customer from the us number, and a conversation
// the business opens with the us customer from the uk number, each under
// the account of the number it leaves from.
func sendFromNamedEntryPoints(t *testing.T, g *Gateway, fake *providertest.Twilio, convs map[string]core.Conversation) {
	t.Helper()
	uk, us := convs[ukEntryPoint], convs[usEntryPoint]
	if s, b := postJSONAs(t, g, "ann-token", "/v1/conversations/"+uk.ID+"/messages",
		map[string]string{"text": "from the us desk", "entry_point": usEntryPoint}); s != http.StatusAccepted {
		t.Fatalf("reply naming %s: %d %s", usEntryPoint, s, b)
	}
	if s, b := postJSONAs(t, g, "ann-token", "/v1/conversations/"+uk.ID+"/messages",
		map[string]string{"text": "x", "entry_point": "nowhere"}); s != http.StatusUnprocessableEntity {
		t.Errorf("reply naming an unknown entry point: %d %s, want 422", s, b)
	}
	if s, b := postJSONAs(t, g, "ops-token", "/v1/conversations/"+us.ID+"/status", map[string]string{"status": "closed"}); s/100 != 2 {
		t.Fatalf("close: %d %s", s, b)
	}
	s, b := postJSONAs(t, g, "ann-token", "/v1/conversations", map[string]string{"customer_id": us.CustomerID, "channel": "sms",
		"text": "a word from the uk desk", "entry_point": ukEntryPoint})
	if s != http.StatusCreated {
		t.Fatalf("open naming %s: %d %s", ukEntryPoint, s, b)
	}
	var opened core.Conversation
	if err := json.Unmarshal([]byte(b), &opened); err != nil || opened.EntryPoint != ukEntryPoint || opened.Inbox != "uk" {
		t.Errorf("opened %+v (%v), want entry point %s in inbox uk", opened, err, ukEntryPoint)
	}
	consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 4 })
	var toUK, toUS []providertest.TwilioMessage
	for _, m := range fake.Messages() {
		switch {
		case m.To == ukCustomer && m.Body == "from the us desk":
			toUK = append(toUK, m)
		case m.To == usCustomer && m.Body == "a word from the uk desk":
			toUS = append(toUS, m)
		}
	}
	if len(toUK) != 1 || toUK[0].From != usBusiness || toUK[0].AccountSID != usAccount {
		t.Errorf("reply from the named us entry point: %+v, want one from %s under %s", toUK, usBusiness, usAccount)
	}
	if len(toUS) != 1 || toUS[0].From != ukBusiness || toUS[0].AccountSID != ukAccount {
		t.Errorf("proactive message from the named uk entry point: %+v, want one from %s under %s", toUS, ukBusiness, ukAccount)
	}
}

// startTwoAccounts starts a gateway with the twoTwilioAccounts file, both
// accounts known to the Twilio fake.
func startTwoAccounts(t *testing.T, dialect string) (*Gateway, *providertest.Twilio) {
	t.Helper()
	fake := providertest.NewTwilio(t)
	fake.AddAccount(ukAccount, ukAuthToken)
	path := entryPointsFile(t, twoTwilioAccounts)
	g := startGateway(t, dialect, map[string]string{"GATEWAY_ENTRY_POINTS": path, "TWILIO_API_URL": fake.URL,
		"TWILIO_ACCOUNT_SID_US": usAccount, "TWILIO_AUTH_TOKEN_US": usAuthToken,
		"TWILIO_ACCOUNT_SID_UK": ukAccount, "TWILIO_AUTH_TOKEN_UK": ukAuthToken,
		"GATEWAY_API_TOKENS": "agent:ann:ann-token,admin:ops:ops-token"})
	return g, fake
}

// postToTwoAccounts sends the webhooks of TestTwoTwilioAccountsEndToEnd:
// two taken, four refused, one dead-lettered.
func postToTwoAccounts(t *testing.T, g *Gateway) {
	t.Helper()
	for _, c := range []struct {
		name, path, token, sid, from, to string
		want                             int
	}{
		{"us number signed with the us token", usMessaging, usAuthToken, "SM00000000000000000000000000000a01", usCustomer, usBusiness, http.StatusOK},
		{"uk number signed with the uk token", ukMessaging, ukAuthToken, "SM00000000000000000000000000000a02", ukCustomer, ukBusiness, http.StatusOK},
		{"uk route signed with the us token", ukMessaging, usAuthToken, "SM00000000000000000000000000000a03", ukCustomer, ukBusiness, http.StatusForbidden},
		{"us route signed with the uk token", usMessaging, ukAuthToken, "SM00000000000000000000000000000a04", usCustomer, usBusiness, http.StatusForbidden},
		{"unknown entry point id", "/webhooks/twilio/messaging/support-fr", ukAuthToken, "SM00000000000000000000000000000a05", ukCustomer, ukBusiness, http.StatusNotFound},
		{"uk number on the shared route", "/webhooks/twilio/messaging", testToken, "SM00000000000000000000000000000a06", ukCustomer, ukBusiness, http.StatusForbidden},
		{"unknown number on the shared route", "/webhooks/twilio/messaging", testToken, "SM00000000000000000000000000000a07", usCustomer, unknownBusiness, http.StatusOK},
	} {
		form := smsForm(c.sid, c.from, "hello from "+c.from)
		form.Set("To", c.to)
		sig := twilio.Sign(c.token, testPublic+c.path, form)
		if got, body := postTwilio(t, g, c.path, form, &sig); got != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, got, body, c.want)
		}
	}
}

// replyAs replies text on a conversation through the operator API.
func replyAs(t *testing.T, g *Gateway, token, conv, text string) {
	t.Helper()
	if s, b := postJSONAs(t, g, token, "/v1/conversations/"+conv+"/messages", map[string]string{"text": text}); s != http.StatusAccepted {
		t.Fatalf("reply: %d %s", s, b)
	}
}

// postJSONAs posts body as JSON to the operator API with token; it returns
// the status and the body.
func postJSONAs(t *testing.T, g *Gateway, token, path string, body any) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return post(t, g, path, b, map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"})
}
