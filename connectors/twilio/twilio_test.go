package twilio

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/connectortest"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

const token = "12345"

var at = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func formRequest(url string, body []byte, sig string) *webhook.Request {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if sig != "" {
		h.Set("X-Twilio-Signature", sig)
	}
	return &webhook.Request{Method: "POST", URL: url, Header: h, Body: body, ReceivedAt: at}
}

// sign computes the signature independently of twilio-go.
func sign(fullURL string, body []byte) string {
	form, _ := url.ParseQuery(string(body))
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := fullURL
	for _, k := range keys {
		s += k + form.Get(k)
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// The byte-exact vectors of the provider-format notes, computed with
// twilio-go's validator code and an independent implementation.
func TestVerifierVectors(t *testing.T) {
	v := NewVerifier(token)
	cases := []struct {
		label, file, url, sig string
		ok                    bool
	}{
		{"sms", "twilio_sms_inbound.form", "https://example.com/twilio/sms", "d+Lfe5D6AoqaJBOG9cnt9alWpLQ=", true},
		{"sms with default port", "twilio_sms_inbound.form", "https://example.com:443/twilio/sms", "d+Lfe5D6AoqaJBOG9cnt9alWpLQ=", true},
		{"status", "twilio_status_sent.form", "https://example.com/twilio/status", "mNKDXQ9zIIA4G8LOL06mLHQLCVI=", true},
		{"whatsapp with query", "twilio_whatsapp_inbound_image.form", "https://example.com/twilio/whatsapp?tenant=acme", "471iXWitzshV/IHO+d+2FfAc80E=", true},
		{"blank values dropped (wrong)", "twilio_sms_inbound.form", "https://example.com/twilio/sms", "+rX7R7g+y5CdIGxeZAydSdl8JaQ=", false},
		{"other URL", "twilio_sms_inbound.form", "https://example.com/webhooks/twilio/messaging", "d+Lfe5D6AoqaJBOG9cnt9alWpLQ=", false},
		{"json body", "twilio_json_body_sdk.json", "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620", "a9nBmqA0ju/hNViExpshrM61xv4=", true},
		{"json body without bodySHA256", "twilio_json_body_sdk.json", "https://mycompany.com/myapp.php?foo=1&bar=2", "vOEb5UThFn24KEfnOFLQY2AE5FY=", false},
		{"missing header", "twilio_sms_inbound.form", "https://example.com/twilio/sms", "", false},
	}
	for _, c := range cases {
		t.Run(c.label, func(t *testing.T) {
			err := v.Verify(formRequest(c.url, read(t, c.file), c.sig))
			if c.ok && err != nil {
				t.Fatalf("valid signature refused: %v", err)
			}
			if !c.ok && !errors.Is(err, webhook.ErrSignature) {
				t.Fatalf("invalid signature: err %v, want ErrSignature", err)
			}
		})
	}
	// A tampered body fails even with the original signature.
	body := append([]byte{}, read(t, "twilio_sms_inbound.form")...)
	body = []byte(strings.Replace(string(body), "Hi+there", "Hi+thera", 1))
	if err := v.Verify(formRequest("https://example.com/twilio/sms", body, "d+Lfe5D6AoqaJBOG9cnt9alWpLQ=")); !errors.Is(err, webhook.ErrSignature) {
		t.Fatalf("tampered body accepted: %v", err)
	}
}

const hookURL = "https://gw.example.com/webhooks/twilio/messaging"

// One table of real payloads and what must come out of each.
func TestMessaging(t *testing.T) {
	h := Messaging{Verifier: NewVerifier(token)}
	cases := []struct {
		Label             string
		File              string
		Data              string
		Signature         string // "" signs validly, "-" sends none
		ExpectedErr       error
		ExpectedChannel   string
		ExpectedText      string
		ExpectedFrom      normalize.Party
		ExpectedTo        string
		ExpectedExternal  string
		ExpectedMediaURLs int
	}{
		{Label: "sms", File: "twilio_sms_inbound.form", ExpectedChannel: "sms", ExpectedText: "Hi there from Twilio",
			ExpectedFrom: normalize.Party{Kind: "phone", Address: "+13177592786"}, ExpectedTo: "+13177933221",
			ExpectedExternal: "SMa741ddeb574e5dda5516c73417fcd28a"},
		{Label: "mms with two media", File: "twilio_mms_inbound.form", ExpectedChannel: "mms", ExpectedText: "Msg",
			ExpectedFrom: normalize.Party{Kind: "phone", Address: "+14133881111"}, ExpectedTo: "+12028831111",
			ExpectedExternal: "SMe287d7109a5a925f182f0e07fe5b223b", ExpectedMediaURLs: 2},
		{Label: "whatsapp image with profile name", File: "twilio_whatsapp_inbound_image.form", ExpectedChannel: "whatsapp",
			ExpectedText: "Here is the receipt", ExpectedFrom: normalize.Party{Kind: "phone", Address: "+14017122661", Name: "Perspective Coffee"},
			ExpectedTo: "+15558675310", ExpectedExternal: "SM5f3c2b1a0e9d8c7b6a5f4e3d2c1b0a99", ExpectedMediaURLs: 1},
		{Label: "whatsapp business-scoped user id", Data: "MessageSid=SM1&From=whatsapp%3AUS.1234&ExternalUserId=whatsapp%3AUS.1234&To=whatsapp%3A%2B15558675310&Body=hi&NumMedia=0",
			ExpectedChannel: "whatsapp", ExpectedText: "hi", ExpectedFrom: normalize.Party{Kind: "whatsapp", Address: "US.1234"},
			ExpectedTo: "+15558675310", ExpectedExternal: "SM1"},
		{Label: "unsigned", File: "twilio_sms_inbound.form", Signature: "-", ExpectedErr: webhook.ErrSignature},
		{Label: "bad signature", File: "twilio_sms_inbound.form", Signature: "d+Lfe5D6AoqaJBOG9cnt9alWpLQ=", ExpectedErr: webhook.ErrSignature},
		{Label: "no MessageSid", Data: "From=%2B14155550101&To=%2B15558675310&Body=hi", ExpectedErr: webhook.ErrMalformed},
		{Label: "no From", Data: "MessageSid=SM1&To=%2B15558675310&Body=hi", ExpectedErr: webhook.ErrMalformed},
		{Label: "From not a phone", Data: "MessageSid=SM1&From=hello&To=%2B15558675310&Body=hi", ExpectedErr: webhook.ErrMalformed},
		{Label: "NumMedia not a number", Data: "MessageSid=SM1&From=%2B14155550101&To=%2B15558675310&NumMedia=x", ExpectedErr: webhook.ErrMalformed},
		{Label: "NumMedia without MediaUrl", Data: "MessageSid=SM1&From=%2B14155550101&To=%2B15558675310&NumMedia=2&MediaUrl0=a", ExpectedErr: webhook.ErrMalformed},
		// A body that is not form-encoded cannot carry a valid signature: refused before parsing.
		{Label: "bad form encoding", Data: "MessageSid=SM1&From=%zz", ExpectedErr: webhook.ErrSignature},
	}
	for _, c := range cases {
		t.Run(c.Label, func(t *testing.T) {
			body := []byte(c.Data)
			if c.File != "" {
				body = read(t, c.File)
			}
			sig := c.Signature
			switch sig {
			case "":
				sig = sign(hookURL, body)
			case "-":
				sig = ""
			}
			res, err := h.Handle(context.Background(), formRequest(hookURL, body, sig))
			if c.ExpectedErr != nil {
				if !errors.Is(err, c.ExpectedErr) {
					t.Fatalf("err %v, want %v", err, c.ExpectedErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Body) != string(EmptyTwiML) || res.ContentType != "text/xml" {
				t.Errorf("answer %q %q, want empty TwiML", res.ContentType, res.Body)
			}
			if len(res.Events) != 1 || res.Events[0].Event.Type != normalize.TypeMessageReceived {
				t.Fatalf("events %+v, want one message.received", res.Events)
			}
			m, err := res.Events[0].Event.DecodeMessage()
			if err != nil {
				t.Fatal(err)
			}
			if m.Channel != c.ExpectedChannel || m.Text != c.ExpectedText || m.From != c.ExpectedFrom ||
				m.To.Address != c.ExpectedTo || m.ProviderMessageID != c.ExpectedExternal || m.Provider != "twilio" {
				t.Errorf("got channel %q text %q from %+v to %q id %q", m.Channel, m.Text, m.From, m.To.Address, m.ProviderMessageID)
			}
			if len(m.Attachments) != c.ExpectedMediaURLs {
				t.Errorf("%d attachments, want %d", len(m.Attachments), c.ExpectedMediaURLs)
			}
			if want := m.Channel + ":" + m.From.Address; res.Events[0].Key != want {
				t.Errorf("key %q, want %q", res.Events[0].Key, want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	h := Status{Verifier: NewVerifier(token)}
	const u = "https://gw.example.com/webhooks/twilio/status"
	cases := []struct {
		Label, File, Data                   string
		ExpectedErr                         error
		ExpectedStatus, ExpectedCode, ExtID string
	}{
		{Label: "sent", File: "twilio_status_sent.form", ExpectedStatus: "sent", ExtID: "SM7ac25b8b7f04410093ff54e1fd2b4256"},
		{Label: "failed after STOP", File: "twilio_status_failed.form", ExpectedStatus: "failed", ExpectedCode: "21610", ExtID: "SMe287d7109a5a925f182f0e07fe5b223b"},
		{Label: "undelivered", File: "twilio_status_undelivered.form", ExpectedStatus: "failed", ExpectedCode: "30003", ExtID: "SM1342fe1b2c904d1ab04f0fc7a58abca9"},
		{Label: "whatsapp read", File: "twilio_status_read_whatsapp.form", ExpectedStatus: "read", ExtID: "SMe287d7109a5a925f182f0e07fe5b223b"},
		{Label: "delivered", Data: "MessageSid=SM9&MessageStatus=delivered", ExpectedStatus: "delivered", ExtID: "SM9"},
		{Label: "unknown status", Data: "MessageSid=SM9&MessageStatus=exploded", ExpectedErr: webhook.ErrMalformed},
		{Label: "no sid", Data: "MessageStatus=sent", ExpectedErr: webhook.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.Label, func(t *testing.T) {
			body := []byte(c.Data)
			if c.File != "" {
				body = read(t, c.File)
			}
			res, err := h.Handle(context.Background(), formRequest(u, body, sign(u, body)))
			if c.ExpectedErr != nil {
				if !errors.Is(err, c.ExpectedErr) {
					t.Fatalf("err %v, want %v", err, c.ExpectedErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := res.Events[0].Event.DecodeStatus()
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != c.ExpectedStatus || st.ErrorCode != c.ExpectedCode || st.ProviderMessageID != c.ExtID {
				t.Errorf("got %+v", st)
			}
		})
	}
}

// Golden files hold the normalized output of every testdata payload;
// go test -run Golden -update rewrites them.
func TestGolden(t *testing.T) {
	suite := func(h webhook.Handler, u string) connectortest.Suite {
		return connectortest.Suite{
			Handler: h,
			Request: func(body []byte) *webhook.Request { return formRequest(u, body, "") },
			Sign:    func(r *webhook.Request) { r.Header.(http.Header).Set("X-Twilio-Signature", sign(r.URL, r.Body)) },
			Output:  connectortest.Payload,
		}
	}
	v := NewVerifier(token)
	unsigned := connectortest.Case{Label: "unsigned", File: "twilio_sms_inbound.form", ExpectedErr: webhook.ErrSignature,
		Prep: func(r *webhook.Request) { r.Header.(http.Header).Del("X-Twilio-Signature") }}
	suite(Messaging{Verifier: v}, hookURL).Run(t, append(connectortest.Files(t, "twilio_*_inbound*.form"), unsigned))
	suite(Status{Verifier: v}, "https://gw.example.com/webhooks/twilio/status").Run(t, connectortest.Files(t, "twilio_status_*.form"))
}

// The parsers never panic, and refuse bad input with ErrMalformed.
func FuzzParseMessage(f *testing.F) {
	for _, name := range []string{"twilio_sms_inbound.form", "twilio_mms_inbound.form", "twilio_whatsapp_inbound_image.form", "twilio_status_sent.form"} {
		f.Add(read(f, name))
	}
	f.Add([]byte("MessageSid=SM1&From=whatsapp%3A%2B1&To=&NumMedia=-1"))
	h := Messaging{Verifier: NewVerifier(token)}
	s := Status{Verifier: NewVerifier(token)}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, hd := range []webhook.Handler{h, s} {
			_, err := hd.Handle(context.Background(), formRequest(hookURL, body, sign(hookURL, body)))
			if err != nil && !errors.Is(err, webhook.ErrMalformed) && !errors.Is(err, webhook.ErrSignature) {
				t.Fatalf("error %v is neither malformed nor signature", err)
			}
		}
	})
}
