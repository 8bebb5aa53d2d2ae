package twilio_test

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// twoVoiceNumbers is the connector of two voice numbers: calls-us on the
// connector's account, calls-uk on an account of its own; def is the
// default entry point, forward the number calls ring ("" for voicemail).
func twoVoiceNumbers(t *testing.T, fake *providertest.Twilio, def, forward string) connector.Connector {
	t.Helper()
	c, err := twilio.New(twilio.Settings{AccountSID: fake.AccountSID, AuthToken: fake.AuthToken, APIURL: fake.URL, PublicURL: public,
		MediaAllowedHosts: []string{strings.TrimPrefix(fake.URL, "http://")},
		Voice:             twilio.VoiceConfig{ForwardTo: forward, RingSeconds: 20, Greeting: "Please leave a message.", MaxRecording: 120},
		VoiceEntryPoints: []twilio.EntryPoint{{ID: "calls-us", Address: usNumber, Default: def == "calls-us"},
			{ID: "calls-uk", Address: ukNumber, AccountSID: ukAccount, AuthToken: ukToken, Default: def == "calls-uk"}}},
		connector.Deps{UserAgent: "gateway/test", HTTPClient: http.DefaultClient, MediaClient: http.DefaultClient})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// incomingCall is Twilio's incoming-call webhook (its real parameter
// names) from customer1 to the number to.
func incomingCall(to string, extra ...string) url.Values {
	f := url.Values{"AccountSid": {ukAccount}, "ApiVersion": {"2010-04-01"}, "CallSid": {"CA0123456789abcdef0123456789abcdef"},
		"CallStatus": {"ringing"}, "Called": {to}, "Caller": {customer1}, "Direction": {"inbound"}, "From": {customer1}, "To": {to}}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			f.Del(extra[i])
			continue
		}
		f.Set(extra[i], extra[i+1])
	}
	return f
}

// postVoice calls the route at pathQuery as Twilio would, with form signed
// with token.
func postVoice(t *testing.T, c connector.Connector, pathQuery, token string, form url.Values) (webhook.Result, error) {
	t.Helper()
	path, q, _ := strings.Cut(pathQuery, "?")
	r := &webhook.Request{Method: "POST", URL: public + pathQuery, Body: []byte(form.Encode()), ReceivedAt: time.Now(),
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"},
			"X-Twilio-Signature": {twilio.Sign(token, public+pathQuery, form)}}}
	r.Query, _ = url.ParseQuery(q)
	for _, rt := range c.Routes {
		if rt.Path == path && rt.Handler != nil {
			return rt.Handler.Handle(context.Background(), r)
		}
	}
	t.Fatalf("no route %s", path)
	return webhook.Result{}, nil
}

// twimlAttrs are the attributes of the first element named name in a
// TwiML answer, and its text.
func twimlAttrs(t *testing.T, body []byte, name string) (map[string]string, string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(body)))
	for {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("TwiML %q has no <%s>", body, name)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			out := map[string]string{}
			for _, a := range se.Attr {
				out[a.Name.Local] = a.Value
			}
			var text string
			if cd, err := d.Token(); err == nil {
				if c, ok := cd.(xml.CharData); ok {
					text = string(c)
				}
			}
			return out, text
		}
	}
}

// A call finds its voice entry point by the number called (To, else
// Called) on the shared route, by the route on an entry point's own route
// (signed with its account's token, never the other's); a number no voice
// entry point has hears that it is not in service and is dead-lettered
// (unknown_entry_point) unless there is a default; an entry point's own
// number on the shared route is refused.
func TestVoiceFindsTheEntryPoint(t *testing.T) {
	fake := providertest.NewTwilio(t)
	c := twoVoiceNumbers(t, fake, "", "")
	res, err := postVoice(t, c, twilio.VoicePath, fake.AuthToken, incomingCall(usNumber))
	if err != nil || entryPointOf(t, res) != "calls-us" {
		t.Fatalf("us number on the shared route: %v", err)
	}
	res, err = postVoice(t, c, twilio.VoicePath, fake.AuthToken, incomingCall(usNumber, "To", ""))
	if err != nil || entryPointOf(t, res) != "calls-us" {
		t.Fatalf("us number named only by Called: %v", err)
	}
	res, err = postVoice(t, c, twilio.VoicePath+"/calls-uk", ukToken, incomingCall(ukNumber))
	if err != nil || entryPointOf(t, res) != "calls-uk" {
		t.Fatalf("uk number on its route: %v", err)
	}
	for name, call := range map[string]func() (webhook.Result, error){
		"uk route signed with the connector's token": func() (webhook.Result, error) {
			return postVoice(t, c, twilio.VoicePath+"/calls-uk", fake.AuthToken, incomingCall(ukNumber))
		},
		"uk number on the shared route": func() (webhook.Result, error) {
			return postVoice(t, c, twilio.VoicePath, fake.AuthToken, incomingCall(ukNumber))
		},
		"uk number's status callback on the shared route": func() (webhook.Result, error) {
			return postVoice(t, c, twilio.VoiceStatusPath, fake.AuthToken, incomingCall(ukNumber, "CallStatus", "completed"))
		},
	} {
		if _, err := call(); !errors.Is(err, webhook.ErrSignature) {
			t.Errorf("%s: %v, want a signature error", name, err)
		}
	}
	for _, rt := range c.Routes {
		if strings.HasSuffix(rt.Path, "/calls-us") {
			t.Errorf("route %s for an entry point on the connector's account", rt.Path)
		}
	}
	if sw := c.Switches[len(c.Switches)-1]; sw.Connector != "twilio_calls-uk" || sw.Disabled != "" {
		t.Errorf("start log switch of the uk account %+v", sw)
	}

	res, err = postVoice(t, c, twilio.VoicePath, fake.AuthToken, incomingCall(unknownNumber))
	if err != nil || len(res.Events) != 0 || res.DeadLetter != webhook.DeadLetterUnknownEntryPoint || res.ContentType != "text/xml" {
		t.Fatalf("unknown number: %+v %v, want dead-lettered as unknown_entry_point and answered", res, err)
	}
	if _, said := twimlAttrs(t, res.Body, "Say"); said != twilio.NotInService || !strings.Contains(string(res.Body), "<Hangup") {
		t.Errorf("unknown number answered %q, want it said not in service and hung up", res.Body)
	}
	res, err = postVoice(t, twoVoiceNumbers(t, fake, "calls-us", ""), twilio.VoicePath, fake.AuthToken, incomingCall(unknownNumber))
	if err != nil || entryPointOf(t, res) != "calls-us" {
		t.Errorf("unknown number with a default: %v", err)
	}
}

// The TwiML of an entry point with an account of its own names its own
// routes for the <Dial> action and the voicemail's recording and
// transcription callbacks, which take that account's signature only;
// the shared route's TwiML names the shared routes.
func TestVoiceCallbacksStayOnTheEntryPointsRoutes(t *testing.T) {
	fake := providertest.NewTwilio(t)
	ringing := twoVoiceNumbers(t, fake, "", "+14155550199")
	res, err := postVoice(t, ringing, twilio.VoicePath+"/calls-uk", ukToken, incomingCall(ukNumber))
	if err != nil {
		t.Fatal(err)
	}
	if dial, _ := twimlAttrs(t, res.Body, "Dial"); dial["action"] != public+twilio.VoicePath+"/calls-uk" {
		t.Errorf("<Dial> action %q, want the uk route", dial["action"])
	}
	res, err = postVoice(t, ringing, twilio.VoicePath+"/calls-uk", ukToken, incomingCall(ukNumber, "DialCallStatus", "no-answer"))
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := twimlAttrs(t, res.Body, "Record")
	for attr, path := range map[string]string{"action": twilio.VoiceRecordingPath + "/calls-uk",
		"recordingStatusCallback": twilio.VoiceRecordingPath + "/calls-uk?caller=", "transcribeCallback": twilio.VoiceTranscriptionPath + "/calls-uk?caller="} {
		if !strings.HasPrefix(rec[attr], public+path) {
			t.Errorf("<Record> %s %q, want it under %s", attr, rec[attr], public+path)
		}
	}
	recording := fake.AddRecordingOf(ukAccount, "RE0123456789abcdef0123456789abcdef", []byte("ID3 uk"))
	recForm := url.Values{"AccountSid": {ukAccount}, "CallSid": {"CA0123456789abcdef0123456789abcdef"},
		"RecordingSid": {"RE0123456789abcdef0123456789abcdef"}, "RecordingUrl": {recording}, "RecordingStatus": {"completed"}}
	trForm := url.Values{"AccountSid": {ukAccount}, "CallSid": {"CA0123456789abcdef0123456789abcdef"}, "TranscriptionStatus": {"completed"},
		"TranscriptionText": {"call me back"}, "From": {customer1}, "To": {ukNumber}}
	for _, cb := range []struct {
		pathQuery string
		form      url.Values
	}{
		{strings.TrimPrefix(rec["recordingStatusCallback"], public), recForm},
		{strings.TrimPrefix(rec["transcribeCallback"], public), trForm},
		{twilio.VoiceStatusPath + "/calls-uk", incomingCall(ukNumber, "CallStatus", "completed", "CallDuration", "12")},
	} {
		if _, err := postVoice(t, ringing, cb.pathQuery, fake.AuthToken, cb.form); !errors.Is(err, webhook.ErrSignature) {
			t.Errorf("%s signed with the connector's token: %v, want a signature error", cb.pathQuery, err)
		}
		if res, err := postVoice(t, ringing, cb.pathQuery, ukToken, cb.form); err != nil || len(res.Events) != 1 {
			t.Errorf("%s signed with the uk token: %+v %v, want its update", cb.pathQuery, res, err)
		}
	}

	res, err = postVoice(t, ringing, twilio.VoicePath, fake.AuthToken, incomingCall(usNumber, "DialCallStatus", "busy"))
	if err != nil {
		t.Fatal(err)
	}
	if rec, _ := twimlAttrs(t, res.Body, "Record"); rec["action"] != public+twilio.VoiceRecordingPath {
		t.Errorf("shared route's <Record> action %q, want the shared route", rec["action"])
	}
}

// A voicemail of the uk account is fetched with that account's
// credentials (the fake serves it to no other), and a reply from the uk
// voice number leaves as SMS through the uk account, with its status
// callback on the uk entry point's route.
func TestVoiceEntryPointsAccount(t *testing.T) {
	fake := providertest.NewTwilio(t)
	fake.AddAccount(ukAccount, ukToken)
	c := twoVoiceNumbers(t, fake, "", "")
	link := fake.AddRecordingOf(ukAccount, "RE0123456789abcdef0123456789abcdef", []byte("ID3 uk")) + ".mp3"
	body, _, err := c.Fetchers[twilio.Provider].Fetch(context.Background(), link)
	if err != nil {
		t.Fatalf("uk recording: %v", err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if string(b) != "ID3 uk" || fake.RecordingFetches()[ukAccount] != 1 {
		t.Errorf("uk recording %q, fetches %v", b, fake.RecordingFetches())
	}
	phone := func(a string) normalize.Party { return normalize.Party{Kind: normalize.KindPhone, Address: a} }
	if _, err := c.Senders[twilio.Provider].Send(context.Background(), outbox.Send{MessageID: "m1", Channel: normalize.ChannelSMS,
		Provider: twilio.Provider, From: phone(ukNumber), To: phone(customer1), Text: "sorry we missed your call"}); err != nil {
		t.Fatal(err)
	}
	if m := fake.Messages()[0]; m.AccountSID != ukAccount || m.From != ukNumber ||
		!strings.HasPrefix(m.StatusCallback, public+twilio.StatusPath+"/calls-uk?") {
		t.Errorf("reply from the uk voice number: %+v", m)
	}
	found := false
	for _, rt := range c.Routes {
		found = found || (rt.Path == twilio.StatusPath+"/calls-uk" && rt.Handler != nil)
	}
	if !found {
		t.Error("no status callback route for the uk voice number's replies")
	}
}
