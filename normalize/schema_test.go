package normalize

import (
	"encoding/json"
	"slices"
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

// Every event about a conversation on events.v1 carries the entry point the
// conversation started at: each schema whose data needs a conversation_id
// needs an entry_point of the id's form too.
func TestConversationEventsNeedEntryPoint(t *testing.T) {
	about := 0
	for _, n := range SchemaNames() {
		if strings.Contains(n, "/") {
			continue // inbound.v1 and commands.v1
		}
		raw, err := schemaFS.ReadFile("schemas/" + n + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Properties struct {
				Data struct {
					Required   []string                   `json:"required"`
					Properties map[string]json.RawMessage `json:"properties"`
				} `json:"data"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		d := s.Properties.Data
		if !slices.Contains(d.Required, "conversation_id") {
			continue
		}
		about++
		if !slices.Contains(d.Required, "entry_point") || !strings.Contains(string(d.Properties["entry_point"]), "defs.json#/$defs/entry_point") {
			t.Errorf("%s: data does not require entry_point", n)
		}
	}
	if about < 19 {
		t.Fatalf("%d schemas of events about a conversation, want every conversation.*, message.*, contact.* and note.added", about)
	}
	// And a message.sent that lacks it, or names none, is refused.
	m := Message{MessageID: NewID(), Channel: ChannelSMS, Provider: "twilio", Direction: Outbound,
		From: Party{Kind: KindPhone, Address: "+15558675310"}, To: Party{Kind: KindPhone, Address: "+14155550101"}, ReceivedAt: time.Now()}
	data := map[string]any{"customer_id": "c1", "conversation_id": "v1", "channel": ChannelSMS, "message_id": m.MessageID,
		"message": m, "status": StatusSent}
	for _, c := range []struct {
		entryPoint any
		ok         bool
	}{{nil, false}, {"Support US", false}, {"support-us", true}} {
		delete(data, "entry_point")
		if c.entryPoint != nil {
			data["entry_point"] = c.entryPoint
		}
		ev, _ := NewEvent("/test", TypeMessageSent, "v1", time.Now(), data)
		raw, _ := ev.Encode()
		if err := ValidateEvent("", raw); (err == nil) != c.ok {
			t.Errorf("entry_point %v: %v", c.entryPoint, err)
		}
	}
}
