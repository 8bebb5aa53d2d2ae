package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/connectors/webhook"
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
