package kafkabus_test

import (
	"context"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// A bot hands a conversation over with conversation.handover, as the API's
// POST …/handover does: conversation.handed_over {from, to} as the bot; a
// handler that is neither human nor bot:<name> is refused with
// command.failed invalid.
func TestCommandHandover(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newCmdEnv(t, dialect)
			c := e.customer("+14155550101").ID
			batch := []kafka.Message{
				cmd(1, "h1", "/bots/triage", "conversation.handover", c, map[string]any{"conversation_id": c, "to": "bot:triage"}),
				cmd(2, "h2", "/bots/triage", "conversation.handover", c, map[string]any{"conversation_id": c, "to": "human"}),
				cmd(3, "h3", "/bots/triage", "conversation.handover", c, map[string]any{"conversation_id": c, "to": "nobody"}),
			}
			for _, m := range batch[:2] {
				if err := normalize.ValidateEvent("commands", m.Value); err != nil {
					t.Fatalf("the test's command does not match its schema: %v", err)
				}
			}
			e.run(batch)
			var got []string
			for _, ev := range e.events(has(normalize.TypeCommandFailed)) {
				d := dataOf(t, ev)
				switch ev.Type {
				case normalize.TypeConversationHandedOver:
					if d.Actor != "bot:triage" {
						t.Errorf("actor %q", d.Actor)
					}
					got = append(got, ev.Type+":"+d.To)
				case normalize.TypeCommandFailed:
					got = append(got, ev.Type+":"+d.CommandID+":"+d.Code)
				}
			}
			want := []string{"conversation.handed_over:bot:triage", "conversation.handed_over:human", "command.failed:h3:invalid"}
			if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
				t.Fatalf("events %v, want %v", got, want)
			}
			conv, err := e.svc.Conversation(context.Background(), c)
			if err != nil || conv.Handler != core.HandlerHuman {
				t.Fatalf("handler %q %v", conv.Handler, err)
			}
		})
	}
}
