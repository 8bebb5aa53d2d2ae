package webchat

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/opengateway/gateway/normalize"
)

func (c *captured) statuses(t *testing.T) []normalize.Status {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []normalize.Status
	for _, e := range c.evs {
		if e.Event.Type == normalize.TypeMessageStatus {
			st, err := e.Event.DecodeStatus()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, st)
		}
	}
	return out
}

func (c *captured) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

// A visitor acknowledges only the replies sent to it: another visitor's
// message id, or a watermark naming another customer, gets an error frame
// and publishes nothing.
func TestReceiptOnlyForOwnReplies(t *testing.T) {
	chat, cap, addr := serve(t, Config{Secret: secret})
	origin := "http://" + addr
	ann := dial(t, addr, origin)
	a := roundtrip(t, ann, map[string]any{"type": "hello"})
	mallory := dial(t, addr, origin)
	roundtrip(t, mallory, map[string]any{"type": "hello"})
	// The socket is registered just after the welcome: retry until it is.
	waitFor(t, func() bool {
		return chat.Deliver(a["visitor_id"].(string), OutboundMessage{MessageID: "m-ann", Text: "your order shipped"})
	})
	if r := roundtrip(t, ann, nil); r["message_id"] != "m-ann" {
		t.Fatalf("ann got %v", r)
	}
	ms := strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10)
	for _, id := range []string{"m-ann", "watermark:" + a["visitor_id"].(string) + ":" + ms, "watermark:user:ann:" + ms, "never-sent"} {
		if r := roundtrip(t, mallory, map[string]any{"type": "received", "message_id": id}); r["type"] != "error" || r["code"] != "invalid" {
			t.Fatalf("receipt of %q by another visitor: %v, want an error frame", id, r)
		}
	}
	if n := cap.count(); n != 0 {
		t.Fatalf("foreign receipts published %d events", n)
	}
	// Ann's own receipt counts, and an id too long for any message is refused.
	if r := roundtrip(t, ann, map[string]any{"type": "received", "message_id": strings.Repeat("m", 201)}); r["type"] != "error" {
		t.Fatalf("overlong message id: %v", r)
	}
	if err := ann.WriteJSON(map[string]any{"type": "received", "message_id": "m-ann"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(cap.statuses(t)) == 1 })
	if st := cap.statuses(t)[0]; st.MessageID != "m-ann" || st.Status != normalize.StatusDelivered || st.Recipient.Address != a["visitor_id"] {
		t.Fatalf("receipt %+v", st)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A socket sending faster than the rate (5 a second, bursts of 20 by
// default) gets error frames for the excess, and they publish nothing.
func TestFrameFlood(t *testing.T) {
	_, cap, addr := serve(t, Config{Secret: secret})
	ws := dial(t, addr, "http://"+addr)
	roundtrip(t, ws, map[string]any{"type": "hello"})
	const n = 100
	start := time.Now()
	for i := range n {
		if err := ws.WriteJSON(map[string]any{"type": "message", "client_id": "c" + strconv.Itoa(i), "text": "spam"}); err != nil {
			t.Fatal(err)
		}
	}
	acks, limited := 0, 0
	for range n {
		switch r := roundtrip(t, ws, nil); {
		case r["type"] == "ack":
			acks++
		case r["type"] == "error" && r["code"] == "rate_limited":
			limited++
		default:
			t.Fatalf("frame %v", r)
		}
	}
	// The burst, plus what the rate refilled while the flood lasted.
	allowed := DefaultBurst + int(DefaultRate*time.Since(start).Seconds()) + 1
	if acks > allowed || acks+limited != n || cap.count() != acks {
		t.Fatalf("%d acks, %d rate limited, %d published; want at most %d accepted", acks, limited, cap.count(), allowed)
	}
}

// One address may hold at most 20 sockets (by default); the next is
// refused with 429 before the handshake. (The sockets are one returning
// visitor's, whom the new-visitor limit does not count.)
func TestSocketsPerAddress(t *testing.T) {
	_, _, addr := serve(t, Config{Secret: secret})
	origin := "http://" + addr
	token := roundtrip(t, dial(t, addr, origin), map[string]any{"type": "hello"})["token"]
	for range 19 {
		if r := roundtrip(t, dial(t, addr, origin), map[string]any{"type": "hello", "token": token}); r["type"] != "welcome" {
			t.Fatalf("hello: %v", r)
		}
	}
	_, resp, err := fws.DefaultDialer.Dial("ws://"+addr+"/chat/ws", http.Header{"Origin": {origin}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("21st socket from one address: %v %v, want 429", err, resp)
	}
}

// A frame over the size limit closes the socket (1009) and publishes
// nothing.
func TestOversizeFrame(t *testing.T) {
	_, cap, addr := serve(t, Config{Secret: secret, MaxMessageBytes: 1024})
	ws := dial(t, addr, "http://"+addr)
	roundtrip(t, ws, map[string]any{"type": "hello"})
	if err := ws.WriteJSON(map[string]any{"type": "message", "client_id": "c1", "text": strings.Repeat("x", 2048)}); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	if !fws.IsCloseError(err, fws.CloseMessageTooBig) {
		t.Fatalf("oversize frame: %v, want close 1009", err)
	}
	if cap.count() != 0 {
		t.Fatal("an oversize frame was published")
	}
}

// The limits are configurable: sockets in all (503 past it), the rate,
// and the idle timeout (a normal close; pongs do not keep a silent socket).
func TestConfiguredLimits(t *testing.T) {
	chat, cap, addr := serve(t, Config{Secret: secret, MaxSockets: 2, Rate: 1, Burst: 2, IdleTimeout: 300 * time.Millisecond})
	origin := "http://" + addr
	ws := dial(t, addr, origin)
	roundtrip(t, ws, map[string]any{"type": "hello"})
	other := dial(t, addr, origin)
	roundtrip(t, other, map[string]any{"type": "hello"})
	_, resp, err := fws.DefaultDialer.Dial("ws://"+addr+"/chat/ws", http.Header{"Origin": {origin}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third socket with MaxSockets 2: %v %v, want 503", err, resp)
	}
	for i, want := range []string{"ack", "ack", "error"} {
		if r := roundtrip(t, ws, map[string]any{"type": "message", "client_id": "c" + strconv.Itoa(i), "text": "hi"}); r["type"] != want {
			t.Fatalf("frame %d: %v, want %s", i, r, want)
		}
	}
	if cap.count() != 2 {
		t.Fatalf("%d published, want 2", cap.count())
	}
	// Silent sockets are closed after the idle timeout, and their places freed.
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := ws.ReadMessage(); !fws.IsCloseError(err, fws.CloseNormalClosure) {
		t.Fatalf("idle socket: %v, want a normal close", err)
	}
	waitFor(t, func() bool {
		chat.mu.Lock()
		defer chat.mu.Unlock()
		return chat.open == 0 && len(chat.perIP) == 0
	})
	roundtrip(t, dial(t, addr, origin), map[string]any{"type": "hello"})
}
