package webchat

import (
	"context"
	"testing"
	"time"

	"github.com/opengateway/gateway/normalize"
)

// A returning visitor gets their history first (their messages and the
// replies, with the agent's name and whether each reply reached them), then
// the replies their browser has not confirmed as message frames. A receipt
// is accepted for a reply of the history, never for one of their own messages.
func TestReturningVisitorGetsHistory(t *testing.T) {
	chat, cap, addr := serve(t, Config{Secret: secret})
	origin := "http://" + addr
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	asked := make(chan string, 1)
	chat.OnConnect(func(_ context.Context, address string) Returning {
		asked <- address
		return Returning{
			History: []HistoryMessage{
				{MessageID: "in-1", Direction: normalize.Inbound, Text: "anyone there?", SentAt: at},
				{MessageID: "out-1", Direction: normalize.Outbound, Text: "Yes, here!", SentAt: at.Add(time.Minute), Author: "ann", Status: "delivered"},
				{MessageID: "out-2", Direction: normalize.Outbound, Text: "Still there?", SentAt: at.Add(2 * time.Minute), Author: "ann", Status: "sent"},
			},
			Pending: []OutboundMessage{{MessageID: "out-2", Text: "Still there?", SentAt: at.Add(2 * time.Minute)}},
		}
	})
	ws := dial(t, addr, origin)
	w := roundtrip(t, ws, map[string]any{"type": "hello"})
	h := roundtrip(t, ws, nil)
	// The history frame comes from the callback: it has run by now.
	if a := <-asked; a != w["visitor_id"] {
		t.Fatalf("history asked for %q, visitor %v", a, w["visitor_id"])
	}
	msgs, _ := h["messages"].([]any)
	if h["type"] != "history" || len(msgs) != 3 {
		t.Fatalf("history frame %v", h)
	}
	want := []map[string]any{
		{"message_id": "in-1", "direction": "inbound", "text": "anyone there?", "sent_at": "2025-03-01T10:00:00Z"},
		{"message_id": "out-1", "direction": "outbound", "text": "Yes, here!", "author": "ann", "status": "delivered", "sent_at": "2025-03-01T10:01:00Z"},
		{"message_id": "out-2", "direction": "outbound", "text": "Still there?", "author": "ann", "status": "sent", "sent_at": "2025-03-01T10:02:00Z"},
	}
	for i, m := range msgs {
		got := m.(map[string]any)
		if len(got) != len(want[i]) {
			t.Errorf("history[%d] = %v, want %v", i, got, want[i])
		}
		for k, v := range want[i] {
			if got[k] != v {
				t.Errorf("history[%d].%s = %v, want %v", i, k, got[k], v)
			}
		}
	}
	if r := roundtrip(t, ws, nil); r["type"] != "message" || r["message_id"] != "out-2" {
		t.Fatalf("after the history: %v", r)
	}
	if r := roundtrip(t, ws, map[string]any{"type": "received", "message_id": "in-1"}); r["type"] != "error" || r["code"] != "invalid" {
		t.Fatalf("receipt for the visitor's own message: %v", r)
	}
	if err := ws.WriteJSON(map[string]any{"type": "received", "message_id": "out-1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		cap.mu.Lock()
		n := len(cap.evs)
		cap.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cap.mu.Lock()
	defer cap.mu.Unlock()
	if len(cap.evs) != 1 {
		t.Fatalf("%d events after the receipts", len(cap.evs))
	}
	if st, err := cap.evs[0].Event.DecodeStatus(); err != nil || st.Status != "delivered" || st.MessageID != "out-1" {
		t.Fatalf("receipt for a reply of the history: %+v %v", st, err)
	}
}

// A new visitor (no history) gets no history frame: the first frame after
// welcome answers their first message.
func TestNoHistoryNoFrame(t *testing.T) {
	chat, _, addr := serve(t, Config{Secret: secret})
	chat.OnConnect(func(context.Context, string) Returning { return Returning{} })
	ws := dial(t, addr, "http://"+addr)
	roundtrip(t, ws, map[string]any{"type": "hello"})
	if r := roundtrip(t, ws, map[string]any{"type": "message", "client_id": "c1", "text": "hi"}); r["type"] != "ack" {
		t.Fatalf("first frame after welcome: %v", r)
	}
}
