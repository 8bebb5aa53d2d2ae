package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// fuzzSeeds adds every payload of testdata/ (forms and the JSON body).
func fuzzSeeds(f *testing.F) {
	for _, pat := range []string{"*.form", "*.json"} {
		files, err := filepath.Glob(filepath.Join("testdata", pat))
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range files {
			f.Add(read(f, filepath.Base(p)))
		}
	}
	for _, s := range []string{"", "=", "%", "MessageSid=SM1&From=%2B14155550100&To=12345&NumMedia=1",
		"MessageSid=SM1&From=whatsapp%3A&To=whatsapp%3A%2B1&NumMedia=20", "MessageSid=SM1&MessageStatus=READ&EventType=READ&To=whatsapp%3Axyz"} {
		f.Add([]byte(s))
	}
}

// signedForm is a POST of body to fullURL, signed with the package's own
// signer when the body is a form (a body that is not one cannot be signed).
func signedForm(fullURL string, body []byte) (*webhook.Request, bool) {
	form, err := url.ParseQuery(string(body))
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	h.Set("X-Twilio-Signature", Sign(token, fullURL, form))
	r := &webhook.Request{Method: "POST", URL: fullURL, Header: h, Body: body, ReceivedAt: at}
	if u, perr := url.Parse(fullURL); perr == nil {
		r.Query = u.Query()
	}
	return r, err == nil
}

// checkFuzzError: a refusal is ErrMalformed, or ErrSignature for a body
// that is not a form (a form signed with Sign always verifies).
func checkFuzzError(t *testing.T, err error, isForm bool) {
	t.Helper()
	switch {
	case errors.Is(err, webhook.ErrMalformed):
	case errors.Is(err, webhook.ErrSignature) && !isForm:
	default:
		t.Fatalf("error %v (body is a form: %v): want ErrMalformed, or ErrSignature for a non-form", err, isForm)
	}
}

// checkEvent asserts that an accepted event is valid against its inbound
// schema and survives the Kafka round trip: Encode, DecodeEvent, and the
// typed decode give back the same data.
func checkEvent(t *testing.T, ev webhook.Event) {
	t.Helper()
	raw, err := ev.Event.Encode()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if err := normalize.ValidateEvent("inbound", raw); err != nil {
		t.Fatalf("accepted event fails its schema: %v\n%s", err, raw)
	}
	back, err := normalize.DecodeEvent(raw)
	if err != nil {
		t.Fatalf("decode own event: %v\n%s", err, raw)
	}
	if !bytes.Equal(back.Data, ev.Event.Data) {
		t.Fatalf("data changed in the round trip:\n%s\n%s", ev.Event.Data, back.Data)
	}
	var typed any
	switch back.Type {
	case normalize.TypeMessageReceived:
		m, err := back.DecodeMessage()
		if err != nil {
			t.Fatalf("decode own message: %v\n%s", err, raw)
		}
		if want := normalize.InboundKey(m.Channel, m.Contact().Address); ev.Key != want {
			t.Fatalf("key %q, want %q", ev.Key, want)
		}
		typed = m
	case normalize.TypeMessageStatus:
		s, err := back.DecodeStatus()
		if err != nil {
			t.Fatalf("decode own status: %v\n%s", err, raw)
		}
		typed = s
	default:
		t.Fatalf("event type %q", back.Type)
	}
	again, err := json.Marshal(typed)
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(again, ev.Event.Data) {
		t.Fatalf("re-encoding differs:\n%s\n%s", ev.Event.Data, again)
	}
}

// FuzzMessaging sends any body, correctly signed, to the inbound messaging
// handler: it never panics, refuses only with ErrMalformed, and what it
// accepts is one valid message.received event answered with empty TwiML.
func FuzzMessaging(f *testing.F) {
	fuzzSeeds(f)
	h := Messaging{Verifier: NewVerifier(token)}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, isForm := signedForm(hookURL, body)
		res, err := h.Handle(context.Background(), r)
		if err != nil {
			checkFuzzError(t, err, isForm)
			return
		}
		if len(res.Events) != 1 || !bytes.Equal(res.Body, EmptyTwiML) {
			t.Fatalf("accepted with %d events and body %q", len(res.Events), res.Body)
		}
		checkEvent(t, res.Events[0])
	})
}

// FuzzStatus does the same for status callbacks; the gateway's message id
// comes from the callback URL, so it is fuzzed too.
func FuzzStatus(f *testing.F) {
	fuzzSeeds(f)
	h := Status{Verifier: NewVerifier(token)}
	const statusURL = "https://gw.example.com/webhooks/twilio/status"
	f.Fuzz(func(t *testing.T, body []byte) {
		// The message id rides in the URL; a fuzzed prefix of the body names it.
		id := ""
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			id, body = string(body[:i]), body[i+1:]
		}
		u := statusURL
		if id != "" {
			u += "?" + CallbackParam + "=" + url.QueryEscape(id)
		}
		r, isForm := signedForm(u, body)
		res, err := h.Handle(context.Background(), r)
		if err != nil {
			checkFuzzError(t, err, isForm)
			return
		}
		if len(res.Events) != 1 {
			t.Fatalf("accepted with %d events", len(res.Events))
		}
		checkEvent(t, res.Events[0])
		st, _ := res.Events[0].Event.DecodeStatus()
		if want := r.Query.Get(CallbackParam); utf8.ValidString(want) && st.MessageID != want {
			t.Fatalf("message id %q, want %q from the callback URL", st.MessageID, want)
		}
	})
}

// sameJSON reports whether two documents hold the same values (numbers
// compared as numbers: Extra keeps them as written, 0.000000 and 0 are equal).
func sameJSON(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
