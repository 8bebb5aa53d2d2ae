package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/meta"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore"
)

const metaSecret, metaVerify = "TEST_APP_SECRET", "verify-me"

func postMeta(t *testing.T, g *Gateway, path string, body []byte, sig string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr()+path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// WhatsApp Cloud API end to end: the subscription check, a signed message
// in, a reply out through the Graph API (a faithful fake) from the business
// number, and the statuses[] webhook moving it to delivered.
func TestWhatsAppCloudEndToEnd(t *testing.T) {
	fake := providertest.NewMeta(t)
	g := startGateway(t, sqlstore.SQLite, map[string]string{
		"META_APP_SECRET": metaSecret, "META_VERIFY_TOKEN": metaVerify, "META_GRAPH_URL": fake.URL,
		"WHATSAPP_ACCESS_TOKEN": providertest.MetaWhatsAppToken, "WHATSAPP_PHONE_NUMBER_ID": providertest.MetaPhoneNumberID,
	})
	if got := get(t, g, "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token="+metaVerify+"&hub.challenge=1158201444"); got != "200 1158201444" {
		t.Fatalf("subscription check: %s", got)
	}
	if got := get(t, g, "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"); !strings.HasPrefix(got, "403") {
		t.Fatalf("wrong verify token: %s", got)
	}
	body := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.IN1","timestamp":"%d","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}`,
		providertest.MetaPhoneNumberID, time.Now().Unix()))
	if s, b := postMeta(t, g, "/webhooks/whatsapp", body, ""); s != http.StatusForbidden {
		t.Fatalf("unsigned: %d %s", s, b)
	}
	if s, b := postMeta(t, g, "/webhooks/whatsapp", body, meta.Sign(metaSecret, body)); s != http.StatusOK {
		t.Fatalf("signed: %d %s", s, b)
	}
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	rec := ofType(evs, "message.received")[0]
	msg := rec.Data["message"].(map[string]any)
	if msg["channel"] != "whatsapp" || msg["from"].(map[string]any)["address"] != "+16505551234" || msg["from"].(map[string]any)["name"] != "Sheena Nelson" {
		t.Fatalf("normalized %v", msg)
	}
	conv := rec.Data["conversation_id"].(string)
	cmd, _ := json.Marshal(map[string]any{"id": "wa-1", "conversation_id": conv, "text": "Yes, in blue and green."})
	if err := g.producer.Produce(context.Background(), kafkabus.Record{Topic: "gateway.outbound.v1", Key: []byte(conv), Value: cmd}); err != nil {
		t.Fatal(err)
	}
	evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent")+count(e, "message.failed") == 1 })
	if count(evs, "message.failed") > 0 {
		t.Fatalf("reply failed: %v", ofType(evs, "message.failed")[0].Data["error"])
	}
	sent := fake.Messages()
	if len(sent) != 1 || sent[0].PhoneNumberID != providertest.MetaPhoneNumberID || sent[0].Body["to"] != "16505551234" {
		t.Fatalf("Graph API received %+v", sent)
	}
	wamid := sent[0].ID
	status := []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"%s"},"statuses":[{"id":"%s","status":"delivered","timestamp":"%d","recipient_id":"16505551234"}]},"field":"messages"}]}]}`,
		providertest.MetaPhoneNumberID, wamid, time.Now().Unix()))
	if s, b := postMeta(t, g, "/webhooks/whatsapp", status, meta.Sign(metaSecret, status)); s != http.StatusOK {
		t.Fatalf("status webhook: %d %s", s, b)
	}
	consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.delivered") == 1 })
}

// startWhatsAppGateway starts a gateway with the WhatsApp Cloud API (its
// sends go to a fake Graph API) and the given GATEWAY_API_TOKENS.
func startWhatsAppGateway(t *testing.T, dialect, tokens string) *Gateway {
	t.Helper()
	fake := providertest.NewMeta(t)
	return startGateway(t, dialect, map[string]string{
		"META_APP_SECRET": metaSecret, "META_VERIFY_TOKEN": metaVerify, "META_GRAPH_URL": fake.URL,
		"WHATSAPP_ACCESS_TOKEN": providertest.MetaWhatsAppToken, "WHATSAPP_PHONE_NUMBER_ID": providertest.MetaPhoneNumberID,
		"GATEWAY_API_TOKENS": tokens,
	})
}
