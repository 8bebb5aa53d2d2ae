package main

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// calledNumber is the business number the test's customers call; their
// texts go to another one (smsForm's To).
const calledNumber = "+15550001111"

// callForm is Twilio's incoming-call webhook (its real parameter names);
// extra adds or replaces parameters (DialCallStatus for the <Dial> action,
// CallStatus and CallDuration for a status callback).
func callForm(sid, from string, extra ...string) url.Values {
	f := url.Values{"AccountSid": {providertest.TwilioAccountSID}, "ApiVersion": {"2010-04-01"}, "CallSid": {sid},
		"CallStatus": {"ringing"}, "Called": {calledNumber}, "Caller": {from}, "Direction": {"inbound"}, "From": {from},
		"FromCountry": {"US"}, "To": {calledNumber}, "ToCountry": {"US"}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

// voicePost posts a form to a gateway URL path (with its query), signed with
// the fake Twilio's token for the public URL unless unsigned.
func voicePost(t *testing.T, g *Gateway, pathQuery string, form url.Values, unsigned bool) (int, string) {
	t.Helper()
	sig := ""
	if !unsigned {
		sig = twilio.Sign(providertest.TwilioAuthToken, testPublic+pathQuery, form)
	}
	return postTwilio(t, g, pathQuery, form, &sig)
}

// recordAttrs returns the attributes of the <Record> of a TwiML answer.
func recordAttrs(t *testing.T, body string) map[string]string {
	t.Helper()
	var doc struct {
		Record *struct {
			Attrs []xml.Attr `xml:",any,attr"`
		} `xml:"Record"`
	}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil || doc.Record == nil {
		t.Fatalf("TwiML without <Record>: %q (%v)", body, err)
	}
	out := map[string]string{}
	for _, a := range doc.Record.Attrs {
		out[a.Name.Local] = a.Value
	}
	return out
}

func TestVoiceEndToEnd(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) { testVoiceEndToEnd(t, dialect) })
	}
}

// Twilio Voice end to end, through HTTP, Kafka, the database and the fake
// Twilio: a missed call and a text from one phone are one customer and one
// conversation with two unreplied messages; the voicemail's recording is
// copied from Twilio's API into the media store and its transcription
// becomes the call's text (message.updated); repeated status callbacks
// make no second message; an answered call leaves the count alone; a reply
// to a caller who only called is an SMS from the number they called;
// unsigned callbacks are refused.
func testVoiceEndToEnd(t *testing.T, dialect string) {
	fake := providertest.NewTwilio(t)
	g := startGateway(t, dialect, map[string]string{"TWILIO_ACCOUNT_SID": fake.AccountSID, "TWILIO_AUTH_TOKEN": fake.AuthToken,
		"TWILIO_API_URL": fake.URL, "GATEWAY_MEDIA_ALLOWED_HOSTS": strings.TrimPrefix(fake.URL, "http://"),
		"GATEWAY_API_TOKENS": "agent:ann:agent-token", "GATEWAY_VOICE_FORWARD_TO": "+14155550199", "GATEWAY_VOICE_RING_SECONDS": "15"})
	events := g.cfg.TopicPrefix + "events.v1"
	const ann, bob = "+14155550101", "+14155550102"

	// Ann calls; nobody picks up; she leaves a voicemail and texts.
	if s, b := voicePost(t, g, twilio.VoicePath, callForm("CA01", ann), false); s != 200 || !strings.Contains(b, "<Dial") || !strings.Contains(b, `timeout="15"`) {
		t.Fatalf("incoming call: %d %q, want TwiML ringing the forward number", s, b)
	}
	s, twimlBody := voicePost(t, g, twilio.VoicePath, callForm("CA01", ann, "CallStatus", "in-progress", "DialCallStatus", "no-answer", "DialCallDuration", "0"), false)
	if s != 200 {
		t.Fatalf("dial action: %d %s", s, twimlBody)
	}
	rec := recordAttrs(t, twimlBody)
	for i := 0; i < 3; i++ { // Twilio may repeat a callback
		if s, b := voicePost(t, g, twilio.VoiceStatusPath, callForm("CA01", ann, "CallStatus", "completed", "CallDuration", "35"), false); s != 200 {
			t.Fatalf("status callback: %d %s", s, b)
		}
	}
	if s, _ := voicePost(t, g, "/webhooks/twilio/messaging", smsForm("SM00000000000000000000000000000001", ann, "I just called you"), false); s != 200 {
		t.Fatalf("SMS: %d", s)
	}
	recordingURL := fake.AddRecording("RE0123456789abcdef0123456789abcdef", []byte("ID3 voicemail audio"))
	recForm := url.Values{"AccountSid": {fake.AccountSID}, "CallSid": {"CA01"}, "RecordingSid": {"RE0123456789abcdef0123456789abcdef"},
		"RecordingUrl": {recordingURL}, "RecordingStatus": {"completed"}, "RecordingDuration": {"9"}, "RecordingChannels": {"1"},
		"RecordingSource": {"RecordVerb"}, "RecordingStartTime": {"Mon, 02 Nov 2026 09:00:31 +0000"}}
	recCallback := strings.TrimPrefix(rec["recordingStatusCallback"], testPublic)
	if s, b := voicePost(t, g, recCallback, recForm, true); s != http.StatusForbidden {
		t.Fatalf("unsigned recording callback: %d %s, want 403", s, b)
	}
	if s, b := voicePost(t, g, recCallback, recForm, false); s != 200 {
		t.Fatalf("recording callback %s: %d %s", recCallback, s, b)
	}
	const said = "Hi, this is Ann, my order has not arrived. Please call me back."
	trForm := url.Values{"AccountSid": {fake.AccountSID}, "CallSid": {"CA01"}, "RecordingSid": {"RE0123456789abcdef0123456789abcdef"},
		"RecordingUrl": {recordingURL}, "TranscriptionSid": {"TR01"}, "TranscriptionStatus": {"completed"}, "TranscriptionText": {said},
		"TranscriptionType": {"fast"}, "From": {ann}, "To": {calledNumber}, "CallStatus": {"completed"}, "ApiVersion": {"2010-04-01"}}
	if s, b := voicePost(t, g, strings.TrimPrefix(rec["transcribeCallback"], testPublic), trForm, false); s != 200 {
		t.Fatalf("transcription callback: %d %s", s, b)
	}
	// The SMS and the call's updates are keyed apart (phone: and voice:),
	// so they may reach events.v1 in either order: wait for both.
	evs := consume(t, g, events, func(e []topicEvent) bool {
		if count(e, "message.received") < 2 {
			return false
		}
		for _, u := range ofType(e, "message.updated") {
			if u.Data["message"].(map[string]any)["text"] == said {
				return true
			}
		}
		return false
	})
	if n := count(evs, "customer.created") + count(evs, "conversation.created"); n != 2 || count(evs, "message.received") != 2 {
		t.Fatalf("events %v: want one customer, one conversation, the call and the text", typesOf(evs))
	}
	convID := ofType(evs, "message.received")[0].Data["conversation_id"].(string)
	for _, e := range append(ofType(evs, "message.received"), ofType(evs, "message.updated")...) {
		if e.Data["conversation_id"] != convID {
			t.Errorf("%s in conversation %v, want %s", e.Event.Type, e.Data["conversation_id"], convID)
		}
	}
	// Dial action (missed), the first status callback (duration), the
	// recording, the transcription: the repeated status callbacks change nothing.
	updates := ofType(evs, "message.updated")
	if len(updates) != 4 {
		t.Errorf("%d message.updated, want 4 (repeated callbacks change nothing): %v", len(updates), typesOf(evs))
	}
	last := updates[len(updates)-1].Data["message"].(map[string]any)
	call := last["call"].(map[string]any)
	if last["channel"] != "voice" || last["kind"] != "call" || call["status"] != "voicemail" || call["duration_seconds"] != float64(35) {
		t.Fatalf("call message %v", last)
	}
	atts, _ := last["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("attachments %v, want the recording", last["attachments"])
	}
	att := atts[0].(map[string]any)
	link, _ := att["url"].(string)
	if att["status"] != "stored" || att["content_type"] != "audio/mpeg" || !strings.HasPrefix(link, testPublic+"/media/") {
		t.Fatalf("recording %v, want stored in the media store", att)
	}
	resp, err := http.Get("http://" + g.Addr() + strings.TrimPrefix(link, testPublic))
	if err != nil {
		t.Fatal(err)
	}
	audio, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(audio) != "ID3 voicemail audio" {
		t.Fatalf("GET recording: %d %q", resp.StatusCode, audio)
	}
	conv, err := g.service.Conversation(context.Background(), convID)
	if err != nil || conv.Unreplied != 2 || conv.MessageCount != 2 {
		t.Fatalf("conversation unreplied %d, %d messages (%v); want 2 and 2", conv.Unreplied, conv.MessageCount, err)
	}

	// Ann calls again and the forward number answers: nothing more to reply to.
	voicePost(t, g, twilio.VoicePath, callForm("CA02", ann), false)
	if s, b := voicePost(t, g, twilio.VoicePath, callForm("CA02", ann, "CallStatus", "in-progress", "DialCallStatus", "completed", "DialCallDuration", "64"), false); s != 200 || !strings.Contains(b, "<Hangup") {
		t.Fatalf("answered dial action: %d %q, want a hang-up", s, b)
	}
	consume(t, g, events, func(e []topicEvent) bool { return count(e, "message.updated") == 5 })
	if conv, _ := g.service.Conversation(context.Background(), convID); conv.Unreplied != 2 || conv.MessageCount != 3 {
		t.Fatalf("after an answered call: unreplied %d, %d messages; want 2 and 3", conv.Unreplied, conv.MessageCount)
	}

	// Bob only called: the reply reaches him by SMS from the number he called.
	voicePost(t, g, twilio.VoicePath, callForm("CB01", bob), false)
	voicePost(t, g, twilio.VoicePath, callForm("CB01", bob, "CallStatus", "in-progress", "DialCallStatus", "busy"), false)
	evs = consume(t, g, events, func(e []topicEvent) bool { return count(e, "message.updated") == 6 })
	var bobConv string
	for _, e := range ofType(evs, "message.received") {
		if e.Data["message"].(map[string]any)["from"].(map[string]any)["address"] == bob {
			bobConv, _ = e.Data["conversation_id"].(string)
		}
	}
	if s, b := post(t, g, "/v1/conversations/"+bobConv+"/messages", []byte(`{"text":"Sorry we missed your call! How can we help?"}`),
		map[string]string{"Authorization": "Bearer agent-token", "Content-Type": "application/json"}); s != http.StatusAccepted {
		t.Fatalf("reply: %d %s", s, b)
	}
	for deadline := time.Now().Add(20 * time.Second); len(fake.Messages()) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the reply never reached Twilio")
		}
	}
	if m := fake.Messages()[0]; m.From != calledNumber || m.To != bob || !strings.HasPrefix(m.Body, "Sorry we missed") {
		t.Fatalf("Twilio got %+v, want an SMS from %s to %s", m, calledNumber, bob)
	}

	// Unsigned calls are refused; every voice route counts its outcomes.
	if s, _ := voicePost(t, g, twilio.VoicePath, callForm("CA99", ann), true); s != http.StatusForbidden {
		t.Fatalf("unsigned call: %d, want 403", s)
	}
	metrics := get(t, g, "/metrics")
	for _, want := range []string{
		`gateway_webhook_requests_total{connector="twilio_voice",outcome="accepted"} 6`,
		`gateway_webhook_requests_total{connector="twilio_voice",outcome="signature"} 1`,
		`gateway_webhook_requests_total{connector="twilio_voice_status",outcome="accepted"} 3`,
		`gateway_webhook_requests_total{connector="twilio_voice_recording",outcome="accepted"} 1`,
		`gateway_webhook_requests_total{connector="twilio_voice_recording",outcome="signature"} 1`,
		`gateway_webhook_requests_total{connector="twilio_voice_transcription",outcome="accepted"} 1`,
		`gateway_core_messages_total{entry_point="voice",result="updated"} 6`,
		`gateway_core_messages_total{entry_point="voice",result="duplicate"} 2`,
		`gateway_media_copies_total{provider="twilio",result="stored"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s\n%s", want, grepLines(metrics, "gateway_core_messages_total"))
		}
	}
}
