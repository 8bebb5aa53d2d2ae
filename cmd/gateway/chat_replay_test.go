package main

import (
	"fmt"
	"net/http"
	"strings"
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
			if h := chatFrame(t, back, nil); h["type"] != "history" || len(h["messages"].([]any)) != 2 {
				t.Fatalf("on reconnect, the history: %v", h)
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

// A returning visitor sees their conversation so far: their messages and
// the replies, the latest GATEWAY_CHAT_HISTORY of them, each reply with the
// agent's name and whether it reached them; replies pushed while they are
// online carry the name too. On both stores.
func TestChatHistoryOnReturn(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startGateway(t, dialect, map[string]string{"GATEWAY_API_TOKENS": "admin:ops-token", "GATEWAY_CHAT_HISTORY": "3"})
			reply := func(conv, text string, sent int) {
				t.Helper()
				if s, b := post(t, g, "/v1/conversations/"+conv+"/messages", []byte(`{"text":"`+text+`"}`),
					map[string]string{"Authorization": "Bearer ops-token", "X-Agent": "ann", "Content-Type": "application/json"}); s != http.StatusAccepted {
					t.Fatalf("reply: %d %s", s, b)
				}
				consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == sent })
			}
			// history connects again with the visitor's token and returns the
			// history frame and the replayed replies that follow it.
			history := func(token any, replayed int) ([]map[string]any, *fws.Conn) {
				t.Helper()
				ws := chatDial(t, g)
				chatFrame(t, ws, map[string]any{"type": "hello", "token": token})
				h := chatFrame(t, ws, nil)
				if h["type"] != "history" {
					t.Fatalf("first frame after welcome: %v", h)
				}
				var out []map[string]any
				for _, m := range h["messages"].([]any) {
					out = append(out, m.(map[string]any))
				}
				for i := 0; i < replayed; i++ {
					if m := chatFrame(t, ws, nil); m["type"] != "message" {
						t.Fatalf("replayed reply %d: %v", i, m)
					} else {
						out = append(out, m)
					}
				}
				return out, ws
			}
			check := func(got []map[string]any, want ...string) {
				t.Helper()
				var s []string
				for _, m := range got {
					s = append(s, fmt.Sprintf("%v %v %v %v %v", m["type"], m["direction"], m["text"], m["author"], m["status"]))
				}
				if strings.Join(s, " | ") != strings.Join(want, " | ") {
					t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(s, "\n  "), strings.Join(want, "\n  "))
				}
			}

			ws := chatDial(t, g)
			w := chatFrame(t, ws, map[string]any{"type": "hello"})
			for i, text := range []string{"first", "anyone there?"} {
				if ack := chatFrame(t, ws, map[string]any{"type": "message", "client_id": fmt.Sprint("c", i), "text": text}); ack["type"] != "ack" {
					t.Fatalf("ack %v", ack)
				}
			}
			ws.Close()
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 2 })
			conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)
			reply(conv, "Yes, here!", 1)

			got, back := history(w["token"], 1)
			check(got,
				"<nil> inbound first <nil> <nil>",
				"<nil> inbound anyone there? <nil> <nil>",
				"<nil> outbound Yes, here! ann sent",
				"message <nil> Yes, here! ann <nil>")
			if err := back.WriteJSON(map[string]any{"type": "received", "message_id": got[3]["message_id"]}); err != nil {
				t.Fatal(err)
			}
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.delivered") == 1 })
			back.Close()

			reply(conv, "Still there?", 2)
			got, back = history(w["token"], 1)
			defer back.Close()
			check(got,
				"<nil> inbound anyone there? <nil> <nil>",
				"<nil> outbound Yes, here! ann delivered",
				"<nil> outbound Still there? ann sent",
				"message <nil> Still there? ann <nil>")
			if got[2]["message_id"] != got[3]["message_id"] || got[1]["sent_at"] == nil {
				t.Fatalf("history %v", got)
			}
			// A reply while the visitor is online carries the agent's name too.
			reply(conv, "Live now", 3)
			if live := chatFrame(t, back, nil); live["type"] != "message" || live["text"] != "Live now" || live["author"] != "ann" {
				t.Fatalf("live reply %v", live)
			}
		})
	}
}
