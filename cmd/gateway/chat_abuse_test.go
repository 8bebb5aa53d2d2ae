package main

import (
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore"
)

func customers(t *testing.T, g *Gateway) int {
	t.Helper()
	var n int
	if err := g.store.DB().QueryRow(`SELECT COUNT(*) FROM customers`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Visitors without a token who only connect (and send junk receipts)
// create no customer; the first message creates exactly one.
func TestTokenlessSocketsCreateNoCustomer(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_CHAT_MAX_SOCKETS_PER_IP": "50", "GATEWAY_CHAT_NEW_VISITORS_PER_MINUTE": "50"})
	var last map[string]any
	for i := range 31 {
		ws := chatDial(t, g)
		defer ws.Close()
		last = chatFrame(t, ws, map[string]any{"type": "hello"})
		if last["type"] != "welcome" {
			t.Fatalf("socket %d: %v", i, last)
		}
		if r := chatFrame(t, ws, map[string]any{"type": "received", "message_id": "watermark:" + last["visitor_id"].(string) + ":99999999999999"}); r["type"] != "error" {
			t.Fatalf("socket %d: watermark receipt %v", i, r)
		}
	}
	time.Sleep(500 * time.Millisecond) // anything published would be consumed by now
	if n := customers(t, g); n != 0 {
		t.Fatalf("31 silent visitors made %d customers", n)
	}
	ws := chatDial(t, g)
	defer ws.Close()
	chatFrame(t, ws, map[string]any{"type": "hello"})
	if ack := chatFrame(t, ws, map[string]any{"type": "message", "client_id": "c1", "text": "hello"}); ack["type"] != "ack" {
		t.Fatalf("ack %v", ack)
	}
	consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	if n := customers(t, g); n != 1 {
		t.Fatalf("one message made %d customers", n)
	}
}
