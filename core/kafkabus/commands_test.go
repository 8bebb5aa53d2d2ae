package kafkabus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// cmdEnv is a conversation engine, its store and a command consumer's parts.
type cmdEnv struct {
	t     *testing.T
	svc   *core.Service
	store *sqlstore.Store
	dlq   *dlq
	woken int
	// admins are the bots whose commands may take admin-only actions.
	admins []string
}

func newCmdEnv(t *testing.T, dialect string) *cmdEnv {
	store := sqltest.Open(t, dialect)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	policy := core.Policy{ReopenWindow: 72 * time.Hour, AutoCloseAfter: 96 * time.Hour, Senders: map[string]core.BusinessAddress{
		normalize.ChannelSMS: {Party: normalize.Party{Kind: normalize.KindPhone, Address: "+15558675310"}, Provider: "twilio"}}}
	svc := core.NewService(store, policy, core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"}, log, core.NewMetrics(nil))
	return &cmdEnv{t: t, svc: svc, store: store, dlq: &dlq{}}
}

// run feeds the batches to a command consumer and returns once each is committed.
func (e *cmdEnv) run(todo ...[]kafka.Message) *source {
	e.t.Helper()
	src := &source{batches: todo, commits: make(chan struct{}, len(todo))}
	c := kafkabus.NewCommandConsumer(e.svc.Store(), bindOf(e.svc), src, e.dlq, "gateway.events.v1",
		slog.New(slog.NewTextHandler(io.Discard, nil)), func() { e.woken++ })
	c.SetAdminBots(e.admins)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	for range todo {
		select {
		case <-src.commits:
		case <-time.After(20 * time.Second):
			e.t.Fatal("a batch of commands was never committed")
		}
	}
	cancel()
	if err := <-errc; err != nil {
		e.t.Fatal(err)
	}
	return src
}

// events takes the events written since the last call, in order, until
// enough says it has them. On PostgreSQL another store may hold the relay's
// turn for a moment (ClaimEvents then takes nothing), so it claims again
// until enough is satisfied and no more events come, or 20 seconds pass.
func (e *cmdEnv) events(enough func([]normalize.Event) bool) []normalize.Event {
	e.t.Helper()
	var out []normalize.Event
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := e.store.ClaimEvents(context.Background(), 500, func(evs []core.OutboxEvent) error {
			for _, oe := range evs {
				if err := normalize.ValidateEvent("", oe.Value); err != nil {
					return fmt.Errorf("%s: %w", oe.Value, err)
				}
				ev, err := normalize.DecodeEvent(oe.Value)
				if err != nil {
					return err
				}
				out = append(out, ev)
			}
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 && (enough(out) || time.Now().After(deadline)) {
			return out
		}
		if n == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func typesOf(evs []normalize.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

// has returns a predicate: the events include one of type typ.
func has(typ string) func([]normalize.Event) bool {
	return func(evs []normalize.Event) bool {
		return slices.ContainsFunc(evs, func(ev normalize.Event) bool { return ev.Type == typ })
	}
}

// customer writes an SMS as a customer and returns their conversation.
func (e *cmdEnv) customer(from string) core.Conversation {
	e.t.Helper()
	m := sms(from, "hello")
	ev, err := normalize.NewEvent("/test", normalize.TypeMessageReceived, "k", time.Now(), m)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.HandleInbound(context.Background(), []core.Inbound{{Event: ev, Message: &m}}); err != nil {
		e.t.Fatal(err)
	}
	e.events(has(normalize.TypeMessageReceived))
	cust, err := e.svc.Customers().FindCustomer(context.Background(), from)
	if err != nil {
		e.t.Fatal(err)
	}
	convs, err := e.svc.ListConversations(context.Background(), core.ConversationFilter{CustomerID: cust.ID, Limit: 10})
	if err != nil || len(convs) != 1 {
		e.t.Fatalf("conversations of %s: %v %v", from, convs, err)
	}
	return convs[0]
}

// cmd is a record of gateway.commands.v1.
func cmd(offset int64, id, source, typ, key string, data any) kafka.Message {
	raw, _ := json.Marshal(data)
	v, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": id, "source": source, "type": typ,
		"time": "2026-11-30T12:00:00Z", "datacontenttype": "application/json", "data": json.RawMessage(raw)})
	return kafka.Message{Topic: "gateway.commands.v1", Offset: offset, Key: []byte(key), Value: v}
}

type eventData struct {
	Actor          string          `json:"actor"`
	Reason         string          `json:"reason"`
	ConversationID string          `json:"conversation_id"`
	CustomerID     string          `json:"customer_id"`
	To             string          `json:"to"`
	CommandID      string          `json:"command_id"`
	Code           string          `json:"code"`
	Message        json.RawMessage `json:"message"` // command.failed: the error's text
}

func dataOf(t *testing.T, ev normalize.Event) eventData {
	t.Helper()
	var d eventData
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// Every command type calls the operator action it names, as the bot its
// source names, and its result is the usual event; a redelivered batch acts
// no second time.
func TestCommandsApplyEveryTypeOnce(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newCmdEnv(t, dialect)
			e.admins = []string{"triage"} // customer.merge is admin-only
			conv := e.customer("+14155550101")
			other := e.customer("+14155550102")
			const bot = "/bots/triage"
			c := conv.ID
			batch := []kafka.Message{
				cmd(1, "c1", bot, "conversation.assign", c, map[string]any{"conversation_id": c, "agent": "ann", "inbox": "billing"}),
				cmd(2, "c2", bot, "conversation.set_topics", c, map[string]any{"conversation_id": c, "topics": []string{"refund"}}),
				cmd(3, "c3", bot, "note.add", c, map[string]any{"conversation_id": c, "text": "looked at it"}),
				cmd(4, "c4", bot, "message.send", c, map[string]any{"conversation_id": c, "text": "on it"}),
				cmd(5, "c5", bot, "conversation.unassign", c, map[string]any{"conversation_id": c}),
				cmd(6, "c6", bot, "conversation.set_status", c, map[string]any{"conversation_id": c, "status": "waiting"}),
				cmd(7, "c7", bot, "conversation.set_status", c, map[string]any{"conversation_id": c, "status": "closed", "reason": "spam"}),
				cmd(8, "c8", bot, "conversation.open", conv.CustomerID, map[string]any{"customer_id": conv.CustomerID, "channel": "sms", "text": "we are back"}),
				cmd(9, "c9", bot, "customer.merge", conv.CustomerID, map[string]any{"customer_id": conv.CustomerID, "from": other.CustomerID}),
			}
			for _, m := range batch {
				if err := normalize.ValidateEvent("commands", m.Value); err != nil {
					t.Fatalf("the test's command does not match its schema: %v", err)
				}
			}
			e.run(batch)
			var got []string
			for _, ev := range e.events(has(normalize.TypeCustomerMerged)) {
				d := dataOf(t, ev)
				if d.Actor != "bot:triage" {
					t.Errorf("%s: actor %q, want bot:triage", ev.Type, d.Actor)
				}
				got = append(got, ev.Type+":"+d.Reason)
			}
			want := []string{
				"conversation.assigned:assigned", "conversation.status_changed:assigned",
				"conversation.topics_changed:", "note.added:", "message.queued:",
				"conversation.assigned:unassigned", "conversation.status_changed:unassigned",
				"conversation.status_changed:no_reply_needed",
				"conversation.status_changed:spam", "conversation.closed:spam",
				// The proactive first message starts the new conversation's first contact.
				"conversation.created:proactive", "message.queued:", "contact.started:",
				"conversation.status_changed:merged", "conversation.closed:merged", "customer.merged:",
			}
			if !slices.Equal(got, want) {
				t.Fatalf("events\n got %v\nwant %v", got, want)
			}
			msgs, err := e.svc.Messages(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			authors := 0
			for _, m := range msgs {
				if m.Author == "bot:triage" {
					authors++
				}
			}
			if authors != 2 {
				t.Fatalf("%d messages by bot:triage in the closed conversation, want the note and the reply", authors)
			}

			// The same commands again, then a new one: every known id is
			// skipped, only the new command acts.
			again := append(slices.Clone(batch), cmd(10, "c10", bot, "note.add", c, map[string]any{"conversation_id": c, "text": "done"}))
			src := e.run(again)
			if evs := e.events(has(normalize.TypeNoteAdded)); len(evs) != 1 || evs[0].Type != normalize.TypeNoteAdded {
				t.Fatalf("redelivered commands acted again: events %v", typesOf(evs))
			}
			if len(e.dlq.offsets) != 0 {
				t.Fatalf("dead letters %v", e.dlq.reasons)
			}
			if len(src.committed) != len(again) {
				t.Fatalf("committed %v", src.committed)
			}
		})
	}
}

// A refused command emits command.failed with the API's error code and is
// dead-lettered with the code as reason; its redelivery emits nothing more.
func TestCommandsRefused(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newCmdEnv(t, dialect)
			conv := e.customer("+14155550101")
			c := conv.ID
			if _, err := e.svc.SetStatus(context.Background(), c, core.StatusClosed, "", core.BotActor("x")); err != nil {
				t.Fatal(err)
			}
			e.events(has(normalize.TypeConversationClosed))
			batch := []kafka.Message{
				cmd(1, "r1", "/bots/triage", "conversation.assign", c, map[string]any{"conversation_id": c, "agent": "ann"}),
				cmd(2, "r2", "/bots/triage", "note.add", "nope", map[string]any{"conversation_id": "0190aaaa-0000-7000-8000-000000000000", "text": "x"}),
				cmd(3, "r3", "/bots/", "note.add", c, map[string]any{"conversation_id": c, "text": "x"}),
				cmd(4, "r4", "/bots/triage", "conversation.archive", c, map[string]any{"conversation_id": c}),
				cmd(5, "r5", "/bots/triage", "conversation.set_status", c, map[string]any{"conversation_id": c, "status": "solved"}),
				cmd(6, "r6", "/bots/triage", "note.add", c, map[string]any{"conversation_id": c, "text": "x", "extra": 1}),
				cmd(7, "r7", "/bots/triage", "message.send", c, map[string]any{"conversation_id": c, "text": "hi"}),
				{Topic: "gateway.commands.v1", Offset: 8, Value: []byte("{not json")},
			}
			e.run(batch)
			type failure struct{ id, code string }
			var got []failure
			sevenFailed := func(evs []normalize.Event) bool { return len(evs) >= 7 }
			for _, ev := range e.events(sevenFailed) {
				if ev.Type != normalize.TypeCommandFailed {
					t.Fatalf("a refused command acted: %s", ev.Type)
				}
				d := dataOf(t, ev)
				var text string
				if err := json.Unmarshal(d.Message, &text); err != nil || text == "" {
					t.Errorf("%s: no message", d.CommandID)
				}
				got = append(got, failure{d.CommandID, d.Code})
			}
			want := []failure{{"r1", core.ECONFLICT}, {"r2", core.ENOTFOUND}, {"r3", core.EINVALID}, {"r4", core.EINVALID},
				{"r5", core.EINVALID}, {"r6", core.EINVALID}, {"r7", core.ECONFLICT}}
			if !slices.Equal(got, want) {
				t.Fatalf("command.failed\n got %v\nwant %v", got, want)
			}
			if fmt.Sprint(e.dlq.offsets) != "[1 2 3 4 5 6 7 8]" {
				t.Fatalf("dead letters at %v", e.dlq.offsets)
			}
			for i, reason := range []string{"conflict", "not_found", "invalid", "invalid", "invalid", "invalid", "conflict", "undecodable"} {
				if !strings.HasPrefix(e.dlq.reasons[i], reason+": ") {
					t.Errorf("dead letter %d: reason %q, want %s", i, e.dlq.reasons[i], reason)
				}
			}
			if e.woken == 0 {
				t.Error("the relay was not woken for command.failed")
			}
			if got, _ := e.svc.Conversation(context.Background(), c); got.Status != core.StatusClosed || len(got.Assignees) != 0 {
				t.Fatalf("the conversation changed: %+v", got)
			}
			// Redelivered, the refused commands emit no second command.failed;
			// a new refused command does.
			e.run(append(slices.Clone(batch), cmd(9, "r9", "/bots/triage", "note.add", c, map[string]any{"conversation_id": c})))
			evs := e.events(has(normalize.TypeCommandFailed))
			if len(evs) != 1 || dataOf(t, evs[0]).CommandID != "r9" {
				t.Fatalf("redelivered refusals emitted events again: %v", typesOf(evs))
			}
		})
	}
}

// A transient database failure is retried: the command acts once.
func TestCommandsRetryTransient(t *testing.T) {
	e := newCmdEnv(t, sqltest.Dialects[0])
	conv := e.customer("+14155550101")
	flakyStore := &flaky{Store: e.store, n: 2}
	e.svc = core.NewService(flakyStore, core.Policy{}, core.EventTopics{Events: "gateway.events.v1"},
		slog.New(slog.NewTextHandler(io.Discard, nil)), core.NewMetrics(nil))
	e.run([]kafka.Message{cmd(1, "t1", "/bots/triage", "note.add", conv.ID, map[string]any{"conversation_id": conv.ID, "text": "x"})})
	evs := e.events(has(normalize.TypeNoteAdded))
	if len(evs) != 1 || evs[0].Type != normalize.TypeNoteAdded {
		t.Fatalf("events %v", typesOf(evs))
	}
	if flakyStore.n >= 0 {
		t.Fatalf("the transient failures were not retried (%d left)", flakyStore.n)
	}
}

// The ids of handled commands are kept for GATEWAY_COMMAND_IDS_KEEP: a
// sweep keeps the recent ones (a redelivery still does nothing) and
// deletes those older than the keep (after which the id would act again).
func TestCommandIDsSweep(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newCmdEnv(t, dialect)
			c := e.customer("+14155550101").ID
			note := cmd(1, "s1", "/bots/triage", "note.add", c, map[string]any{"conversation_id": c, "text": "x"})
			e.run([]kafka.Message{note})
			e.events(has(normalize.TypeNoteAdded))
			ctx := context.Background()
			if n, err := e.store.SweepCommands(ctx, 24*time.Hour); err != nil || n != 0 {
				t.Fatalf("sweep of a day: %d, %v; want nothing swept", n, err)
			}
			e.run([]kafka.Message{note}) // returns once committed: its events are written
			if evs := e.events(func([]normalize.Event) bool { return true }); len(evs) != 0 {
				t.Fatalf("redelivered after a sweep that kept it: %v", typesOf(evs))
			}
			if n, err := e.store.SweepCommands(ctx, 0); err != nil || n != 1 {
				t.Fatalf("sweep of everything: %d, %v; want 1", n, err)
			}
			e.run([]kafka.Message{note})
			if evs := e.events(has(normalize.TypeNoteAdded)); !has(normalize.TypeNoteAdded)(evs) {
				t.Fatalf("a command whose id was swept did not act: %v", typesOf(evs))
			}
		})
	}
}

// An admin-only action (customer.merge, conversation.delete,
// customer.erase) from a bot not in GATEWAY_COMMAND_ADMIN_BOTS is refused
// as forbidden, before its data is looked at: command.failed, a dead
// letter, and nothing merged, deleted or erased. The same actions from a
// listed bot are applied.
func TestCommandsAdminOnly(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newCmdEnv(t, dialect)
			e.admins = []string{"ops", "audit"}
			a, b := e.customer("+14155550101"), e.customer("+14155550102")
			merge := map[string]any{"customer_id": a.CustomerID, "from": b.CustomerID}
			e.run([]kafka.Message{
				cmd(1, "m1", "/bots/anyname", "customer.merge", a.CustomerID, merge),
				cmd(2, "m2", "/bots/anyname", "customer.merge", a.CustomerID, map[string]any{"bad": true}),
				cmd(3, "m3", "/bots/anyname", "conversation.delete", a.ID, map[string]any{"conversation_id": a.ID}),
				cmd(4, "m4", "/bots/anyname", "customer.erase", b.CustomerID, map[string]any{"customer_id": b.CustomerID}),
			})
			type failure struct{ id, code string }
			var got []failure
			for _, ev := range e.events(func(evs []normalize.Event) bool { return len(evs) >= 4 }) {
				if ev.Type != normalize.TypeCommandFailed {
					t.Fatalf("a refused command acted: %s", ev.Type)
				}
				got = append(got, failure{dataOf(t, ev).CommandID, dataOf(t, ev).Code})
			}
			want := []failure{{"m1", core.EFORBIDDEN}, {"m2", core.EFORBIDDEN}, {"m3", core.EFORBIDDEN}, {"m4", core.EFORBIDDEN}}
			if !slices.Equal(got, want) {
				t.Fatalf("command.failed\n got %v\nwant %v", got, want)
			}
			if fmt.Sprint(e.dlq.offsets) != "[1 2 3 4]" || !strings.HasPrefix(e.dlq.reasons[0], "forbidden: ") {
				t.Fatalf("dead letters at %v: %v", e.dlq.offsets, e.dlq.reasons)
			}
			ctx := context.Background()
			if _, err := e.svc.Customers().Customer(ctx, b.CustomerID); err != nil {
				t.Fatalf("the customer merged by a bot that is no admin is gone: %v", err)
			}
			if conv, err := e.svc.Conversation(ctx, b.ID); err != nil || conv.Status == core.StatusClosed {
				t.Fatalf("the merged customer's conversation: %+v, %v", conv, err)
			}

			e.run([]kafka.Message{cmd(5, "m5", "/bots/audit", "customer.merge", a.CustomerID, merge)})
			evs := e.events(has(normalize.TypeCustomerMerged))
			merged := slices.IndexFunc(evs, func(ev normalize.Event) bool { return ev.Type == normalize.TypeCustomerMerged })
			if merged < 0 || dataOf(t, evs[merged]).Actor != "bot:audit" {
				t.Fatalf("merge from an admin bot: events %v", typesOf(evs))
			}
			if _, err := e.svc.Customers().Customer(ctx, b.CustomerID); core.ErrorCode(err) != core.ENOTFOUND {
				t.Fatalf("after the admin bot's merge the merged customer is still there: %v", err)
			}

			e.run([]kafka.Message{cmd(6, "m6", "/bots/ops", "conversation.delete", a.ID, map[string]any{"conversation_id": a.ID})})
			evs = e.events(has(normalize.TypeConversationDeleted))
			if i := slices.IndexFunc(evs, func(ev normalize.Event) bool { return ev.Type == normalize.TypeConversationDeleted }); i < 0 || dataOf(t, evs[i]).Actor != "bot:ops" {
				t.Fatalf("delete from an admin bot: events %v", typesOf(evs))
			}
			if _, err := e.svc.Conversation(ctx, a.ID); core.ErrorCode(err) != core.ENOTFOUND {
				t.Fatalf("after the admin bot's delete the conversation is still there: %v", err)
			}
			e.run([]kafka.Message{cmd(7, "m7", "/bots/ops", "customer.erase", a.CustomerID, map[string]any{"customer_id": a.CustomerID})})
			e.events(has(normalize.TypeCustomerErased))
			if _, err := e.svc.Customers().Customer(ctx, a.CustomerID); core.ErrorCode(err) != core.ENOTFOUND {
				t.Fatalf("after the admin bot's erasure the customer is still there: %v", err)
			}
		})
	}
}

// bindOf is the wiring cmd/gateway does: the engine's roles on a store.
func bindOf(svc *core.Service) kafkabus.Bind {
	return func(st core.Store) kafkabus.Core {
		s := svc.WithStore(st)
		return kafkabus.Core{Conversations: s, Customers: s.Customers(), Agents: s.Agents(), Replies: s.DispatchQueue()}
	}
}
