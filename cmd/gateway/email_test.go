package main

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/sendgrid"
	"github.com/opengateway/gateway/core/sqlstore"
)

const sendgridPublicKey = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELjcyxMU4V5g7M22YUyVp8JNw3++PSQ1hM+dKzRIwqriaa22rsmLmFTSlFM/rusWGGZCNfQzl1Yxve8r9WwWP4w=="

func signSendGrid(t *testing.T, ts string, body []byte) string {
	t.Helper()
	b, err := os.ReadFile("../../connectors/sendgrid/testdata/sendgrid_selfsigned_private_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	var k *ecdsa.PrivateKey
	if k, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
		pk, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		k = pk.(*ecdsa.PrivateKey)
	}
	h := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func post(t *testing.T, g *Gateway, path string, body []byte, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+g.Addr()+path, strings.NewReader(string(body)))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Email end to end: Inbound Parse (basic auth) with an attachment stored
// at ingest, a threaded reply through SendGrid (a faithful fake), and the
// signed Event Webhook moving it to delivered.
func TestEmailEndToEnd(t *testing.T) {
	fake := providertest.NewSendGrid(t)
	g := startGateway(t, sqlstore.SQLite, map[string]string{
		"SENDGRID_API_KEY": providertest.SendGridAPIKey, "SENDGRID_API_URL": fake.URL,
		"SENDGRID_INBOUND_USER": "parse", "SENDGRID_INBOUND_PASSWORD": "s3cret", "SENDGRID_EVENT_PUBLIC_KEY": sendgridPublicKey,
		"GATEWAY_API_TOKENS": "agent:agent-token",
	})
	body, err := os.ReadFile("../../connectors/sendgrid/testdata/inbound_attachment.txt")
	if err != nil {
		t.Fatal(err)
	}
	body = []byte(strings.Replace(string(body), "Photo attached.", "Photo attached.\r\n--xYzZY\r\nContent-Disposition: form-data; name=\"headers\"\r\n\r\nMessage-ID: <m1@example.com>\r\nSubject: Damaged item\r\n", 1))
	ct := map[string]string{"Content-Type": "multipart/form-data; boundary=xYzZY"}
	if s, _ := post(t, g, "/webhooks/sendgrid/inbound", body, ct); s != http.StatusUnauthorized {
		t.Fatalf("without credentials: %d, want 401", s)
	}
	ct["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte("parse:s3cret"))
	if s, b := post(t, g, "/webhooks/sendgrid/inbound", body, ct); s != http.StatusOK {
		t.Fatalf("inbound parse: %d %s", s, b)
	}
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	rec := ofType(evs, "message.received")[0]
	msg := rec.Data["message"].(map[string]any)
	att := msg["attachments"].([]any)[0].(map[string]any)
	if msg["channel"] != "email" || msg["from"].(map[string]any)["address"] != "bob@example.com" || att["status"] != "stored" {
		t.Fatalf("email %v", msg)
	}
	resp, err := http.Get("http://" + g.Addr() + strings.TrimPrefix(att["url"].(string), testPublic))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "JPEGBYTES" {
		t.Fatalf("attachment %d %q", resp.StatusCode, got)
	}

	conv := rec.Data["conversation_id"].(string)
	s, b := post(t, g, "/v1/conversations/"+conv+"/messages", []byte(`{"text":"Sorry about that, a new one is on its way."}`),
		map[string]string{"Authorization": "Bearer agent-token", "Content-Type": "application/json"})
	if s != http.StatusAccepted {
		t.Fatalf("reply: %d %s", s, b)
	}
	evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 1 })
	sent := ofType(evs, "message.sent")[0].Data["message"].(map[string]any)
	xid := sent["provider_message_id"].(string)
	mails := fake.Mails()
	if len(mails) != 1 || xid == "" || mails[0].MessageID != xid {
		t.Fatalf("SendGrid received %+v (X-Message-Id %q)", mails, xid)
	}
	mail := fmt.Sprint(mails[0].Body)
	for _, want := range []string{"Re: Damaged item", "<m1@example.com>", "bob@example.com", "support@shop.example"} {
		if !strings.Contains(mail, want) {
			t.Errorf("mail/send body lacks %q: %s", want, mail)
		}
	}

	// Signed now: the gateway refuses timestamps more than 10 minutes away.
	now := time.Now().Unix()
	ts := strconv.FormatInt(now, 10)
	ev := []byte(fmt.Sprintf(`[{"email":"bob@example.com","timestamp":%d,"event":"delivered","sg_message_id":"%s.filterdrecv-1","response":"250 OK"}]`+"\r\n", now, xid))
	hdr := map[string]string{"Content-Type": "application/json", sendgrid.TimestampHeader: ts, sendgrid.SignatureHeader: signSendGrid(t, ts, ev)}
	if s, b := post(t, g, "/webhooks/sendgrid/events", ev, hdr); s != http.StatusOK {
		t.Fatalf("event webhook: %d %s", s, b)
	}
	hdr[sendgrid.SignatureHeader] = signSendGrid(t, strconv.FormatInt(now+1, 10), ev)
	if s, _ := post(t, g, "/webhooks/sendgrid/events", ev, hdr); s != http.StatusForbidden {
		t.Fatalf("event webhook with a signature of another timestamp: %d, want 403", s)
	}
	consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.delivered") == 1 })
}
