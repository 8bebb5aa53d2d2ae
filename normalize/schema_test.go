package normalize

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Every event type the gateway produces has a schema.
func TestSchemasLoad(t *testing.T) {
	have := map[string]bool{}
	for _, n := range SchemaNames() {
		have[n] = true
	}
	for _, typ := range []string{TypeCustomerCreated, TypeCustomerMerged, TypeCustomerErased, TypeConversationCreated,
		TypeConversationReopened, TypeConversationAssigned, TypeConversationStatusChanged, TypeConversationClosed,
		TypeConversationDeleted, TypeConversationTopicsChanged, TypeConversationVisibilityChanged, TypeMessageReceived, TypeMessageQueued, TypeMessageSent, TypeMessageDelivered,
		TypeMessageRead, TypeMessageFailed, TypeNoteAdded, "inbound/" + TypeMessageReceived, "inbound/" + TypeMessageStatus,
		TypeMessageUpdated, "inbound/" + TypeMessageUpdated} {
		if !have[typ] {
			t.Errorf("no schema for %s", typ)
		}
	}
}

func TestValidateEvent(t *testing.T) {
	m := Message{MessageID: NewID(), Channel: ChannelSMS, Provider: "twilio", Direction: Inbound,
		From: Party{Kind: KindPhone, Address: "+14155550101"}, To: Party{Kind: KindPhone, Address: "+15558675310"}, ReceivedAt: time.Now()}
	ev, _ := NewEvent("/test", TypeMessageReceived, "sms:+14155550101", time.Now(), m)
	raw, _ := ev.Encode()
	if err := ValidateEvent("inbound", raw); err != nil {
		t.Fatalf("valid inbound event refused: %v", err)
	}
	m.Channel = "pager"
	ev, _ = NewEvent("/test", TypeMessageReceived, "x", time.Now(), m)
	raw, _ = ev.Encode()
	if err := ValidateEvent("inbound", raw); err == nil || !strings.Contains(err.Error(), "channel") {
		t.Fatalf("an unknown channel passed: %v", err)
	}
	// events.v1 message.received needs customer and conversation ids.
	ev, _ = NewEvent("/test", TypeMessageReceived, "x", time.Now(), map[string]any{"message": m})
	raw, _ = ev.Encode()
	if err := ValidateEvent("", raw); err == nil {
		t.Fatal("a message.received without customer_id passed")
	}
}

// Encode writes what json.Marshal would.
func TestEncodeMatchesMarshal(t *testing.T) {
	ev, err := NewEvent("/test", TypeMessageReceived, "sms:+1", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		map[string]any{"text": "héllo <b>&\u2028", "n": 1})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ev.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(ev)
	if string(got) != string(want) {
		t.Fatalf("Encode\n%s\njson.Marshal\n%s", got, want)
	}
}
