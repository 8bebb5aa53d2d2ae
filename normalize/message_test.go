package normalize

import (
	"strings"
	"testing"
	"time"
)

// sender_verified is written when false (an unauthenticated email), left
// out when unknown (other channels), and must be a boolean.
func TestSenderVerifiedOnTheWire(t *testing.T) {
	no := false
	m := Message{MessageID: NewID(), Channel: ChannelEmail, Provider: "sendgrid", Direction: Inbound,
		From: Party{Kind: KindEmail, Address: "ann@example.com"}, To: Party{Kind: KindEmail, Address: "support@shop.example"},
		ReceivedAt: time.Now(), SenderVerified: &no}
	ev, _ := NewEvent("/test", TypeMessageReceived, "email:ann@example.com", time.Now(), m)
	raw, _ := ev.Encode()
	if !strings.Contains(string(raw), `"sender_verified":false`) {
		t.Fatalf("false left out: %s", raw)
	}
	if err := ValidateEvent("inbound", raw); err != nil {
		t.Fatal(err)
	}
	back, err := ev.DecodeMessage()
	if err != nil || back.SenderVerified == nil || *back.SenderVerified {
		t.Fatalf("decoded %v (%v)", back.SenderVerified, err)
	}
	m.SenderVerified = nil
	ev, _ = NewEvent("/test", TypeMessageReceived, "email:ann@example.com", time.Now(), m)
	if raw, _ = ev.Encode(); strings.Contains(string(raw), "sender_verified") {
		t.Fatalf("unknown written: %s", raw)
	}
	bad := strings.Replace(string(raw), `"received_at"`, `"sender_verified":"no","received_at"`, 1)
	if err := ValidateEvent("inbound", []byte(bad)); err == nil || !strings.Contains(err.Error(), "sender_verified") {
		t.Fatalf("a string sender_verified passed: %v", err)
	}
}
