package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/connectortest"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// secret is the app secret of the provider-format vectors (the official
// WhatsApp Node SDK's test secret).
const (
	secret      = "TEST_APP_SECRET"
	verifyToken = "meatyhamhock"
)

var at = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func postRequest(body []byte, sig string) *webhook.Request {
	h := http.Header{"Content-Type": {"application/json"}}
	if sig != "" {
		h.Set(SignatureHeader, sig)
	}
	return &webhook.Request{Method: "POST", URL: "https://gw.example.com/webhooks/meta", Header: h, Body: body, ReceivedAt: at}
}

// The byte-exact vectors of the provider-format notes (vectors/INDEX.md).
func TestVerifierVectors(t *testing.T) {
	unicode := read(t, "meta_wa_unicode_escaped.json")
	// The same JSON decoded to UTF-8 and written back: what a handler that
	// re-serializes parsed JSON would hash. Meta signs the escaped bytes.
	reserialized := []byte(strings.NewReplacer(`\u00fc`, "ü", `\u00df`, "ß", `\u00e4`, "ä", `\u00f6`, "ö", `\u00e5`, "å").Replace(string(unicode)))
	if len(unicode) != 521 || len(reserialized) != 493 {
		t.Fatalf("vector lengths %d and %d, want 521 and 493 (did a file change?)", len(unicode), len(reserialized))
	}
	const unicodeSig = "sha256=dee40baf29d58ef4440c1f4bdf81864c351d1436f5de3b5e6f88d1ce6b5f5d6b"
	messenger := read(t, "meta_messenger_text.json")
	const messengerSig = "sha256=79558a636f7ce461cec7091e2392ef10690db9c16636cbb5a7174c33be2faa23"

	cases := []struct {
		label   string
		body    []byte
		header  []string // X-Hub-Signature-256 values
		secret  string
		ok      bool
		headers http.Header // replaces header when set
	}{
		{label: "official SDK vector", body: []byte("test"), header: []string{"sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221"}, ok: true},
		{label: "docs text, pretty", body: read(t, "meta_wa_text_pretty.json"), header: []string{"sha256=69360c741c3eae1ac96826307f4e7f7501d16d87e66019ca5d6e422e533d65f9"}, ok: true},
		{label: "docs text, compact", body: read(t, "meta_wa_text_compact.json"), header: []string{"sha256=964f50820adcc03228037724153dd41dcd72d72113a4659d63916721028e0c23"}, ok: true},
		{label: "escaped unicode as sent", body: unicode, header: []string{unicodeSig}, ok: true},
		{label: "messenger text", body: messenger, header: []string{messengerSig}, ok: true},
		{label: "uppercase hex", body: messenger, header: []string{"sha256=" + strings.ToUpper(messengerSig[7:])}, ok: true},
		{label: "re-serialized unicode body", body: reserialized, header: []string{unicodeSig}},
		{label: "signature of the other vector", body: unicode, header: []string{messengerSig}},
		{label: "no sha256= prefix", body: messenger, header: []string{messengerSig[7:]}},
		{label: "sha1 prefix", body: messenger, header: []string{"sha1=" + messengerSig[7:]}},
		{label: "trailing newline added", body: append(append([]byte{}, messenger...), '\n'), header: []string{messengerSig}},
		{label: "signed with the verify token", body: messenger, header: []string{Sign(verifyToken, messenger)}},
		{label: "truncated hex", body: messenger, header: []string{messengerSig[:40]}},
		{label: "not hex", body: messenger, header: []string{"sha256=" + strings.Repeat("zz", 32)}},
		{label: "missing header", body: messenger},
		{label: "empty header", body: messenger, header: []string{""}},
		{label: "two headers", body: messenger, header: []string{messengerSig, messengerSig}},
		{label: "legacy sha1 header only", body: messenger,
			headers: http.Header{"X-Hub-Signature": {"sha1=bd761982b9975d9b286078db64ee4fa2d0920924"}}},
		{label: "no app secret configured", body: messenger, header: []string{Sign("", messenger)}, secret: "-"},
	}
	for _, c := range cases {
		t.Run(c.label, func(t *testing.T) {
			h := http.Header{}
			for _, v := range c.header {
				h.Add(SignatureHeader, v)
			}
			if c.headers != nil {
				h = c.headers
			}
			key := secret
			switch c.secret {
			case "":
			case "-":
				key = ""
			default:
				key = c.secret
			}
			err := Verifier{AppSecret: key}.Verify(h, c.body)
			if c.ok && err != nil {
				t.Fatalf("valid signature refused: %v", err)
			}
			if !c.ok && !errors.Is(err, webhook.ErrSignature) {
				t.Fatalf("invalid signature: err %v, want ErrSignature", err)
			}
		})
	}
	// Sign reproduces every documented value, and the re-serialized body's
	// documented MAC is indeed what the wrong way computes.
	if got := Sign(secret, reserialized); got != "sha256=108c5c811d85ff1ea974c784c18c788b23e51999e2b0473d3bef55a0ad39d7b5" {
		t.Errorf("Sign(re-serialized) = %s", got)
	}
	if got := Sign(secret, unicode); got != unicodeSig {
		t.Errorf("Sign(unicode) = %s", got)
	}
}

// Both handlers refuse a bad signature before reading the body, and accept
// the documented vectors end to end.
func TestHandlersVerifyBeforeParsing(t *testing.T) {
	for _, h := range []webhook.Handler{WhatsApp{AppSecret: secret}, Messenger{AppSecret: secret}} {
		// Not JSON, but unsigned: a signature error, not a parse error.
		_, err := h.Handle(context.Background(), postRequest([]byte("{not json"), ""))
		if !errors.Is(err, webhook.ErrSignature) {
			t.Errorf("%T: unsigned garbage: err %v, want ErrSignature", h, err)
		}
		_, err = h.Handle(context.Background(), postRequest([]byte("{not json"), Sign(secret, []byte("{not json"))))
		if !errors.Is(err, webhook.ErrMalformed) {
			t.Errorf("%T: signed garbage: err %v, want ErrMalformed", h, err)
		}
	}
	// An empty app secret never accepts, even a body "signed" with it.
	body := read(t, "meta_wa_text_compact.json")
	if _, err := (WhatsApp{}).Handle(context.Background(), postRequest(body, Sign("", body))); !errors.Is(err, webhook.ErrSignature) {
		t.Errorf("no secret: err %v, want ErrSignature", err)
	}
}

func TestSubscribe(t *testing.T) {
	// The Graph API docs' example subscription check.
	const docsQuery = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock"
	cases := []struct {
		label, query, token string
		noQuery             bool // only the URL carries the query
		err                 error
	}{
		{label: "docs example", query: docsQuery, token: verifyToken},
		{label: "query only in URL", query: docsQuery, token: verifyToken, noQuery: true},
		{label: "wrong token", query: "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhocks", token: verifyToken, err: webhook.ErrSignature},
		{label: "token prefix", query: "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meaty", token: verifyToken, err: webhook.ErrSignature},
		{label: "no token configured", query: "hub.mode=subscribe&hub.challenge=1&hub.verify_token=x", token: "", err: webhook.ErrSignature},
		{label: "missing token", query: "hub.mode=subscribe&hub.challenge=1158201444", token: verifyToken, err: webhook.ErrMalformed},
		{label: "missing challenge", query: "hub.mode=subscribe&hub.verify_token=meatyhamhock", token: verifyToken, err: webhook.ErrMalformed},
		{label: "missing mode", query: "hub.challenge=1158201444&hub.verify_token=meatyhamhock", token: verifyToken, err: webhook.ErrMalformed},
		{label: "other mode", query: "hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", token: verifyToken, err: webhook.ErrMalformed},
		{label: "PHP-style names", query: "hub_mode=subscribe&hub_challenge=1158201444&hub_verify_token=meatyhamhock", token: verifyToken, err: webhook.ErrMalformed},
		{label: "no query", query: "", token: verifyToken, err: webhook.ErrMalformed},
	}
	for _, c := range cases {
		for _, h := range []webhook.Handler{WhatsApp{AppSecret: secret, VerifyToken: c.token}, Messenger{AppSecret: secret, VerifyToken: c.token}} {
			t.Run(c.label, func(t *testing.T) {
				q, _ := url.ParseQuery(c.query)
				r := &webhook.Request{Method: "GET", URL: "https://gw.example.com/webhooks/whatsapp?" + c.query, Query: q, Header: http.Header{}, ReceivedAt: at}
				if c.noQuery {
					r.Query = nil
				}
				res, err := h.Handle(context.Background(), r)
				if c.err != nil {
					if !errors.Is(err, c.err) {
						t.Fatalf("%T: err %v, want %v", h, err, c.err)
					}
					return
				}
				if err != nil {
					t.Fatalf("%T: %v", h, err)
				}
				if string(res.Body) != "1158201444" || res.ContentType != "text/plain" || !res.NoRaw || len(res.Events) != 0 {
					t.Errorf("%T: answer %+v, want the bare challenge as text/plain, not recorded", h, res)
				}
			})
		}
	}
}

func TestOtherMethods(t *testing.T) {
	for _, h := range []webhook.Handler{WhatsApp{AppSecret: secret, VerifyToken: verifyToken}, Messenger{AppSecret: secret, VerifyToken: verifyToken}} {
		r := postRequest(nil, "")
		r.Method = "PUT"
		if _, err := h.Handle(context.Background(), r); !errors.Is(err, webhook.ErrMalformed) {
			t.Errorf("%T: PUT: err %v, want ErrMalformed", h, err)
		}
		if _, err := h.Handle(context.Background(), nil); !errors.Is(err, webhook.ErrMalformed) {
			t.Errorf("%T: nil request: err %v, want ErrMalformed", h, err)
		}
	}
}

// hookCase is one row of a handler table: a real payload and what must come
// out of it.
type hookCase struct {
	Label string
	File  string // in testdata
	Data  string // literal body when File is empty
	// Signature: "" or "valid" signs the body, "invalid" sends another
	// body's signature, "missing" sends none.
	Signature   string
	ExpectedErr error // nil: accepted
	// ExpectedTypes lists the event types in payload order.
	ExpectedTypes []string
	// ExpectedTexts and ExpectedFrom list the text and From address of each
	// message event, in order.
	ExpectedTexts []string
	ExpectedFrom  []string
	// ExpectedKinds lists the Kind of each message event, in order; nil
	// means every message is ordinary (no kind).
	ExpectedKinds []string
	// ExpectedExternalIDs lists the provider message id of every event.
	ExpectedExternalIDs []string
	ExpectedIgnored     int
	// Check asserts anything else about the messages and statuses.
	Check func(t *testing.T, msgs []normalize.Message, sts []normalize.Status)
}

func runHookCases(t *testing.T, h webhook.Handler, cases []hookCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Label, func(t *testing.T) {
			body := []byte(c.Data)
			if c.File != "" {
				body = read(t, c.File)
			}
			var sig string
			switch c.Signature {
			case "", "valid":
				sig = Sign(secret, body)
			case "invalid":
				sig = Sign(secret, append(append([]byte{}, body...), ' '))
			case "missing":
			default:
				t.Fatalf("unknown signature mode %q", c.Signature)
			}
			res, err := h.Handle(context.Background(), postRequest(body, sig))
			if c.ExpectedErr != nil {
				if !errors.Is(err, c.ExpectedErr) {
					t.Fatalf("err %v, want %v", err, c.ExpectedErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.NoRaw {
				t.Error("a notification must be recorded on raw.v1")
			}
			var (
				types, texts, from, ids, kinds []string
				msgs                           []normalize.Message
				sts                            []normalize.Status
			)
			for _, ev := range res.Events {
				raw, err := ev.Event.Encode()
				if err != nil {
					t.Fatal(err)
				}
				if err := normalize.ValidateEvent("inbound", raw); err != nil {
					t.Errorf("event does not match its schema: %v\n%s", err, raw)
				}
				types = append(types, ev.Event.Type)
				switch ev.Event.Type {
				case normalize.TypeMessageReceived:
					m, err := ev.Event.DecodeMessage()
					if err != nil {
						t.Fatal(err)
					}
					if want := normalize.InboundKey(m.Channel, m.Contact().Address); ev.Key != want {
						t.Errorf("key %q, want %q", ev.Key, want)
					}
					texts, from, ids = append(texts, m.Text), append(from, m.From.Address), append(ids, m.ProviderMessageID)
					kinds = append(kinds, m.Kind)
					msgs = append(msgs, m)
				case normalize.TypeMessageStatus:
					s, err := ev.Event.DecodeStatus()
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, s.ProviderMessageID)
					sts = append(sts, s)
				}
			}
			if !slices.Equal(types, c.ExpectedTypes) {
				t.Errorf("event types %q, want %q", types, c.ExpectedTypes)
			}
			if !slices.Equal(texts, c.ExpectedTexts) {
				t.Errorf("texts %q, want %q", texts, c.ExpectedTexts)
			}
			wantKinds := c.ExpectedKinds
			if wantKinds == nil {
				wantKinds = make([]string, len(kinds))
			}
			if !slices.Equal(kinds, wantKinds) {
				t.Errorf("kinds %q, want %q", kinds, wantKinds)
			}
			if !slices.Equal(from, c.ExpectedFrom) {
				t.Errorf("from %q, want %q", from, c.ExpectedFrom)
			}
			if !slices.Equal(ids, c.ExpectedExternalIDs) {
				t.Errorf("provider ids %q, want %q", ids, c.ExpectedExternalIDs)
			}
			if res.Ignored != c.ExpectedIgnored {
				t.Errorf("ignored %d, want %d", res.Ignored, c.ExpectedIgnored)
			}
			if c.Check != nil {
				c.Check(t, msgs, sts)
			}
		})
	}
}

// Golden files hold the normalized output of every testdata payload;
// go test -run Golden -update rewrites them.
func TestGolden(t *testing.T) {
	var wa, fb []connectortest.Case
	for _, c := range connectortest.Files(t, "*.json") {
		if strings.HasPrefix(c.File, "wa_") || strings.HasPrefix(c.File, "meta_wa_") {
			wa = append(wa, c)
		} else {
			fb = append(fb, c)
		}
	}
	suite := func(h webhook.Handler) connectortest.Suite {
		return connectortest.Suite{
			Handler: h,
			Request: func(body []byte) *webhook.Request { return postRequest(body, "") },
			Sign:    func(r *webhook.Request) { r.Header.(http.Header).Set(SignatureHeader, Sign(secret, r.Body)) },
		}
	}
	tampered := connectortest.Case{Label: "tampered after signing", File: "wa_image.json", ExpectedErr: webhook.ErrSignature,
		Prep: func(r *webhook.Request) { r.Body = bytes.Replace(r.Body, []byte("image"), []byte("imagf"), 1) }}
	suite(WhatsApp{AppSecret: secret, VerifyToken: verifyToken}).Run(t, append(wa, tampered))
	suite(Messenger{AppSecret: secret, VerifyToken: verifyToken}).Run(t, fb)
}

func TestUnixTime(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
	}{
		{`"1749416383"`, time.Unix(1749416383, 0).UTC()},
		{`1458692752478`, time.UnixMilli(1458692752478).UTC()},
		{`"1458692752478"`, time.UnixMilli(1458692752478).UTC()},
		{`1527459824`, time.Unix(1527459824, 0).UTC()},
		{`0`, at},
		{`-5`, at},
		{`"soon"`, at},
		{`null`, at},
		{`{}`, at},
		{`99999999999999999`, at}, // past year 9999: not representable in RFC 3339
	}
	for _, c := range cases {
		var u unixTime
		if err := json.Unmarshal([]byte(c.in), &u); err != nil && c.want != at {
			t.Errorf("%s: %v", c.in, err)
		}
		if got := u.Time(at); !got.Equal(c.want) {
			t.Errorf("%s: %v, want %v", c.in, got, c.want)
		}
	}
}

func TestWatermarkID(t *testing.T) {
	id := WatermarkID("5275811702471834", 1458668856253)
	if id != "watermark:5275811702471834:1458668856253" {
		t.Fatalf("WatermarkID = %q", id)
	}
	user, wm, ok := ParseWatermarkID(id)
	if !ok || user != "5275811702471834" || !wm.Equal(time.UnixMilli(1458668856253)) {
		t.Errorf("ParseWatermarkID = %q %v %v", user, wm, ok)
	}
	for _, bad := range []string{"", "watermark:", "watermark:abc", "watermark::1", "watermark:u:x", "mid.1:2"} {
		if _, _, ok := ParseWatermarkID(bad); ok {
			t.Errorf("ParseWatermarkID(%q) accepted", bad)
		}
	}
}

// seeds are every testdata payload plus edge cases.
func seeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range files {
		f.Add(read(f, filepath.Base(p)))
	}
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"object":"page"}`, `{"object":"instagram","entry":[null,{"messaging":[null,1,"x",{}]}]}`,
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"x","from":"1","timestamp":1e300}],"metadata":{"phone_number_id":"1"}}}]}]}`,
		`{"object":"page","entry":[{"messaging":[{"sender":{"id":1},"recipient":{},"delivery":{"mids":[""],"watermark":"x"}}]}]}`} {
		f.Add([]byte(s))
	}
}

// fuzzOne asserts the contract for any signed body: no panic, an error only
// as ErrMalformed, and every event decodable and valid against its schema.
func fuzzOne(t *testing.T, h webhook.Handler, body []byte) {
	res, err := h.Handle(context.Background(), postRequest(body, Sign(secret, body)))
	if err != nil {
		if !errors.Is(err, webhook.ErrMalformed) && !errors.Is(err, webhook.ErrSignature) {
			t.Fatalf("error %v is neither malformed nor signature", err)
		}
		return
	}
	for _, ev := range res.Events {
		raw, err := ev.Event.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := normalize.ValidateEvent("inbound", raw); err != nil {
			t.Fatalf("invalid event: %v\n%s", err, raw)
		}
	}
	// Unsigned, the same body is always refused.
	if _, err := h.Handle(context.Background(), postRequest(body, "")); !errors.Is(err, webhook.ErrSignature) {
		t.Fatalf("unsigned body: err %v", err)
	}
}

func FuzzWhatsApp(f *testing.F) {
	seeds(f)
	h := WhatsApp{AppSecret: secret, VerifyToken: verifyToken}
	f.Fuzz(func(t *testing.T, body []byte) { fuzzOne(t, h, body) })
}

func FuzzMessenger(f *testing.F) {
	seeds(f)
	h := Messenger{AppSecret: secret, VerifyToken: verifyToken}
	f.Fuzz(func(t *testing.T, body []byte) { fuzzOne(t, h, body) })
}
