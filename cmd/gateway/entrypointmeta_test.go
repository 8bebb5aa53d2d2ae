package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// twoNumbersTwoPages is an entry points file of two WhatsApp numbers (the
// second with a Meta app and token of its own) and two pages (each with its
// page token, the second with an app of its own).
const twoNumbersTwoPages = `entry_points:
  - id: wa-us
    provider: whatsapp
    address: "106540352242922"
    inbox: us
  - id: wa-eu
    provider: whatsapp
    address: "109876543210987"
    inbox: eu
    credentials:
      access_token: WHATSAPP_ACCESS_TOKEN_EU
      app_secret: META_APP_SECRET_EU
      verify_token: META_VERIFY_TOKEN_EU
  - id: page-shop
    provider: messenger
    address: "682498302938465"
    inbox: shop
    credentials:
      page_access_token: PAGE_TOKEN_SHOP
  - id: page-help
    provider: messenger
    address: "733498302938999"
    inbox: help
    credentials:
      page_access_token: PAGE_TOKEN_HELP
      app_secret: META_APP_SECRET_HELP
      verify_token: META_VERIFY_TOKEN_HELP
`

const (
	waUSNumber, waEUNumber         = providertest.MetaPhoneNumberID, "109876543210987"
	waEUToken, waEUSecret, waEUHub = "EAAeuNumberToken789", "eu-app-secret", "eu-verify"
	shopPage, helpPage             = "682498302938465", "733498302938999"
	shopToken, helpToken           = "EAAshopPageToken", "EAAhelpPageToken"
	helpSecret, helpHub            = "help-app-secret", "help-verify"
	waUnknownNumber                = "100000000000001"
	waEUMedia                      = "1481237285937423"
)

// Two WhatsApp numbers and two pages, end to end: each webhook (on the
// shared route, or signed with its own app's secret on its entry point's
// route) lands in its entry point's inbox; the reply to each customer
// leaves from the number or page they wrote to, with its token (the fake
// Graph API refuses another's); the second number's media is fetched with
// its token, as is the help page's attachment. Another app's signature is 403, an own-app number on the
// shared route 403, an unknown entry point id 404, and a message to a
// number no entry point has is answered and dead-lettered.
func TestMetaEntryPointsEndToEnd(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g, fake, env := startMetaEntryPoints(t, dialect)
			from := time.Now().Add(-time.Second)
			postToMetaEntryPoints(t, g, fake.AttachmentURL("help.png"))
			dead := consume(t, g, "gateway.dlq.v1", func(e []topicEvent) bool { return len(e) == 1 })
			if h := dead[0].Headers; h["dlq-reason"] != "unknown_entry_point" || h["route"] != meta.ProviderWhatsApp {
				t.Errorf("dlq.v1 record headers %v", h)
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 4 })
			if n := count(evs, "conversation.created"); n != 4 {
				t.Errorf("%d conversation.created, want 4 (the unknown number made none)", n)
			}
			for _, ev := range ofType(evs, "message.received") {
				msg := ev.Data["message"].(map[string]any)
				if msg["entry_point"] != "wa-eu" && msg["entry_point"] != "page-help" {
					continue
				}
				atts, _ := msg["attachments"].([]any)
				if len(atts) != 1 || atts[0].(map[string]any)["status"] != "stored" {
					t.Errorf("%s: the file, fetched with its token: %v", msg["entry_point"], msg["attachments"])
				}
			}
			for _, entry := range []string{"wa-us", "wa-eu", "page-shop", "page-help"} {
				var page struct{ Data []core.Conversation }
				getAs(t, g, "ann-token", "/v1/conversations?entry_point="+entry, &page)
				if len(page.Data) != 1 || page.Data[0].EntryPoint != entry || page.Data[0].Inbox != strings.Split(entry, "-")[1] {
					t.Fatalf("?entry_point=%s: %+v, want one conversation in its inbox", entry, page.Data)
				}
				replyAs(t, g, "ann-token", page.Data[0].ID, "on it")
			}
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent")+count(e, "message.failed") == 4 })
			for _, f := range ofType(evs, "message.failed") {
				t.Errorf("reply failed: %v", f.Data["error"])
			}
			checkMetaReplies(t, fake.Messages())
			// Replayed from raw.v1, each delivery finds the entry point it found.
			env["GATEWAY_EMBEDDED_KAFKA_ADDR"] = g.embedded.Addr()
			var out bytes.Buffer
			args := []string{"replay", "--dry-run", "--from", from.Format(time.RFC3339Nano), "--to", time.Now().Add(time.Second).Format(time.RFC3339Nano)}
			if err := run(context.Background(), args, func(k string) string { return env[k] }, &out); err != nil {
				t.Fatal(err)
			}
			want := "replay --dry-run: 5 records read from gateway.raw.v1 (0 bad), 4 events would be published, 0 differ from gateway.inbound.v1 (0 missing, 0 changed)"
			if got := strings.TrimSpace(out.String()); got != want {
				t.Errorf("replay:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// checkMetaReplies checks each customer's reply left from the number or
// page they wrote to (the fake took it only with that one's token).
func checkMetaReplies(t *testing.T, sent []providertest.MetaMessage) {
	t.Helper()
	got := map[string]string{}
	for _, m := range sent {
		if to, _ := m.Body["to"].(string); to != "" {
			got[to] = "number " + m.PhoneNumberID
			continue
		}
		recipient, _ := m.Body["recipient"].(map[string]any)
		id, _ := recipient["id"].(string)
		got[id] = "page " + m.Page
	}
	want := map[string]string{"16505550101": "number " + waUSNumber, "4915155550102": "number " + waEUNumber,
		"5275811702471831": "page " + shopPage, "5275811702471832": "page " + helpPage}
	if len(got) != len(want) {
		t.Errorf("sent %v, want %v", got, want)
	}
	for to, from := range want {
		if got[to] != from {
			t.Errorf("reply to %s left from %q, want %q", to, got[to], from)
		}
	}
}

// startMetaEntryPoints starts a gateway with the twoNumbersTwoPages file,
// every number and page known to the Meta fake with its token.
func startMetaEntryPoints(t *testing.T, dialect string) (*Gateway, *providertest.Meta, map[string]string) {
	t.Helper()
	fake := providertest.NewMeta(t)
	fake.AddPhoneNumber(waEUNumber, waEUToken)
	fake.AddPage(shopPage, shopToken)
	fake.AddPage(helpPage, helpToken)
	fake.AddMedia(waEUNumber, waEUMedia, "image/jpeg", []byte("\xff\xd8\xff a photo"))
	fake.AddAttachment(helpPage, "help.png", "image/png", []byte("\x89PNG a screenshot"))
	path := entryPointsFile(t, twoNumbersTwoPages)
	env, cfg := testConfig(t, dialect, map[string]string{"GATEWAY_HTTP_ADDR": "127.0.0.1:0", "GATEWAY_EMBEDDED_KAFKA_ADDR": "127.0.0.1:0",
		"GATEWAY_DATA_DIR": t.TempDir(), "GATEWAY_LOG_LEVEL": "debug"}, map[string]string{"GATEWAY_ENTRY_POINTS": path,
		"META_APP_SECRET": metaSecret, "META_VERIFY_TOKEN": metaVerify, "META_GRAPH_URL": fake.URL,
		"WHATSAPP_ACCESS_TOKEN": providertest.MetaWhatsAppToken, "WHATSAPP_PHONE_NUMBER_ID": waUSNumber,
		"WHATSAPP_ACCESS_TOKEN_EU": waEUToken, "META_APP_SECRET_EU": waEUSecret, "META_VERIFY_TOKEN_EU": waEUHub,
		"PAGE_TOKEN_SHOP": shopToken, "PAGE_TOKEN_HELP": helpToken,
		"META_APP_SECRET_HELP": helpSecret, "META_VERIFY_TOKEN_HELP": helpHub,
		"GATEWAY_MEDIA_ALLOWED_HOSTS": strings.TrimPrefix(fake.URL, "http://"),
		"GATEWAY_API_TOKENS":          "agent:ann:ann-token"})
	logs := &lockedBuffer{}
	g, err := start(context.Background(), cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Close()
		for _, app := range []string{`"connector":"meta_wa-eu"`, `"connector":"meta_page-help"`} {
			if !strings.Contains(logs.String(), app) {
				t.Errorf("the start log does not say %s is enabled", app)
			}
		}
		for _, secret := range []string{providertest.MetaWhatsAppToken, waEUToken, waEUSecret, waEUHub, shopToken, helpToken, helpSecret, helpHub} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the log shows the secret %q", secret)
			}
		}
	})
	return g, fake, env
}

// waBody is a WhatsApp notification of one message from customer to the
// number phoneNumberID; media, when set, makes it an image.
func waBody(phoneNumberID, customer, wamid, media string) []byte {
	content := `"type":"text","text":{"body":"hello"}`
	if media != "" {
		content = fmt.Sprintf(`"type":"image","image":{"id":%q,"mime_type":"image/jpeg","caption":"this one"}`, media)
	}
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":%q},"contacts":[{"profile":{"name":"A customer"},"wa_id":%q}],"messages":[{"from":%q,"id":%q,"timestamp":"%d",%s}]},"field":"messages"}]}]}`,
		phoneNumberID, customer, customer, wamid, time.Now().Unix(), content))
}

// fbBody is a Messenger notification of one message from customer to page;
// file, when set, is the URL of its attachment.
func fbBody(page, customer, mid, file string) []byte {
	now := time.Now().UnixMilli()
	content := `"text":"hello"`
	if file != "" {
		content = fmt.Sprintf(`"attachments":[{"type":"image","payload":{"url":%q}}]`, file)
	}
	return []byte(fmt.Sprintf(`{"object":"page","entry":[{"id":%q,"time":%d,"messaging":[{"sender":{"id":%q},"recipient":{"id":%q},"timestamp":%d,"message":{"mid":%q,%s}}]}]}`,
		page, now, customer, page, now, mid, content))
}

// postToMetaEntryPoints sends the webhooks of TestMetaEntryPointsEndToEnd:
// four taken, four refused, one dead-lettered, and the subscription checks.
func postToMetaEntryPoints(t *testing.T, g *Gateway, helpFile string) {
	t.Helper()
	euRoute, helpRoute := "/webhooks/whatsapp/wa-eu", "/webhooks/messenger/page-help"
	for _, c := range []struct {
		name, path, secret string
		body               []byte
		want               int
	}{
		{"us number on the shared route", "/webhooks/whatsapp", metaSecret, waBody(waUSNumber, "16505550101", "wamid.EP1", ""), http.StatusOK},
		{"eu number on its route", euRoute, waEUSecret, waBody(waEUNumber, "4915155550102", "wamid.EP2", waEUMedia), http.StatusOK},
		{"eu route signed by the shared app", euRoute, metaSecret, waBody(waEUNumber, "4915155550102", "wamid.EP3", ""), http.StatusForbidden},
		{"eu number on the shared route", "/webhooks/whatsapp", metaSecret, waBody(waEUNumber, "4915155550102", "wamid.EP4", ""), http.StatusForbidden},
		{"unknown entry point id", "/webhooks/whatsapp/wa-fr", waEUSecret, waBody(waEUNumber, "4915155550102", "wamid.EP5", ""), http.StatusNotFound},
		{"unknown number", "/webhooks/whatsapp", metaSecret, waBody(waUnknownNumber, "16505550109", "wamid.EP6", ""), http.StatusOK},
		{"shop page on the shared route", "/webhooks/messenger", metaSecret, fbBody(shopPage, "5275811702471831", "m_EP7", ""), http.StatusOK},
		{"help page on its route", helpRoute, helpSecret, fbBody(helpPage, "5275811702471832", "m_EP8", helpFile), http.StatusOK},
		{"help route signed by the eu app", helpRoute, waEUSecret, fbBody(helpPage, "5275811702471832", "m_EP9", ""), http.StatusForbidden},
	} {
		if got, body := postMeta(t, g, c.path, c.body, meta.Sign(c.secret, c.body)); got != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, got, body, c.want)
		}
	}
	for path, want := range map[string]string{
		euRoute + "?hub.mode=subscribe&hub.verify_token=" + waEUHub + "&hub.challenge=77":          "200 77",
		euRoute + "?hub.mode=subscribe&hub.verify_token=" + metaVerify + "&hub.challenge=78":       "403",
		helpRoute + "?hub.mode=subscribe&hub.verify_token=" + helpHub + "&hub.challenge=79":        "200 79",
		"/webhooks/messenger?hub.mode=subscribe&hub.verify_token=" + helpHub + "&hub.challenge=80": "403",
	} {
		if got := get(t, g, path); !strings.HasPrefix(got, want) {
			t.Errorf("GET %s: %s, want %s", path, got, want)
		}
	}
}
