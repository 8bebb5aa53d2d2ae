package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// The signature printed by `gateway sign twilio` is accepted by the
// connector's verifier (twilio-go), for the byte-exact vector of the notes too.
func TestSignTwilioMatchesVerifier(t *testing.T) {
	body, err := os.ReadFile("../../connectors/twilio/testdata/twilio_sms_inbound.form")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	env := map[string]string{"TWILIO_AUTH_TOKEN": "12345"}
	if err := sign([]string{"twilio", "-url", "https://example.com/twilio/sms"}, func(k string) string { return env[k] }, bytes.NewReader(body), &out); err != nil {
		t.Fatal(err)
	}
	sig := strings.TrimSpace(strings.TrimPrefix(out.String(), "X-Twilio-Signature: "))
	if sig != "d+Lfe5D6AoqaJBOG9cnt9alWpLQ=" {
		t.Fatalf("signature %q, want the vector's d+Lfe5D6AoqaJBOG9cnt9alWpLQ=", sig)
	}
	req := &webhook.Request{Method: "POST", URL: "https://example.com/twilio/sms", Body: body,
		Header: http.Header{"X-Twilio-Signature": {sig}}}
	if err := twilio.NewVerifier("12345").Verify(req); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), []string{"bogus"}, func(string) string { return "" }, &out); err == nil {
		t.Fatal("an unknown argument was accepted")
	}
}

// signed runs `gateway sign` with env and body and returns the headers it
// printed, the way curl -H takes them.
func signed(t *testing.T, args []string, env map[string]string, body []byte) map[string]string {
	t.Helper()
	var out bytes.Buffer
	if err := sign(args, func(k string) string { return env[k] }, bytes.NewReader(body), &out); err != nil {
		t.Fatalf("sign %v: %v", args, err)
	}
	hdr := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("sign %v printed %q, not a header", args, line)
		}
		hdr[k] = v
	}
	return hdr
}

// newEventKey writes a new P-256 private key as `openssl ecparam -genkey`
// does (SEC 1 PEM) and returns its file and the public key as SendGrid
// shows it (base64 DER), the value of SENDGRID_EVENT_PUBLIC_KEY.
func newEventKey(t *testing.T) (string, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "sg.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return file, base64.StdEncoding.EncodeToString(pub)
}

// What `gateway sign` prints for WhatsApp, Messenger and both SendGrid
// webhooks is accepted by a running gateway, and the messages reach
// events.v1; the Event Webhook signed with a key other than the one whose
// public half the gateway holds is refused.
func TestSignAcceptedByGateway(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			keyFile, pub := newEventKey(t)
			otherKey, _ := newEventKey(t)
			env := map[string]string{"META_APP_SECRET": "app-secret", "META_VERIFY_TOKEN": "verify-me",
				"SENDGRID_INBOUND_USER": "parse", "SENDGRID_INBOUND_PASSWORD": "s3cret", "SENDGRID_EVENT_PUBLIC_KEY": pub}
			g := startGateway(t, dialect, env)
			for _, f := range []string{"meta_wa_text_compact.json", "meta_messenger_text.json"} {
				body, err := os.ReadFile("../../connectors/meta/testdata/" + f)
				if err != nil {
					t.Fatal(err)
				}
				path := map[bool]string{true: "/webhooks/whatsapp", false: "/webhooks/messenger"}[strings.HasPrefix(f, "meta_wa")]
				hdr := signed(t, []string{"meta"}, env, body)
				hdr["Content-Type"] = "application/json"
				if s, b := post(t, g, path, body, hdr); s != http.StatusOK {
					t.Fatalf("%s signed by gateway sign meta: %d %s", f, s, b)
				}
			}

			mail, err := os.ReadFile("../../connectors/sendgrid/testdata/inbound_default.txt")
			if err != nil {
				t.Fatal(err)
			}
			hdr := signed(t, []string{"sendgrid", "inbound"}, env, nil)
			hdr["Content-Type"] = "multipart/form-data; boundary=xYzZY"
			if s, b := post(t, g, "/webhooks/sendgrid/inbound", mail, hdr); s != http.StatusOK {
				t.Fatalf("inbound parse with gateway sign sendgrid inbound: %d %s", s, b)
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 3 })
			channels := map[string]bool{}
			for _, e := range ofType(evs, "message.received") {
				channels[e.Data["channel"].(string)] = true
			}
			if !channels["whatsapp"] || !channels["messenger"] || !channels["email"] {
				t.Fatalf("message.received on channels %v, want whatsapp, messenger and email", channels)
			}

			ev := []byte(`[{"email":"bob@example.com","timestamp":1700000000,"event":"delivered","sg_message_id":"abc.filterdrecv-1","response":"250 OK"}]`)
			wrong := signed(t, []string{"sendgrid", "events", "-key", otherKey}, env, ev)
			if s, _ := post(t, g, "/webhooks/sendgrid/events", ev, wrong); s != http.StatusForbidden {
				t.Fatalf("event webhook signed with another key: %d, want 403", s)
			}
			hdr = signed(t, []string{"sendgrid", "events", "-key", keyFile}, env, ev)
			hdr["Content-Type"] = "application/json"
			if s, b := post(t, g, "/webhooks/sendgrid/events", ev, hdr); s != http.StatusOK {
				t.Fatalf("event webhook with gateway sign sendgrid events: %d %s", s, b)
			}
			consume(t, g, "gateway.inbound.v1", func(e []topicEvent) bool { return count(e, normalize.TypeMessageStatus) == 1 })
		})
	}
}

// The SendGrid signer says what it lacks instead of printing a header the
// gateway would refuse.
func TestSignSendGridNeeds(t *testing.T) {
	pubOnly := filepath.Join(t.TempDir(), "pub.pem")
	if err := os.WriteFile(pubOnly, []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"no mode":           {[]string{"sendgrid"}, nil, "inbound"},
		"no user":           {[]string{"sendgrid", "inbound"}, map[string]string{"SENDGRID_INBOUND_PASSWORD": "p"}, "SENDGRID_INBOUND_USER"},
		"no key":            {[]string{"sendgrid", "events"}, nil, "-key"},
		"a public key file": {[]string{"sendgrid", "events", "-key", pubOnly}, nil, "no EC PRIVATE KEY"},
		"a missing file":    {[]string{"sendgrid", "events", "-key", pubOnly + ".missing"}, nil, "no such file"},
	} {
		var out bytes.Buffer
		err := sign(tc.args, func(k string) string { return tc.env[k] }, strings.NewReader("[]"), &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) || out.Len() != 0 {
			t.Errorf("%s: %v, printed %q; want an error naming %q", name, err, out.String(), tc.want)
		}
	}
}
