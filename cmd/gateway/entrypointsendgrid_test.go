package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/sendgrid"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// twoSendGridEntryPoints is an entry points file of two SendGrid entry
// points: a mailbox with its own API key, inbound credentials and event
// key, and a whole domain on the connector's.
const twoSendGridEntryPoints = `entry_points:
  - id: mail-eu
    provider: sendgrid
    address: support@eu.example
    inbox: eu
    credentials:
      api_key: SENDGRID_API_KEY_EU
      inbound_user: SENDGRID_INBOUND_USER_EU
      inbound_password: SENDGRID_INBOUND_PASSWORD_EU
      event_public_key: SENDGRID_EVENT_PUBLIC_KEY_EU
  - id: mail-shop
    provider: sendgrid
    address: shop.example
    inbox: shop
`

const (
	mailEUKey, mailEUUser, mailEUPassword = "SG.eu.0123456789abcdef", "eu-parse", "eu-s3cret"
	mailSharedUser, mailSharedPassword    = "parse", "s3cret"
	mailEUAddress, mailShopAddress        = "support@eu.example", "help@shop.example"
	mailEUCustomer, mailShopCustomer      = "anna@customer.example", "bob@customer.example"
	mailEUInbound                         = "/webhooks/sendgrid/inbound/mail-eu"
)

// Two SendGrid entry points end to end: an email to each (the mailbox's on
// its own route behind its own basic auth, the domain's on the shared
// route) lands in its entry point's inbox, and the reply leaves from the
// address the customer wrote to, with that entry point's API key (the
// mailbox's own, the domain's SENDGRID_API_KEY), each a sender identity
// of its key only; the own route with the shared credentials is 401, an
// unknown entry point id 404, the mailbox's address on the shared route
// 401, and an email to an address no entry point has is answered, kept on
// raw.v1 and sent to dlq.v1 as unknown_entry_point. The mailbox's Event
// Webhook, signed with its key, moves its reply to delivered.
func TestTwoSendGridEntryPointsEndToEnd(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g, fake := startTwoMailEntryPoints(t, dialect)
			postToTwoMailEntryPoints(t, g)
			dead := consume(t, g, "gateway.dlq.v1", func(e []topicEvent) bool { return len(e) == 1 })
			if h := dead[0].Headers; h["dlq-reason"] != "unknown_entry_point" || h["route"] != "sendgrid_inbound" {
				t.Errorf("dlq.v1 record headers %v", h)
			}
			consume(t, g, "gateway.raw.v1", func(e []topicEvent) bool { return len(e) == 3 })
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 2 })
			convs := map[string]core.Conversation{}
			for _, want := range []struct{ entry, inbox string }{{"mail-eu", "eu"}, {"mail-shop", "shop"}} {
				var page struct{ Data []core.Conversation }
				getAs(t, g, "ann-token", "/v1/conversations?entry_point="+want.entry, &page)
				if len(page.Data) != 1 || page.Data[0].Inbox != want.inbox {
					t.Fatalf("?entry_point=%s: %+v, want one conversation in inbox %s", want.entry, page.Data, want.inbox)
				}
				convs[want.entry] = page.Data[0]
			}
			replyAs(t, g, "ann-token", convs["mail-eu"].ID, "on it")
			replyAs(t, g, "ann-token", convs["mail-shop"].ID, "on it")
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 2 })
			sent := map[string]providertest.SendGridMail{}
			for _, m := range fake.Mails() {
				sent[mailTo(m)] = m
			}
			if m := sent[mailEUCustomer]; m.APIKey != mailEUKey || mailFrom(m) != mailEUAddress {
				t.Errorf("reply to the eu customer: from %q with %q, want from %s with its own key", mailFrom(m), m.APIKey, mailEUAddress)
			}
			if m := sent[mailShopCustomer]; m.APIKey != providertest.SendGridAPIKey || mailFrom(m) != mailShopAddress {
				t.Errorf("reply to the shop customer: from %q with %q, want from %s with SENDGRID_API_KEY", mailFrom(m), m.APIKey, mailShopAddress)
			}

			now := time.Now().Unix()
			ts := strconv.FormatInt(now, 10)
			ev := []byte(fmt.Sprintf(`[{"email":%q,"timestamp":%d,"event":"delivered","sg_message_id":"%s.filterdrecv-1"}]`,
				mailEUCustomer, now, sent[mailEUCustomer].MessageID))
			hdr := map[string]string{"Content-Type": "application/json", sendgrid.TimestampHeader: ts, sendgrid.SignatureHeader: signSendGrid(t, ts, ev)}
			if s, b := post(t, g, "/webhooks/sendgrid/events/mail-eu", ev, hdr); s != http.StatusOK {
				t.Fatalf("the eu Event Webhook: %d %s", s, b)
			}
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.delivered") == 1 })
		})
	}
}

// startTwoMailEntryPoints starts a gateway with the twoSendGridEntryPoints
// file; the SendGrid fake lets each key send from its entry point only.
func startTwoMailEntryPoints(t *testing.T, dialect string) (*Gateway, *providertest.SendGrid) {
	t.Helper()
	fake := providertest.NewSendGrid(t)
	fake.AddKey(mailEUKey, mailEUAddress)
	fake.AddKey(providertest.SendGridAPIKey, "shop.example")
	path := entryPointsFile(t, twoSendGridEntryPoints)
	g := startGateway(t, dialect, map[string]string{"GATEWAY_ENTRY_POINTS": path, "SENDGRID_API_URL": fake.URL,
		"SENDGRID_API_KEY": providertest.SendGridAPIKey, "SENDGRID_INBOUND_USER": mailSharedUser, "SENDGRID_INBOUND_PASSWORD": mailSharedPassword,
		"SENDGRID_API_KEY_EU": mailEUKey, "SENDGRID_INBOUND_USER_EU": mailEUUser, "SENDGRID_INBOUND_PASSWORD_EU": mailEUPassword,
		"SENDGRID_EVENT_PUBLIC_KEY_EU": sendgridPublicKey, "GATEWAY_API_TOKENS": "agent:ann:ann-token"})
	return g, fake
}

// postToTwoMailEntryPoints sends the emails of
// TestTwoSendGridEntryPointsEndToEnd: two taken, three refused, one
// dead-lettered.
func postToTwoMailEntryPoints(t *testing.T, g *Gateway) {
	t.Helper()
	for _, c := range []struct {
		name, path, user, pass, from, to string
		want                             int
	}{
		{"eu mailbox on its route", mailEUInbound, mailEUUser, mailEUPassword, mailEUCustomer, mailEUAddress, http.StatusOK},
		{"an address of the shop domain on the shared route", sendgrid.InboundPath, mailSharedUser, mailSharedPassword, mailShopCustomer, mailShopAddress, http.StatusOK},
		{"eu route with the shared credentials", mailEUInbound, mailSharedUser, mailSharedPassword, mailEUCustomer, mailEUAddress, http.StatusUnauthorized},
		{"unknown entry point id", "/webhooks/sendgrid/inbound/mail-fr", mailEUUser, mailEUPassword, mailEUCustomer, mailEUAddress, http.StatusNotFound},
		{"eu mailbox on the shared route", sendgrid.InboundPath, mailSharedUser, mailSharedPassword, mailEUCustomer, mailEUAddress, http.StatusUnauthorized},
		{"unknown address on the shared route", sendgrid.InboundPath, mailSharedUser, mailSharedPassword, mailShopCustomer, "sales@else.example", http.StatusOK},
	} {
		body, ct := mailForm(t, c.from, c.to)
		hdr := map[string]string{"Content-Type": ct, "Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass))}
		if got, b := post(t, g, c.path, body, hdr); got != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, got, b, c.want)
		}
	}
}

// mailForm is an Inbound Parse body (default mode) of an email from from
// to to, and its content type.
func mailForm(t *testing.T, from, to string) ([]byte, string) {
	t.Helper()
	return mailFormWithID(t, from, to, from+"."+to)
}

// mailFormWithID is mailForm with the Message-ID given (without <>).
func mailFormWithID(t *testing.T, from, to, messageID string) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	env, _ := json.Marshal(map[string]any{"from": from, "to": []string{to}})
	for _, f := range [][2]string{{"from", from}, {"to", to}, {"subject", "Order"}, {"text", "Where is my order?"},
		{"headers", "Message-ID: <" + messageID + ">\r\nSubject: Order\r\n"}, {"envelope", string(env)}} {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// mailTo and mailFrom are the first recipient and the from address of a
// mail the SendGrid fake accepted.
func mailTo(m providertest.SendGridMail) string {
	pers, _ := m.Body["personalizations"].([]any)
	if len(pers) == 0 {
		return ""
	}
	to, _ := pers[0].(map[string]any)["to"].([]any)
	if len(to) == 0 {
		return ""
	}
	addr, _ := to[0].(map[string]any)["email"].(string)
	return addr
}

func mailFrom(m providertest.SendGridMail) string {
	from, _ := m.Body["from"].(map[string]any)
	addr, _ := from["email"].(string)
	return addr
}
