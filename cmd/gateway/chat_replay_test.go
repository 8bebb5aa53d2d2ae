package main

import (
	"net/http"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"

	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

func chatDial(t *testing.T, g *Gateway) *fws.Conn {
	t.Helper()
	ws, _, err := fws.DefaultDialer.Dial("ws://"+g.Addr()+"/chat/ws", http.Header{"Origin": {"http://" + g.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func chatFrame(t *testing.T, ws *fws.Conn, out any) map[string]any {
	t.Helper()
	if out != nil {
		if err := ws.WriteJSON(out); err != nil {
			t.Fatal(err)
		}
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var in map[string]any
	if err := ws.ReadJSON(&in); err != nil {
		t.Fatal(err)
	}
	return in
}

// A visitor who left before the agent answered gets the reply when they
// come back (same browser token), and their browser's receipt makes it
// delivered. On both stores.
func TestChatReplyWaitsForTheVisitor(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startGateway(t, dialect, map[string]string{"GATEWAY_API_TOKENS": "agent:agent-token"})
			ws := chatDial(t, g)
			w := chatFrame(t, ws, map[string]any{"type": "hello"})
			if ack := chatFrame(t, ws, map[string]any{"type": "message", "client_id": "c1", "text": "anyone there?"}); ack["type"] != "ack" {
				t.Fatalf("ack %v", ack)
			}
			ws.Close() // the visitor leaves
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
			conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)
			if s, b := post(t, g, "/v1/conversations/"+conv+"/messages", []byte(`{"text":"Yes, here!"}`),
				map[string]string{"Authorization": "Bearer agent-token", "Content-Type": "application/json"}); s != http.StatusAccepted {
				t.Fatalf("reply: %d %s", s, b)
			}
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 1 })

			back := chatDial(t, g)
			defer back.Close()
			if again := chatFrame(t, back, map[string]any{"type": "hello", "token": w["token"]}); again["visitor_id"] != w["visitor_id"] {
				t.Fatalf("the returning visitor is %v", again["visitor_id"])
			}
			reply := chatFrame(t, back, nil)
			if reply["type"] != "message" || reply["text"] != "Yes, here!" {
				t.Fatalf("on reconnect: %v", reply)
			}
			if err := back.WriteJSON(map[string]any{"type": "received", "message_id": reply["message_id"]}); err != nil {
				t.Fatal(err)
			}
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.delivered") == 1 })
		})
	}
}
