package twilio

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/opengateway/gateway/connectors/connectortest"
	"github.com/opengateway/gateway/connectors/webhook"
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
		"MessageSid=SM1&From=whatsapp%3A&To=whatsapp%3A%2B1&NumMedia=20", "MessageSid=SM1&MessageStatus=READ&EventType=READ&To=whatsapp%3Axyz",
		// Repeated parameters: Twilio signs each distinct value; a signed
		// form that repeats one is refused as malformed.
		"MessageSid=SM1&From=%2B14155550100&To=%2B15558675310&Body=hi&Body=INJECTED&MessageSid=SMfake",
		"MessageSid=SM1&From=%2B14155550100&To=%2B15558675310&Body=hi&Body=hi",
		"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234"} {
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
		connectortest.CheckEvent(t, res.Events[0])
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
		connectortest.CheckEvent(t, res.Events[0])
		st, _ := res.Events[0].Event.DecodeStatus()
		if want := r.Query.Get(CallbackParam); utf8.ValidString(want) && st.MessageID != want {
			t.Fatalf("message id %q, want %q from the callback URL", st.MessageID, want)
		}
	})
}

// FuzzSignature signs any form as Twilio does and checks the verifier: Sign
// equals the reference transcription of Twilio's algorithm; the signed
// request verifies, or is refused as malformed when it repeats a parameter;
// and the same signature on the form with a value it does not have
// appended (the captured-request replay) is refused as unsigned.
func FuzzSignature(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := url.ParseQuery(string(body))
		if err != nil || len(form) == 0 || countParams(body, MaxParams) > MaxParams {
			return
		}
		sig := Sign(token, hookURL, form)
		if ref := referenceSign(token, hookURL, form); sig != ref {
			t.Fatalf("Sign %s, the reference %s", sig, ref)
		}
		repeats := false
		for _, vs := range form {
			repeats = repeats || len(vs) > 1
		}
		switch err := NewVerifier(token).Verify(formRequest(hookURL, body, sig)); {
		case repeats && !errors.Is(err, webhook.ErrMalformed), !repeats && err != nil:
			t.Fatalf("signed form (repeats a parameter: %v): %v", repeats, err)
		}
		injected := "INJECTED"
		for slices.Contains(form["Body"], injected) {
			injected += "x"
		}
		replay := append(bytes.Clone(body), "&Body="+injected...)
		if err := NewVerifier(token).Verify(formRequest(hookURL, replay, sig)); !errors.Is(err, webhook.ErrSignature) {
			t.Fatalf("the signed form with a Body value appended: %v, want ErrSignature", err)
		}
	})
}
