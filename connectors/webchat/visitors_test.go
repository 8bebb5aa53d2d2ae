package webchat

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// One address opening sockets, saying hello without a token and sending a
// message, 30 times: 10 visitors a minute (the default) are welcomed and
// publish; the rest get a rate_limited frame, a close (1013) and publish
// nothing. A visitor with a valid token is still welcomed, and not counted.
func TestNewVisitorsPerNetwork(t *testing.T) {
	chat, cap, addr := serve(t, Config{Secret: secret, MaxSocketsPerIP: 100})
	origin := "http://" + addr
	welcomed, limited, token := 0, 0, ""
	for i := range 30 {
		ws := dial(t, addr, origin)
		switch r := roundtrip(t, ws, map[string]any{"type": "hello"}); {
		case r["type"] == "welcome":
			welcomed++
			token = r["token"].(string)
			if ack := roundtrip(t, ws, map[string]any{"type": "message", "client_id": "c" + strconv.Itoa(i), "text": "hello"}); ack["type"] != "ack" {
				t.Fatalf("visitor %d: %v", i, ack)
			}
		case r["type"] == "error" && r["code"] == "rate_limited":
			limited++
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := ws.ReadMessage(); !fws.IsCloseError(err, fws.CloseTryAgainLater) {
				t.Fatalf("visitor %d refused: %v, want close 1013", i, err)
			}
		default:
			t.Fatalf("visitor %d: %v", i, r)
		}
		ws.Close()
	}
	if welcomed != DefaultNewVisitors || limited != 30-DefaultNewVisitors || len(cap.messages(t)) != DefaultNewVisitors {
		t.Fatalf("%d welcomed, %d rate limited, %d published; want %d welcomed and published", welcomed, limited, len(cap.messages(t)), DefaultNewVisitors)
	}
	if n := testutil.ToFloat64(chat.refused.WithLabelValues("new_visitors")); n != 20 {
		t.Fatalf("gateway_chat_refused_total{reason=new_visitors} %v, want 20", n)
	}
	for i := range 15 {
		ws := dial(t, addr, origin)
		if r := roundtrip(t, ws, map[string]any{"type": "hello", "token": token}); r["type"] != "welcome" {
			t.Fatalf("returning visitor, socket %d: %v", i, r)
		}
		ws.Close()
	}
}

// The socket caps and the new-visitor limit count a client network:
// distinct addresses of one IPv6 /64 are one client.
func TestLimitsCountIPv6By64(t *testing.T) {
	chat := New(Config{Secret: secret, MaxSocketsPerIP: 5, NewVisitorsPerMinute: 3}, nil, nil, nil)
	from := func(i int) net.Addr {
		return &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("2001:db8:5:5:%x::%x", i, i+1)), Port: 40000 + i}
	}
	var keys []string
	for i := range 5 {
		key, ok := chat.admit(from(i))
		if !ok {
			t.Fatalf("socket %d of the /64 refused", i)
		}
		keys = append(keys, key)
	}
	if _, ok := chat.admit(from(5)); ok {
		t.Fatal("a sixth socket from one /64 admitted past MaxSocketsPerIP 5")
	}
	if reason := chat.full("2001:db8:5:5:abcd::1"); reason != "per_ip" {
		t.Fatalf("first look at a socket from the full /64: %q, want per_ip", reason)
	}
	if _, ok := chat.admit(&net.TCPAddr{IP: net.ParseIP("2001:db8:5:6::1"), Port: 1}); !ok {
		t.Fatal("another /64 refused")
	}
	allowed := 0
	for _, key := range keys {
		if chat.newVisitors.Allow(key) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("5 new visitors from one /64: %d allowed, want 3", allowed)
	}
}
