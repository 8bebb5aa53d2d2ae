package main

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/sendgrid"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore"
)

// `gateway sign ... -entry-point ID` signs with the credentials the entry
// point has of its own, read through the GATEWAY_ENTRY_POINTS file, and with
// the connector's when it has none: a running gateway takes what it prints
// on each route (the entry point's own route refuses the connector's
// signature).
func TestSignForEntryPoint(t *testing.T) {
	env := signEntryPointsEnv(t)
	env["TWILIO_AUTH_TOKEN"] = testToken
	g := startGateway(t, sqlstore.SQLite, env)

	form := smsForm("SM00000000000000000000000000000b01", ukCustomer, "hello")
	form.Set("To", ukBusiness)
	body := []byte(form.Encode())
	hdr := signed(t, []string{"twilio", "-url", testPublic + ukMessaging}, env, body)
	hdr["Content-Type"] = "application/x-www-form-urlencoded"
	if s, b := post(t, g, ukMessaging, body, hdr); s != http.StatusForbidden {
		t.Fatalf("the uk route signed with TWILIO_AUTH_TOKEN: %d %s, want 403", s, b)
	}
	hdr = signed(t, []string{"twilio", "-url", testPublic + ukMessaging, "-entry-point", "support-uk"}, env, body)
	hdr["Content-Type"] = "application/x-www-form-urlencoded"
	if s, b := post(t, g, ukMessaging, body, hdr); s != http.StatusOK {
		t.Fatalf("the uk route signed for support-uk: %d %s", s, b)
	}
	form.Set("MessageSid", "SM00000000000000000000000000000b02")
	form.Set("To", usBusiness)
	body = []byte(form.Encode())
	hdr = signed(t, []string{"twilio", "--url", testPublic + twilio.MessagingPath, "--entry-point", "support-us"}, env, body)
	hdr["Content-Type"] = "application/x-www-form-urlencoded"
	if s, b := post(t, g, twilio.MessagingPath, body, hdr); s != http.StatusOK {
		t.Fatalf("the shared route signed for support-us (no account of its own): %d %s", s, b)
	}

	for _, c := range []struct{ entry, path, to string }{
		{"mail-eu", mailEUInbound, mailEUAddress}, {"mail-shop", sendgrid.InboundPath, mailShopAddress}} {
		body, ct := mailFormWithID(t, mailEUCustomer, c.to, "sign."+c.entry+"@customer.example")
		hdr := signed(t, []string{"sendgrid", "inbound", "-entry-point", c.entry}, env, nil)
		hdr["Content-Type"] = ct
		if s, b := post(t, g, c.path, body, hdr); s != http.StatusOK {
			t.Fatalf("%s signed for %s: %d %s", c.path, c.entry, s, b)
		}
	}
	consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 4 })
}

// signEntryPointsEnv is the environment of TestSignForEntryPoint: an entry
// points file of a Twilio number on the connector's account and one on an
// account of its own, and of a mailbox with inbound credentials of its own
// and a domain on the connector's.
func signEntryPointsEnv(t *testing.T) map[string]string {
	t.Helper()
	file := twoTwilioAccounts[:strings.Index(twoTwilioAccounts, "    credentials:")] +
		twoTwilioAccounts[strings.Index(twoTwilioAccounts, "  - id: support-uk"):] +
		strings.TrimPrefix(twoSendGridEntryPoints, "entry_points:\n")
	path := entryPointsFile(t, file)
	return map[string]string{"GATEWAY_ENTRY_POINTS": path, "GATEWAY_API_TOKENS": "agent:ann:ann-token",
		"TWILIO_ACCOUNT_SID_UK": ukAccount, "TWILIO_AUTH_TOKEN_UK": ukAuthToken,
		"SENDGRID_API_KEY": providertest.SendGridAPIKey, "SENDGRID_INBOUND_USER": mailSharedUser, "SENDGRID_INBOUND_PASSWORD": mailSharedPassword,
		"SENDGRID_API_KEY_EU": mailEUKey, "SENDGRID_INBOUND_USER_EU": mailEUUser, "SENDGRID_INBOUND_PASSWORD_EU": mailEUPassword,
		"SENDGRID_EVENT_PUBLIC_KEY_EU": sendgridPublicKey}
}

// -entry-point says what is wrong instead of printing a header the gateway
// would refuse, and never shows a credential.
func TestSignForEntryPointNeeds(t *testing.T) {
	env := signEntryPointsEnv(t)
	noFile := map[string]string{"TWILIO_AUTH_TOKEN": testToken}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"no file":             {[]string{"twilio", "-url", "https://x/y", "-entry-point", "support-uk"}, noFile, "needs GATEWAY_ENTRY_POINTS"},
		"unknown id":          {[]string{"twilio", "-url", "https://x/y", "-entry-point", "support-fr"}, env, `no entry point "support-fr"`},
		"another provider":    {[]string{"twilio", "-url", "https://x/y", "-entry-point", "mail-eu"}, env, `entry point "mail-eu" is of provider sendgrid`},
		"mail for a number":   {[]string{"sendgrid", "inbound", "-entry-point", "support-uk"}, env, "is of provider twilio"},
		"meta":                {[]string{"meta", "-entry-point", "support-uk"}, env, "-entry-point is for twilio and sendgrid inbound"},
		"sendgrid events":     {[]string{"sendgrid", "events", "-key", "k.pem", "-entry-point", "mail-eu"}, env, "-entry-point is for twilio"},
		"no connector token":  {[]string{"twilio", "-url", "https://x/y", "-entry-point", "support-us"}, env, "needs TWILIO_AUTH_TOKEN"},
		"file with a problem": {[]string{"sendgrid", "inbound", "-entry-point", "mail-eu"}, withoutKey(env, "SENDGRID_INBOUND_PASSWORD_EU"), "not set"},
	} {
		var out bytes.Buffer
		err := sign(tc.args, func(k string) string { return tc.env[k] }, strings.NewReader(url.Values{"a": {"b"}}.Encode()), &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) || out.Len() != 0 {
			t.Errorf("%s: %v, printed %q; want an error naming %q", name, err, out.String(), tc.want)
			continue
		}
		for _, secret := range []string{ukAuthToken, mailEUPassword, mailEUUser, mailSharedPassword} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error shows a credential: %v", name, err)
			}
		}
	}
}

// withoutKey is env without k.
func withoutKey(env map[string]string, k string) map[string]string {
	out := map[string]string{}
	for key, v := range env {
		if key != k {
			out[key] = v
		}
	}
	return out
}
