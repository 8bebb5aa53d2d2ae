package normalize

import (
	"strings"
	"testing"
	"time"
)

func callMessage(status string) Message {
	return Message{MessageID: NewID(), Channel: ChannelVoice, Provider: "twilio", ProviderMessageID: "CA1", Direction: Inbound,
		From: Party{Kind: KindPhone, Address: "+14155550101"}, To: Party{Kind: KindPhone, Address: "+15558675310"},
		ReceivedAt: time.Now(), Kind: MessageKindCall, Call: &Call{Status: status, Direction: Inbound}}
}

// A call message and an update of it pass their schemas on both topics,
// and the schemas refuse a call state or channel that does not exist.
func TestCallEventsValidate(t *testing.T) {
	m := callMessage(CallMissed)
	ev, _ := NewEvent("/test", TypeMessageReceived, "voice:+14155550101", time.Now(), m)
	raw, _ := ev.Encode()
	if err := ValidateEvent("inbound", raw); err != nil {
		t.Fatalf("call message refused: %v", err)
	}
	if !strings.Contains(string(raw), `"kind":"call","call":{"status":"missed","direction":"inbound","duration_seconds":0}`) {
		t.Fatalf("call on the wire: %s", raw)
	}
	bad := strings.Replace(string(raw), `"status":"missed"`, `"status":"exploded"`, 1)
	if err := ValidateEvent("inbound", []byte(bad)); err == nil {
		t.Fatal("an unknown call status passed")
	}
	u := Update{Provider: "twilio", ProviderMessageID: "CA1", Channel: ChannelVoice, Contact: m.From, Text: "Call me back", At: time.Now()}
	ev, _ = NewEvent("/test", TypeMessageUpdated, "voice:+14155550101", time.Now(), u)
	raw, _ = ev.Encode()
	if err := ValidateEvent("inbound", raw); err != nil {
		t.Fatalf("update refused: %v", err)
	}
	if back, err := ev.DecodeUpdate(); err != nil || back.Text != "Call me back" || back.ProviderMessageID != "CA1" {
		t.Fatalf("decoded %+v (%v)", back, err)
	}
	ev, _ = NewEvent("/test", TypeMessageUpdated, "x", time.Now(), Update{Provider: "twilio"})
	if _, err := ev.DecodeUpdate(); err == nil {
		t.Fatal("an update naming no message decoded")
	}
	ev, _ = NewEvent("/test", TypeMessageUpdated, "c1", time.Now(), map[string]any{"customer_id": "c1", "conversation_id": "v1",
		"entry_point": "voice", "channel": ChannelVoice, "message_id": m.MessageID, "message": m})
	raw, _ = ev.Encode()
	if err := ValidateEvent("", raw); err != nil {
		t.Fatalf("events.v1 message.updated refused: %v", err)
	}
}

// A call only moves forward, a repeated update changes nothing, and only
// a missed call or a voicemail waits for a reply.
func TestUpdateApply(t *testing.T) {
	m := callMessage(CallRinging)
	if m.AwaitsReply() {
		t.Error("a ringing call awaits a reply")
	}
	rec := Attachment{URL: "https://api.twilio.com/r/RE1.mp3", ProviderRef: "https://api.twilio.com/r/RE1.mp3", Status: "pending"}
	steps := []struct {
		u            Update
		changed      bool
		status, text string
		duration     int
		atts         int
		awaits       bool
	}{
		{Update{Call: &Call{Status: CallAnswered, DurationSeconds: 12}}, true, CallAnswered, "", 12, 0, false},
		{Update{Call: &Call{Status: CallMissed}}, false, CallAnswered, "", 12, 0, false}, // a late "missed" never undoes answered
		{Update{Call: &Call{Status: CallAnswered, DurationSeconds: 12}}, false, CallAnswered, "", 12, 0, false},
		{Update{Call: &Call{Status: CallVoicemail}, Attachments: []Attachment{rec}}, true, CallVoicemail, "", 12, 1, true},
		{Update{Attachments: []Attachment{rec}}, false, CallVoicemail, "", 12, 1, true}, // the same recording again
		{Update{Text: "Please call me back"}, true, CallVoicemail, "Please call me back", 12, 1, true},
		{Update{Text: "Please call me back"}, false, CallVoicemail, "Please call me back", 12, 1, true},
	}
	for i, s := range steps {
		if got := s.u.Apply(&m); got != s.changed {
			t.Errorf("step %d: changed %v, want %v", i, got, s.changed)
		}
		if m.Call.Status != s.status || m.Text != s.text || m.Call.DurationSeconds != s.duration || len(m.Attachments) != s.atts || m.AwaitsReply() != s.awaits {
			t.Errorf("step %d: %+v text %q %d attachments, awaits %v", i, *m.Call, m.Text, len(m.Attachments), m.AwaitsReply())
		}
	}
	if !(&Message{Channel: ChannelSMS}).AwaitsReply() {
		t.Error("an SMS does not await a reply")
	}
	if KindOf(ChannelVoice) != KindPhone {
		t.Error("voice is not a phone channel")
	}
}

// Noise (a reaction, a read receipt, a referral without text, a Get Started
// tap, a system notice) never awaits a reply; other kinds are not noise.
func TestNoiseNeverAwaitsAReply(t *testing.T) {
	for _, k := range []string{MessageKindReaction, MessageKindReadReceipt, MessageKindReferral, MessageKindGetStarted, MessageKindSystem} {
		m := Message{Channel: ChannelWhatsApp, Direction: Inbound, Kind: k}
		if !m.Noise() || m.AwaitsReply() {
			t.Errorf("kind %s: noise %v, awaits a reply %v", k, m.Noise(), m.AwaitsReply())
		}
	}
	for _, k := range []string{"", MessageKindCall, "location"} {
		if m := (Message{Kind: k}); m.Noise() {
			t.Errorf("kind %q is noise", k)
		}
	}
}
