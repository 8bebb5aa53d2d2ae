package webchat

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

var secret = []byte("chat-secret")

type captured struct {
	mu   sync.Mutex
	evs  []webhook.Event
	fail bool
}

func (c *captured) publish(_ context.Context, evs []webhook.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail {
		return errors.New("kafka down")
	}
	c.evs = append(c.evs, evs...)
	return nil
}

func (c *captured) messages(t *testing.T) []normalize.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []normalize.Message
	for _, e := range c.evs {
		if e.Event.Type == normalize.TypeMessageReceived {
			m, err := e.Event.DecodeMessage()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}

func serve(t testing.TB, cfg Config) (*Chat, *captured, string) {
	cap := &captured{}
	chat := New(cfg, cap.publish, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	chat.Mount(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	return chat, cap, ln.Addr().String()
}

func dial(t testing.TB, addr, origin string) *fws.Conn {
	t.Helper()
	ws, resp, err := fws.DefaultDialer.Dial("ws://"+addr+"/chat/ws", http.Header{"Origin": {origin}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (%d)", err, status)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func roundtrip(t testing.TB, ws *fws.Conn, out any) map[string]any {
	t.Helper()
	if out != nil {
		if err := ws.WriteJSON(out); err != nil {
			t.Fatal(err)
		}
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var in map[string]any
	if err := ws.ReadJSON(&in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestVisitorKeepsIdentity(t *testing.T) {
	_, cap, addr := serve(t, Config{Secret: secret})
	origin := "http://" + addr
	ws := dial(t, addr, origin)
	w := roundtrip(t, ws, map[string]any{"type": "hello"})
	visitor, token := w["visitor_id"].(string), w["token"].(string)
	if w["type"] != "welcome" || visitor == "" || token == "" {
		t.Fatalf("welcome %v", w)
	}
	ack := roundtrip(t, ws, map[string]any{"type": "message", "client_id": "c1", "text": "Hello!"})
	if ack["type"] != "ack" || ack["client_id"] != "c1" {
		t.Fatalf("ack %v", ack)
	}
	msgs := cap.messages(t)
	if len(msgs) != 1 || msgs[0].Text != "Hello!" || msgs[0].From != (normalize.Party{Kind: "chat", Address: visitor}) ||
		msgs[0].ProviderMessageID != visitor+":c1" || msgs[0].MessageID != ack["message_id"] || cap.evs[0].Key != "chat:"+visitor {
		t.Fatalf("published %+v key %q", msgs, cap.evs[0].Key)
	}
	// A returning browser keeps its visitor; a forged token gets a new one.
	again := roundtrip(t, dial(t, addr, origin), map[string]any{"type": "hello", "token": token})
	if again["visitor_id"] != visitor {
		t.Fatalf("returning visitor became %v", again["visitor_id"])
	}
	forged := roundtrip(t, dial(t, addr, origin), map[string]any{"type": "hello", "token": token[:len(token)-2] + "AA"})
	if forged["visitor_id"] == visitor || forged["type"] != "welcome" {
		t.Fatalf("forged token: %v", forged)
	}
}

func TestSiteIdentity(t *testing.T) {
	_, cap, addr := serve(t, Config{Secret: secret})
	ws := dial(t, addr, "http://"+addr)
	roundtrip(t, ws, map[string]any{"type": "hello", "identity": map[string]string{"email": "Ann@Example.com", "signature": IdentitySignature(secret, "email", "Ann@Example.com")}})
	roundtrip(t, ws, map[string]any{"type": "message", "client_id": "c1", "text": "hi"})
	ws2 := dial(t, addr, "http://"+addr)
	roundtrip(t, ws2, map[string]any{"type": "hello", "identity": map[string]string{"email": "ceo@example.com", "signature": IdentitySignature([]byte("guess"), "email", "ceo@example.com")}})
	roundtrip(t, ws2, map[string]any{"type": "message", "client_id": "c1", "text": "hi"})
	msgs := cap.messages(t)
	if msgs[0].From != (normalize.Party{Kind: "email", Address: "ann@example.com"}) {
		t.Fatalf("identified visitor from %+v", msgs[0].From)
	}
	if msgs[1].From.Kind != "chat" {
		t.Fatalf("a bad signature identified the visitor as %+v", msgs[1].From)
	}
}

func TestNoAckWithoutKafka(t *testing.T) {
	_, cap, addr := serve(t, Config{Secret: secret})
	ws := dial(t, addr, "http://"+addr)
	roundtrip(t, ws, map[string]any{"type": "hello"})
	cap.fail = true
	got := roundtrip(t, ws, map[string]any{"type": "message", "client_id": "c9", "text": "hi"})
	if got["type"] != "error" || got["code"] != "unavailable" || got["client_id"] != "c9" {
		t.Fatalf("with Kafka down: %v", got)
	}
	if got := roundtrip(t, ws, map[string]any{"type": "message", "client_id": "", "text": "hi"}); got["code"] != "invalid" {
		t.Fatalf("a message without client id: %v", got)
	}
}

func TestOriginAllowList(t *testing.T) {
	_, _, addr := serve(t, Config{Secret: secret, AllowedOrigins: []string{"https://shop.example"}})
	dial(t, addr, "https://shop.example")
	_, resp, err := fws.DefaultDialer.Dial("ws://"+addr+"/chat/ws", http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v", err, resp)
	}
}

func TestDeliverToEveryTabAndReplay(t *testing.T) {
	chat, cap, addr := serve(t, Config{Secret: secret})
	origin := "http://" + addr
	chat.OnConnect(func(_ context.Context, address string) Returning {
		return Returning{Pending: []OutboundMessage{{MessageID: "m-offline", Text: "sent while you were away"}}}
	})
	tab1 := dial(t, addr, origin)
	w := roundtrip(t, tab1, map[string]any{"type": "hello"})
	if r := roundtrip(t, tab1, nil); r["message_id"] != "m-offline" {
		t.Fatalf("replay %v", r)
	}
	tab2 := dial(t, addr, origin)
	roundtrip(t, tab2, map[string]any{"type": "hello", "token": w["token"]})
	roundtrip(t, tab2, nil) // its replay
	if !chat.Deliver(w["visitor_id"].(string), OutboundMessage{MessageID: "m1", Text: "an agent answers"}) {
		t.Fatal("Deliver found no socket")
	}
	for _, tab := range []*fws.Conn{tab1, tab2} {
		if r := roundtrip(t, tab, nil); r["type"] != "message" || r["text"] != "an agent answers" {
			t.Fatalf("tab got %v", r)
		}
	}
	// The browser's receipt becomes a delivered status.
	if err := tab1.WriteJSON(map[string]any{"type": "received", "message_id": "m1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		cap.mu.Lock()
		n := len(cap.evs)
		cap.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := cap.evs[0].Event.DecodeStatus()
	if err != nil || st.Status != "delivered" || st.MessageID != "m1" {
		t.Fatalf("receipt %+v %v", st, err)
	}
	if chat.Deliver("nobody", OutboundMessage{MessageID: "x"}) {
		t.Fatal("delivered to nobody")
	}
}

func FuzzFrame(f *testing.F) {
	for _, s := range []string{`{"type":"hello","token":"a.b"}`, `{"type":"message","client_id":"c","text":"hi"}`, `{"type":"received","message_id":"m"}`, `[]`, `{"type":5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err == nil && fr.Type == "message" && (fr.ClientID == "" || strings.TrimSpace(fr.Text) == "") {
			t.Fatalf("accepted %q", b)
		}
	})
}
