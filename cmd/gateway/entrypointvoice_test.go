package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// twoVoiceAccounts is an entry points file of two voice numbers: the us
// number on the connector's account (TWILIO_ACCOUNT_SID), the uk number on
// an account of its own.
const twoVoiceAccounts = `entry_points:
  - id: calls-us
    provider: voice
    address: "+15558675310"
    inbox: calls-us
  - id: calls-uk
    provider: voice
    address: "+447700900123"
    inbox: calls-uk
    credentials:
      account_sid: TWILIO_ACCOUNT_SID_UK
      auth_token: TWILIO_AUTH_TOKEN_UK
`

// voiceCall is one call of TestTwoVoiceAccountsEndToEnd: to a number, on
// a route, signed with a token; wrong is the other account's token.
type voiceCall struct {
	entry, account, route, token, wrong, customer, business, callSid, recordingSid string
}

// Two voice numbers on two accounts, end to end through the gateway, the
// fake Twilio and both stores: a call to each lands at its entry point, in
// its inbox; the TwiML of the number with an account of its own points
// its recording and transcription callbacks at its own routes, which take
// that account's signature only (and the shared route takes the
// connector's only); each voicemail is fetched with its account's
// credentials; that number on the shared route, or an unknown id, is
// refused; a call to a number no entry point has is told the number is
// not in service, kept on raw.v1, sent to dlq.v1 as unknown_entry_point,
// counted, and makes no conversation.
func TestTwoVoiceAccountsEndToEnd(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			fake := providertest.NewTwilio(t)
			fake.AddAccount(ukAccount, ukAuthToken)
			path := entryPointsFile(t, twoVoiceAccounts)
			g := startGateway(t, dialect, map[string]string{"GATEWAY_ENTRY_POINTS": path, "TWILIO_API_URL": fake.URL,
				"TWILIO_ACCOUNT_SID": fake.AccountSID, "TWILIO_AUTH_TOKEN": fake.AuthToken,
				"TWILIO_ACCOUNT_SID_UK": ukAccount, "TWILIO_AUTH_TOKEN_UK": ukAuthToken,
				"GATEWAY_MEDIA_ALLOWED_HOSTS": strings.TrimPrefix(fake.URL, "http://"), "GATEWAY_API_TOKENS": "agent:ann:ann-token"})
			calls := []voiceCall{
				{"calls-us", fake.AccountSID, twilio.VoicePath, fake.AuthToken, ukAuthToken, usCustomer, usBusiness,
					"CA00000000000000000000000000000b01", "RE00000000000000000000000000000b01"},
				{"calls-uk", ukAccount, twilio.VoicePath + "/calls-uk", ukAuthToken, fake.AuthToken, ukCustomer, ukBusiness,
					"CA00000000000000000000000000000b02", "RE00000000000000000000000000000b02"},
			}
			for _, c := range calls {
				leaveVoicemail(t, g, fake, c)
			}
			refuseVoice(t, g, fake)
			checkVoiceEntryPoints(t, g, fake, calls)
		})
	}
}

// signedVoice posts form to pathQuery signed with token.
func signedVoice(t *testing.T, g *Gateway, pathQuery, token string, form url.Values) (int, string) {
	t.Helper()
	sig := twilio.Sign(token, testPublic+pathQuery, form)
	return postTwilio(t, g, pathQuery, form, &sig)
}

// leaveVoicemail makes call c: the incoming call, answered with voicemail
// TwiML whose callbacks are on c's routes; the recording and transcription
// callbacks, refused with the other account's signature and taken with
// c's.
func leaveVoicemail(t *testing.T, g *Gateway, fake *providertest.Twilio, c voiceCall) {
	t.Helper()
	form := url.Values{"AccountSid": {c.account}, "ApiVersion": {"2010-04-01"}, "CallSid": {c.callSid}, "CallStatus": {"ringing"},
		"Called": {c.business}, "Caller": {c.customer}, "Direction": {"inbound"}, "From": {c.customer}, "To": {c.business}}
	s, body := signedVoice(t, g, c.route, c.token, form)
	if s != http.StatusOK {
		t.Fatalf("%s: incoming call: %d %s", c.entry, s, body)
	}
	rec := recordAttrs(t, body)
	recRoute, trRoute := twilio.VoiceRecordingPath, twilio.VoiceTranscriptionPath
	if c.route != twilio.VoicePath {
		recRoute, trRoute = recRoute+"/"+c.entry, trRoute+"/"+c.entry
	}
	recCallback := strings.TrimPrefix(rec["recordingStatusCallback"], testPublic)
	trCallback := strings.TrimPrefix(rec["transcribeCallback"], testPublic)
	if !strings.HasPrefix(recCallback, recRoute+"?") || !strings.HasPrefix(trCallback, trRoute+"?") ||
		rec["action"] != testPublic+recRoute {
		t.Fatalf("%s: <Record> %v, want its callbacks on %s and %s", c.entry, rec, recRoute, trRoute)
	}
	recording := fake.AddRecordingOf(c.account, c.recordingSid, []byte("ID3 voicemail of "+c.entry))
	recForm := url.Values{"AccountSid": {c.account}, "CallSid": {c.callSid}, "RecordingSid": {c.recordingSid},
		"RecordingUrl": {recording}, "RecordingStatus": {"completed"}, "RecordingDuration": {"7"}}
	trForm := url.Values{"AccountSid": {c.account}, "CallSid": {c.callSid}, "RecordingSid": {c.recordingSid},
		"TranscriptionStatus": {"completed"}, "TranscriptionText": {"call me back, " + c.entry}, "From": {c.customer}, "To": {c.business}}
	for _, cb := range []struct {
		pathQuery string
		form      url.Values
	}{{recCallback, recForm}, {trCallback, trForm}} {
		if s, b := signedVoice(t, g, cb.pathQuery, c.wrong, cb.form); s != http.StatusForbidden {
			t.Errorf("%s: %s signed with the other account's token: %d %s, want 403", c.entry, cb.pathQuery, s, b)
		}
		if s, b := signedVoice(t, g, cb.pathQuery, c.token, cb.form); s != http.StatusOK {
			t.Fatalf("%s: %s: %d %s", c.entry, cb.pathQuery, s, b)
		}
	}
}

// refuseVoice sends the calls of TestTwoVoiceAccountsEndToEnd that are not
// taken: the uk number on the shared route (403), an unknown id (404), and
// a number no entry point has (answered, dead-lettered).
func refuseVoice(t *testing.T, g *Gateway, fake *providertest.Twilio) {
	t.Helper()
	call := func(to string) url.Values {
		return url.Values{"AccountSid": {fake.AccountSID}, "CallSid": {"CA00000000000000000000000000000b09"}, "CallStatus": {"ringing"},
			"From": {usCustomer}, "To": {to}, "Called": {to}, "Direction": {"inbound"}}
	}
	if s, b := signedVoice(t, g, twilio.VoicePath, fake.AuthToken, call(ukBusiness)); s != http.StatusForbidden {
		t.Errorf("uk number on the shared route: %d %s, want 403", s, b)
	}
	if s, b := signedVoice(t, g, twilio.VoicePath+"/calls-fr", ukAuthToken, call(ukBusiness)); s != http.StatusNotFound {
		t.Errorf("unknown entry point id: %d %s, want 404", s, b)
	}
	s, b := signedVoice(t, g, twilio.VoicePath, fake.AuthToken, call(unknownBusiness))
	if s != http.StatusOK || !strings.Contains(b, twilio.NotInService) || !strings.Contains(b, "<Hangup") {
		t.Errorf("unknown number: %d %s, want TwiML saying it is not in service", s, b)
	}
}

// checkVoiceEntryPoints waits for the calls' messages, voicemails and
// transcriptions, and checks where they landed, which account each
// recording was fetched with, and the dead-lettered call.
func checkVoiceEntryPoints(t *testing.T, g *Gateway, fake *providertest.Twilio, calls []voiceCall) {
	t.Helper()
	dead := consume(t, g, "gateway.dlq.v1", func(e []topicEvent) bool { return len(e) == 1 })
	if h := dead[0].Headers; h["dlq-reason"] != "unknown_entry_point" || h["dlq-topic"] != "gateway.raw.v1" || h["route"] != "twilio_voice" {
		t.Errorf("dlq.v1 record headers %v", h)
	}
	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool {
		stored, texts := 0, 0
		for _, u := range ofType(e, "message.updated") {
			m := u.Data["message"].(map[string]any)
			if atts, _ := m["attachments"].([]any); len(atts) == 1 && atts[0].(map[string]any)["status"] == "stored" {
				stored++
			}
			if text, _ := m["text"].(string); strings.HasPrefix(text, "call me back") {
				texts++
			}
		}
		return stored >= 2 && texts >= 2 && count(e, "message.received") == 2
	})
	if n := count(evs, "conversation.created"); n != 2 {
		t.Errorf("%d conversation.created, want 2 (the unknown number made none)", n)
	}
	for _, c := range calls {
		var page struct{ Data []core.Conversation }
		getAs(t, g, "ann-token", "/v1/conversations?entry_point="+c.entry, &page)
		if len(page.Data) != 1 || page.Data[0].Inbox != c.entry || page.Data[0].EntryPoint != c.entry {
			t.Errorf("?entry_point=%s: %+v, want one conversation in inbox %s", c.entry, page.Data, c.entry)
		}
		if n := fake.RecordingFetches()[c.account]; n != 1 {
			t.Errorf("%s: its account's recordings fetched %d times, want 1 (%v)", c.entry, n, fake.RecordingFetches())
		}
		if len(page.Data) == 1 {
			replyAs(t, g, "ann-token", page.Data[0].ID, "sorry we missed your call")
		}
	}
	// Each caller's reply leaves as SMS from the number called, through
	// that number's account.
	for deadline := time.Now().Add(20 * time.Second); len(fake.Messages()) < len(calls); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("replies reached Twilio: %+v, want %d", fake.Messages(), len(calls))
		}
	}
	sent := map[string]providertest.TwilioMessage{}
	for _, m := range fake.Messages() {
		sent[m.To] = m
	}
	for _, c := range calls {
		if m := sent[c.customer]; m.AccountSID != c.account || m.From != c.business {
			t.Errorf("reply to the %s caller: %+v, want from %s under %s", c.entry, m, c.business, c.account)
		}
	}
	metrics := get(t, g, "/metrics")
	for _, want := range []string{
		`gateway_webhook_dead_letters_total{connector="twilio_voice",reason="unknown_entry_point"} 1`,
		`gateway_webhook_requests_total{connector="twilio_voice",outcome="dead_letter"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s\n%s", want, grepLines(metrics, "twilio_voice"))
		}
	}
}

// `gateway sign twilio -entry-point ID` signs for a voice entry point with
// the auth token of its own account, which its routes take and the
// connector's token does not match.
func TestSignForVoiceEntryPoint(t *testing.T) {
	path := entryPointsFile(t, twoVoiceAccounts)
	env := map[string]string{"GATEWAY_ENTRY_POINTS": path, "TWILIO_AUTH_TOKEN": testToken,
		"TWILIO_ACCOUNT_SID_UK": ukAccount, "TWILIO_AUTH_TOKEN_UK": ukAuthToken}
	form := url.Values{"CallSid": {"CA00000000000000000000000000000b03"}, "From": {ukCustomer}, "To": {ukBusiness}}
	u := testPublic + twilio.VoicePath + "/calls-uk"
	hdr := signed(t, []string{"twilio", "-url", u, "-entry-point", "calls-uk"}, env, []byte(form.Encode()))
	if got := hdr["X-Twilio-Signature"]; got != twilio.Sign(ukAuthToken, u, form) || got == twilio.Sign(testToken, u, form) {
		t.Errorf("signature for calls-uk %q, want the uk account's", got)
	}
}
