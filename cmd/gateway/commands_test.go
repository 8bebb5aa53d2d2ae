package main

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// A bot closes a conversation through gateway.commands.v1: the gateway
// emits conversation.closed as bot:triage on events.v1, applies a
// redelivered command once, and answers a refused command with
// command.failed and a dead letter.
func TestCommandsOnKafka(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startGateway(t, dialect, nil)
			in := smsForm("SM00000000000000000000000000000001", "+14155550101", "Please cancel my order")
			if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", in, nil); s != http.StatusOK {
				t.Fatalf("inbound: %d %s", s, b)
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
			conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)

			command := func(id, typ string, data map[string]any) kafkabus.Record {
				data["conversation_id"] = conv
				v, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": "/bots/triage", "type": typ,
					"time": "2026-11-30T12:00:00Z", "datacontenttype": "application/json", "data": data})
				return kafkabus.Record{Topic: "gateway.commands.v1", Key: []byte(conv), Value: v}
			}
			recs := []kafkabus.Record{
				command("cmd-1", "note.add", map[string]any{"text": "Order cancelled by the triage bot"}),
				command("cmd-1", "note.add", map[string]any{"text": "Order cancelled by the triage bot"}), // a redelivery
				command("cmd-2", "conversation.set_status", map[string]any{"status": "closed", "reason": "cancelled"}),
				command("cmd-3", "conversation.set_status", map[string]any{"status": "waiting"}), // closed: refused
			}
			if err := g.producer.Produce(context.Background(), recs...); err != nil {
				t.Fatal(err)
			}
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool {
				return count(e, "conversation.closed") == 1 && count(e, "command.failed") == 1
			})
			closed := ofType(evs, "conversation.closed")[0].Data
			if closed["actor"] != "bot:triage" || closed["reason"] != "cancelled" || closed["conversation_id"] != conv {
				t.Fatalf("conversation.closed %v", closed)
			}
			if n := count(evs, "note.added"); n != 1 {
				t.Fatalf("%d note.added: the redelivered command acted again", n)
			}
			failed := ofType(evs, "command.failed")[0].Data
			if failed["command_id"] != "cmd-3" || failed["code"] != "conflict" {
				t.Fatalf("command.failed %v", failed)
			}
			dead := consume(t, g, "gateway.dlq.v1", func(e []topicEvent) bool { return len(e) == 1 })
			if h := dead[0].Headers; h["dlq-reason"] != "conflict" || h["dlq-topic"] != "gateway.commands.v1" || dead[0].Key != conv {
				t.Fatalf("dead letter %v key %s", h, dead[0].Key)
			}
		})
	}
}

// A bot hides a conversation with conversation.set_visibility through the
// embedded broker, as PUT /v1/conversations/{id}/visibility would: the
// gateway emits conversation.visibility_changed as bot:triage, and an
// agent the conversation is not visible to gets 404 on it from the API.
func TestVisibilityCommandOnKafka(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startGateway(t, dialect, map[string]string{"GATEWAY_API_TOKENS": "agent:agent-token"})
			in := smsForm("SM00000000000000000000000000000002", "+14155550101", "Private matter")
			if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", in, nil); s != http.StatusOK {
				t.Fatalf("inbound: %d %s", s, b)
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
			conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)
			if s, b := apiCall(t, g, http.MethodGet, "/v1/conversations/"+conv, ""); s != http.StatusOK {
				t.Fatalf("before the command: %d %s", s, b)
			}
			v, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "vis-1", "source": "/bots/triage",
				"type": "conversation.set_visibility", "time": "2026-11-30T12:00:00Z", "datacontenttype": "application/json",
				"data": map[string]any{"conversation_id": conv, "visible_to": []string{"ann"}}})
			rec := kafkabus.Record{Topic: "gateway.commands.v1", Key: []byte(conv), Value: v}
			if err := g.producer.Produce(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "conversation.visibility_changed") == 1 })
			changed := ofType(evs, "conversation.visibility_changed")[0].Data
			if changed["actor"] != "bot:triage" || changed["conversation_id"] != conv {
				t.Fatalf("conversation.visibility_changed %v", changed)
			}
			if s, b := apiCall(t, g, http.MethodGet, "/v1/conversations/"+conv, ""); s != http.StatusNotFound {
				t.Fatalf("an agent it is not visible to: %d %s, want 404", s, b)
			}
		})
	}
}
