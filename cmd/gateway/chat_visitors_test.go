package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// A script opening a socket, saying hello without a token, sending one
// message and closing, 30 times from one address: 10 new visitors a minute
// (the default) become customers; the other 20 get a rate_limited frame
// and store nothing. A returning visitor (valid token) is not counted. On
// both stores, through the real socket, Kafka and the database.
func TestNewChatVisitorsLimited(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startGateway(t, dialect, map[string]string{"GATEWAY_API_TOKENS": "agent:agent-token"})
			welcomed, limited, token := 0, 0, ""
			for i := range 30 {
				ws := chatDial(t, g)
				switch r := chatFrame(t, ws, map[string]any{"type": "hello"}); {
				case r["type"] == "welcome":
					welcomed++
					token = r["token"].(string)
					if ack := chatFrame(t, ws, map[string]any{"type": "message", "client_id": "c1", "text": "hello " + strconv.Itoa(i)}); ack["type"] != "ack" {
						t.Fatalf("visitor %d: %v", i, ack)
					}
				case r["type"] == "error" && r["code"] == "rate_limited":
					limited++
				default:
					t.Fatalf("visitor %d: %v", i, r)
				}
				ws.Close()
			}
			if welcomed != 10 || limited != 20 {
				t.Fatalf("%d welcomed, %d rate limited; want 10 and 20", welcomed, limited)
			}
			// The returning visitor writes again: the last record published.
			ws := chatDial(t, g)
			defer ws.Close()
			if r := chatFrame(t, ws, map[string]any{"type": "hello", "token": token}); r["type"] != "welcome" {
				t.Fatalf("returning visitor: %v", r)
			}
			for r := chatFrame(t, ws, map[string]any{"type": "message", "client_id": "c2", "text": "still there?"}); r["type"] != "ack"; r = chatFrame(t, ws, nil) {
				if r["type"] == "error" {
					t.Fatalf("returning visitor's message: %v", r)
				}
			}
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") >= 11 })
			if n := customers(t, g); n != 10 {
				t.Fatalf("%d customers, want 10", n)
			}
			var st struct {
				ByStatus map[string]int `json:"by_status"`
			}
			getAs(t, g, "agent-token", "/v1/stats", &st)
			if st.ByStatus["new"] != 10 {
				t.Fatalf("stats: %v new conversations, want 10", st.ByStatus)
			}
			if m := get(t, g, "/metrics"); !strings.Contains(m, `gateway_chat_refused_total{reason="new_visitors"} 20`) {
				t.Errorf("/metrics lacks the refusals:\n%s", grepLines(m, "gateway_chat_refused"))
			}
		})
	}
}

// With Kafka down, a chat flood takes at most a tenth of the spool: 80
// messages of 15 KB (more than the whole 1 MiB spool), then 48 of 500
// bytes to fill what is left, from one returning visitor's sockets, get a
// few acks, then "unavailable" error frames; a Twilio webhook after them
// still gets its 200 from the spool.
func TestChatFloodLeavesSpoolForWebhooks(t *testing.T) {
	const spoolBytes = 1 << 20
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_SPOOL_MAX_BYTES": strconv.Itoa(spoolBytes)})
	first := chatDial(t, g)
	defer first.Close()
	token := chatFrame(t, first, map[string]any{"type": "hello"})["token"]
	g.embedded.Close()
	acks, unavailable := 0, 0
	for s := range 8 {
		text := strings.Repeat("x", 15000)
		if s >= 5 {
			text = strings.Repeat("y", 500)
		}
		ws := chatDial(t, g)
		defer ws.Close()
		if r := chatFrame(t, ws, map[string]any{"type": "hello", "token": token}); r["type"] != "welcome" {
			t.Fatalf("socket %d: %v", s, r)
		}
		for i := range 16 {
			id := strconv.Itoa(s) + "-" + strconv.Itoa(i)
			switch r := chatFrame(t, ws, map[string]any{"type": "message", "client_id": id, "text": text}); {
			case r["type"] == "ack":
				acks++
			case r["type"] == "error" && r["code"] == "unavailable":
				unavailable++
			default:
				t.Fatalf("message %s: %v", id, r)
			}
		}
	}
	spooled := g.spool.Bytes()
	status, body := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm("SM00000000000000000000000000000001", "+14155550101", "hi"), nil)
	if status != http.StatusOK {
		t.Fatalf("a webhook after the chat flood (%d chat messages acked, %d bytes spooled): %d %s, want 200 (spooled)", acks, spooled, status, body)
	}
	if acks == 0 || unavailable == 0 || spooled > spoolBytes/10 {
		t.Fatalf("%d acked, %d unavailable, %d bytes spooled; want some acked, the rest unavailable, at most %d bytes", acks, unavailable, spooled, spoolBytes/10)
	}
	if got := get(t, g, "/readyz"); !strings.HasPrefix(got, "200") || !strings.Contains(got, `"kafka":"spooling"`) {
		t.Fatalf("readyz after the chat flood: %s", got)
	}
}
