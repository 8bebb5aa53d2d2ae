package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// Whoever can write gateway.commands.v1 can name any bot: customer.merge,
// admin-only in the operator API (a bot token gets 403), is refused from
// /bots/anyname with command.failed forbidden and a dead letter, nothing
// merged, and applied from a bot in GATEWAY_COMMAND_ADMIN_BOTS.
func TestCommandsAdminOnlyOnKafka(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g := startGateway(t, dialect, map[string]string{"GATEWAY_COMMAND_ADMIN_BOTS": "ops",
				"GATEWAY_API_TOKENS": "admin:ops:admin-token,bot:triage:bot-token"})
			for i, from := range []string{"+14155550101", "+14155550102"} {
				sid := "SM0000000000000000000000000000000" + string(rune('1'+i))
				if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm(sid, from, "hello"), nil); s != http.StatusOK {
					t.Fatalf("inbound: %d %s", s, b)
				}
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "customer.created") == 2 })
			created := ofType(evs, "customer.created")
			into, from := created[0].Data["customer_id"].(string), created[1].Data["customer_id"].(string)

			api := func(method, path, token string, body string) int {
				req, _ := http.NewRequest(method, "http://"+g.Addr()+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if s := api("POST", "/v1/customers/"+into+"/merge", "bot-token", `{"from":"`+from+`"}`); s != http.StatusForbidden {
				t.Fatalf("merge with a bot token: %d, want 403", s)
			}
			merge := func(id, bot string) kafkabus.Record {
				v, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": "/bots/" + bot, "type": "customer.merge",
					"time": "2026-11-30T12:00:00Z", "datacontenttype": "application/json",
					"data": map[string]any{"customer_id": into, "from": from}})
				return kafkabus.Record{Topic: "gateway.commands.v1", Key: []byte(into), Value: v}
			}
			if err := g.producer.Produce(context.Background(), merge("merge-1", "anyname")); err != nil {
				t.Fatal(err)
			}
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "command.failed") == 1 })
			failed := ofType(evs, "command.failed")[0].Data
			if failed["command_id"] != "merge-1" || failed["code"] != "forbidden" || count(evs, "customer.merged") != 0 {
				t.Fatalf("command.failed %v; %d customer.merged", failed, count(evs, "customer.merged"))
			}
			dead := consume(t, g, "gateway.dlq.v1", func(e []topicEvent) bool { return len(e) == 1 })
			if h := dead[0].Headers; h["dlq-reason"] != "forbidden" || h["dlq-topic"] != "gateway.commands.v1" {
				t.Fatalf("dead letter %v", h)
			}
			if s := api("GET", "/v1/customers/"+from, "admin-token", ""); s != http.StatusOK {
				t.Fatalf("the customer a bot that is no admin merged: GET %d, want 200 (not merged)", s)
			}

			if err := g.producer.Produce(context.Background(), merge("merge-2", "ops")); err != nil {
				t.Fatal(err)
			}
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "customer.merged") == 1 })
			if m := ofType(evs, "customer.merged")[0].Data; m["actor"] != "bot:ops" || m["customer_id"] != into {
				t.Fatalf("customer.merged %v", m)
			}
			if s := api("GET", "/v1/customers/"+from, "admin-token", ""); s != http.StatusNotFound {
				t.Fatalf("the customer merged by the admin bot: GET %d, want 404", s)
			}
		})
	}
}
