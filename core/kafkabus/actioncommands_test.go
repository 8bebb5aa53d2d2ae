package kafkabus_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// failedReply queues a reply and fails it for good, as the dispatcher does
// after its last attempt; it returns the reply's id.
func (e *cmdEnv) failedReply(convID string) string {
	e.t.Helper()
	ctx := context.Background()
	m, err := e.svc.Reply(ctx, convID, core.ReplyRequest{Text: "Your refund is on its way"}, core.BotActor("sender"))
	if err != nil {
		e.t.Fatal(err)
	}
	j := core.DispatchJob{MessageID: m.ID, ConversationID: convID, Attempts: 2, Payload: []byte(`{}`)}
	if err := e.svc.DispatchQueue().MarkFailed(ctx, j, core.DeliveryError{Code: "max_attempts", Message: "3 attempts failed"}); err != nil {
		e.t.Fatal(err)
	}
	// The failure's events and its dead letter (not a CloudEvent) leave
	// the outbox table.
	for seen, deadline := false, time.Now().Add(20*time.Second); !seen; {
		if time.Now().After(deadline) {
			e.t.Fatal("message.failed was never written")
		}
		_, err := e.store.ClaimEvents(ctx, 500, func(evs []core.OutboxEvent) error {
			for _, oe := range evs {
				seen = seen || strings.Contains(string(oe.Value), `"type":"message.failed"`)
			}
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return m.ID
}

// unread is the count of the customer's messages in a conversation that an
// agent has not read.
func (e *cmdEnv) unread(agent, convID string) int {
	e.t.Helper()
	conv, err := e.svc.Conversation(context.Background(), convID)
	if err != nil {
		e.t.Fatal(err)
	}
	convs := []core.Conversation{conv}
	if err := e.svc.Agents().ShowUnread(context.Background(), agent, convs); err != nil || convs[0].Unread == nil {
		e.t.Fatalf("unread of %s: %v", agent, err)
	}
	return *convs[0].Unread
}

// The actions the API takes at PUT …/visibility, POST …/read, POST
// …/contacts/{id}/end, POST /v1/messages/{id}/retry and PUT
// /v1/customers/{id}/presets have their commands: each calls the same
// operation, as the bot, with its usual event.
func TestCommandsVisibilityReadContactRetryPresets(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newCmdEnv(t, dialect)
			conv := e.customer("+14155550101")
			c, cust := conv.ID, conv.CustomerID
			if len(conv.Contacts) == 0 {
				t.Fatalf("no contact: %+v", conv)
			}
			contact := conv.Contacts[0].ID
			failed := e.failedReply(c)
			if e.unread("ann", c) != 1 || e.unread("triage", c) != 1 {
				t.Fatalf("before the commands: ann %d unread, triage %d", e.unread("ann", c), e.unread("triage", c))
			}
			const bot = "/bots/triage"
			batch := []kafka.Message{
				cmd(1, "a1", bot, "conversation.set_visibility", c, map[string]any{"conversation_id": c, "visible_to": []string{"ann", "bob"}}),
				cmd(2, "a2", bot, "conversation.mark_read", c, map[string]any{"conversation_id": c, "agent": "ann"}),
				cmd(3, "a3", bot, "conversation.mark_read", c, map[string]any{"conversation_id": c}),
				cmd(4, "a4", bot, "contact.end", c, map[string]any{"conversation_id": c, "contact_id": contact}),
				cmd(5, "a5", bot, "message.retry", failed, map[string]any{"message_id": failed}),
				cmd(6, "a6", bot, "customer.set_presets", cust, map[string]any{"customer_id": cust, "assignees": []string{"ann"},
					"inbox": "vip", "visible_to": []string{"ann"}}),
			}
			for _, m := range batch {
				if err := normalize.ValidateEvent("commands", m.Value); err != nil {
					t.Fatalf("the test's command does not match its schema: %v", err)
				}
			}
			e.run(batch)
			var got []string
			for _, ev := range e.events(has(normalize.TypeMessageQueued)) {
				if d := dataOf(t, ev); d.Actor != "bot:triage" {
					t.Errorf("%s: actor %q, want bot:triage", ev.Type, d.Actor)
				}
				got = append(got, ev.Type)
			}
			want := []string{normalize.TypeConversationVisibilityChanged, normalize.TypeContactEnded, normalize.TypeMessageQueued}
			if !slices.Equal(got, want) {
				t.Fatalf("events\n got %v\nwant %v", got, want)
			}
			ctx := context.Background()
			after, err := e.svc.Conversation(ctx, c)
			if err != nil || !slices.Equal(after.VisibleTo, []string{"ann", "bob"}) {
				t.Fatalf("visible_to %v, %v", after.VisibleTo, err)
			}
			if a, b, tr := e.unread("ann", c), e.unread("bob", c), e.unread("triage", c); a != 0 || b != 1 || tr != 0 {
				t.Fatalf("unread: ann %d, bob %d, triage %d; want 0, 1 (bob read nothing), 0", a, b, tr)
			}
			if len(after.Contacts) == 0 || after.Contacts[0].EndedAt == nil || after.Contacts[0].EndedBy != "bot:triage" {
				t.Fatalf("contact not ended by the bot: %+v", after.Contacts)
			}
			msgs, err := e.svc.Messages(ctx, c)
			if i := slices.IndexFunc(msgs, func(m core.StoredMessage) bool { return m.ID == failed }); err != nil || i < 0 ||
				msgs[i].Status != normalize.StatusQueued {
				t.Fatalf("the retried reply is not queued again: %v", err)
			}
			p, err := e.svc.Agents().Presets(ctx, cust)
			if err != nil || !slices.Equal(p.Assignees, []string{"ann"}) || p.Inbox != "vip" || !slices.Equal(p.VisibleTo, []string{"ann"}) {
				t.Fatalf("presets %+v, %v", p, err)
			}
			if len(e.dlq.offsets) != 0 {
				t.Fatalf("dead letters %v", e.dlq.reasons)
			}
		})
	}
}

// The same commands break the same rules as the API's requests, with the
// same error codes: a missing field is invalid (400), an unknown
// conversation, contact or message not_found (404), a reply that is not
// failed conflict (409), two preset assignees without GATEWAY_MULTI_ASSIGN
// and a visibility that leaves out an assignee unprocessable (422).
func TestCommandsVisibilityReadContactRetryPresetsRefused(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newCmdEnv(t, dialect)
			conv := e.customer("+14155550101")
			c, cust := conv.ID, conv.CustomerID
			ctx := context.Background()
			if _, err := e.svc.Assign(ctx, c, "ann", "", core.BotActor("x")); err != nil {
				t.Fatal(err)
			}
			queued, err := e.svc.Reply(ctx, c, core.ReplyRequest{Text: "on it"}, core.BotActor("x"))
			if err != nil {
				t.Fatal(err)
			}
			e.events(has(normalize.TypeMessageQueued))
			const bot, unknown = "/bots/triage", "0190aaaa-0000-7000-8000-000000000000"
			e.run([]kafka.Message{
				cmd(1, "r1", bot, "conversation.set_visibility", c, map[string]any{"conversation_id": c}),
				cmd(2, "r2", bot, "conversation.set_visibility", c, map[string]any{"conversation_id": c, "visible_to": []string{""}}),
				cmd(3, "r3", bot, "conversation.set_visibility", c, map[string]any{"conversation_id": c, "visible_to": []string{"bob"}}),
				cmd(4, "r4", bot, "conversation.mark_read", unknown, map[string]any{"conversation_id": unknown, "agent": "ann"}),
				cmd(5, "r5", bot, "conversation.mark_read", c, map[string]any{"conversation_id": c, "agent": "a\u0007b"}),
				cmd(6, "r6", bot, "contact.end", c, map[string]any{"conversation_id": c, "contact_id": unknown}),
				cmd(7, "r7", bot, "contact.end", c, map[string]any{"conversation_id": c}),
				cmd(8, "r8", bot, "message.retry", queued.ID, map[string]any{"message_id": queued.ID}),
				cmd(9, "r9", bot, "message.retry", unknown, map[string]any{"message_id": unknown}),
				cmd(10, "r10", bot, "customer.set_presets", cust, map[string]any{"customer_id": cust, "assignees": []string{"ann", "bob"}}),
				cmd(11, "r11", bot, "customer.set_presets", cust, map[string]any{"customer_id": cust, "inbox": "vip\n"}),
				cmd(12, "r12", bot, "customer.set_presets", unknown, map[string]any{"customer_id": unknown}),
			})
			type failure struct{ id, code string }
			var got []failure
			for _, ev := range e.events(func(evs []normalize.Event) bool { return len(evs) >= 12 }) {
				if ev.Type != normalize.TypeCommandFailed {
					t.Fatalf("a refused command acted: %s", ev.Type)
				}
				got = append(got, failure{dataOf(t, ev).CommandID, dataOf(t, ev).Code})
			}
			want := []failure{{"r1", core.EINVALID}, {"r2", core.EINVALID}, {"r3", core.EUNPROCESSABLE},
				{"r4", core.ENOTFOUND}, {"r5", core.EINVALID}, {"r6", core.ENOTFOUND}, {"r7", core.EINVALID},
				{"r8", core.ECONFLICT}, {"r9", core.ENOTFOUND}, {"r10", core.EUNPROCESSABLE}, {"r11", core.EINVALID},
				{"r12", core.ENOTFOUND}}
			if !slices.Equal(got, want) {
				t.Fatalf("command.failed\n got %v\nwant %v", got, want)
			}
			if len(e.dlq.offsets) != 12 {
				t.Fatalf("dead letters at %v", e.dlq.offsets)
			}
			after, err := e.svc.Conversation(ctx, c)
			if err != nil || len(after.VisibleTo) != 0 || after.Contacts[0].EndedAt != nil {
				t.Fatalf("a refused command changed the conversation: %+v, %v", after, err)
			}
			if p, err := e.svc.Agents().Presets(ctx, cust); err != nil || len(p.Assignees) != 0 || p.Inbox != "" {
				t.Fatalf("a refused command changed the presets: %+v, %v", p, err)
			}
		})
	}
}

// note.add on a closed conversation is applied, as POST …/notes is: the
// note is added (note.added) and the conversation stays closed, while
// message.send to it is refused as conflict.
func TestCommandNoteOnAClosedConversation(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newCmdEnv(t, dialect)
			c := e.customer("+14155550101").ID
			ctx := context.Background()
			if _, err := e.svc.SetStatus(ctx, c, core.StatusClosed, "", core.BotActor("x")); err != nil {
				t.Fatal(err)
			}
			e.events(has(normalize.TypeConversationClosed))
			e.run([]kafka.Message{
				cmd(1, "n1", "/bots/triage", "note.add", c, map[string]any{"conversation_id": c, "text": "refund confirmed"}),
				cmd(2, "n2", "/bots/triage", "message.send", c, map[string]any{"conversation_id": c, "text": "hi"}),
			})
			var got []string
			for _, ev := range e.events(has(normalize.TypeCommandFailed)) {
				got = append(got, ev.Type+":"+dataOf(t, ev).Code)
			}
			if want := []string{"note.added:", "command.failed:conflict"}; !slices.Equal(got, want) {
				t.Fatalf("events %v, want %v", got, want)
			}
			conv, err := e.svc.Conversation(ctx, c)
			if err != nil || conv.Status != core.StatusClosed {
				t.Fatalf("after the note: status %q, %v; want closed", conv.Status, err)
			}
		})
	}
}
