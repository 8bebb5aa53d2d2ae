package core_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var ctx = context.Background()

func (e *env) only(typ string, evs []published) published {
	e.t.Helper()
	var found []published
	for _, ev := range evs {
		if ev.Type == typ {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		e.t.Fatalf("%d %s events in %v, want 1", len(found), typ, types(evs))
	}
	return found[0]
}

func (e *env) conversationOf(from string) core.Conversation {
	e.t.Helper()
	cust, err := e.svc.Customers().FindCustomer(ctx, from)
	if err != nil {
		e.t.Fatal(err)
	}
	convs, err := e.svc.ListConversations(ctx, core.ConversationFilter{CustomerID: cust.ID, Limit: 10})
	if err != nil || len(convs) == 0 {
		e.t.Fatalf("conversations of %s: %v %v", from, convs, err)
	}
	return convs[0] // newest activity first
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// Seed (Gladly): "It can be reopened if a Customer responds to a closed
// conversation within a specified time window", with the same agent.
func TestClosedConversationReopensWithinWindow(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{ReopenWindow: 72 * time.Hour})
		e.receive(sms("+14155550101", "help"))
		conv := e.conversationOf("+14155550101")
		must[core.Conversation](t)(e.svc.Assign(ctx, conv.ID, "ann", "support", core.AgentActor("ann")))
		must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusClosed, "", core.AgentActor("ann")))
		e.events()
		e.clock.Advance(71 * time.Hour)
		if res := e.receive(sms("+14155550101", "one more thing")); res[0] != core.ResultReopened {
			t.Fatalf("result %v, want reopened", res)
		}
		evs := e.events()
		re := e.only("conversation.reopened", evs)
		if re.Data.ConversationID != conv.ID || re.Data.From != "closed" || re.Data.To != "open" || re.Data.Actor != "customer" {
			t.Fatalf("reopened event %+v", re.Data)
		}
		got := must[core.Conversation](t)(e.svc.Conversation(ctx, conv.ID))
		if got.Status != core.StatusOpen || got.Assignee != "ann" {
			t.Fatalf("reopened conversation is %s assigned to %q, want open with ann", got.Status, got.Assignee)
		}
	})
}

// After the window, a customer's message starts a new conversation; the
// old one can then not be reopened by an operator (one active at a time).
func TestAfterWindowANewConversationStarts(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{ReopenWindow: 72 * time.Hour})
		e.receive(sms("+14155550101", "help"))
		old := e.conversationOf("+14155550101")
		must[core.Conversation](t)(e.svc.SetStatus(ctx, old.ID, core.StatusClosed, "", core.AdminActor("ops")))
		e.clock.Advance(73 * time.Hour)
		if res := e.receive(sms("+14155550101", "new question")); res[0] != core.ResultCreated {
			t.Fatalf("result %v, want created", res)
		}
		fresh := e.conversationOf("+14155550101")
		if fresh.ID == old.ID || fresh.Status != core.StatusNew {
			t.Fatalf("new conversation %+v", fresh)
		}
		_, err := e.svc.SetStatus(ctx, old.ID, core.StatusOpen, "", core.AgentActor("ann"))
		if core.ErrorCode(err) != core.ECONFLICT {
			t.Fatalf("reopening while another is active: %v, want conflict", err)
		}
	})
}

// Seed (Zendesk): the three conversational styles are each a configuration
// of the per-channel reopen window.
func TestConversationalStyles(t *testing.T) {
	policy := core.Policy{ReopenWindow: 72 * time.Hour, ReopenWindowByChannel: map[string]time.Duration{
		normalize.ChannelChat:      0,                   // live chat: a returning customer gets a new conversation
		normalize.ChannelSMS:       4 * time.Hour,       // live chat with a returning customer
		normalize.ChannelMessenger: 28 * 24 * time.Hour, // social messaging
	}}
	cases := []struct {
		style   string
		channel string
		after   time.Duration
		want    string
	}{
		{"live chat, back a minute later", normalize.ChannelChat, time.Minute, core.ResultCreated},
		{"returning customer within hours", normalize.ChannelSMS, 3 * time.Hour, core.ResultReopened},
		{"returning customer too late", normalize.ChannelSMS, 5 * time.Hour, core.ResultCreated},
		{"social messaging after 27 days", normalize.ChannelMessenger, 27 * 24 * time.Hour, core.ResultReopened},
		{"social messaging after 29 days", normalize.ChannelMessenger, 29 * 24 * time.Hour, core.ResultCreated},
	}
	forEachStore(t, func(t *testing.T, dialect string) {
		for i, c := range cases {
			t.Run(c.style, func(t *testing.T) {
				e := newEnv(t, dialect, policy)
				addr := "+1415555020" + string(rune('0'+i))
				kind := normalize.KindOf(c.channel)
				if kind != normalize.KindPhone {
					addr = "id-" + addr
				}
				first := sms(addr, "hi")
				first.Channel, first.From.Kind = c.channel, kind
				e.receive(first)
				conv := e.conversationOf(addr)
				must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusClosed, "", core.AdminActor("ops")))
				e.clock.Advance(c.after)
				again := sms(addr, "back again")
				again.Channel, again.From.Kind = c.channel, kind
				if res := e.receive(again); res[0] != c.want {
					t.Fatalf("result %v, want %s", res, c.want)
				}
			})
		}
	})
}

// Seed (Gladly): waiting = no reply needed; a customer's message brings the
// conversation back (open if assigned, new if not).
func TestWaitingWakesOnInbound(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "thanks!"))
		conv := e.conversationOf("+14155550101")
		must[core.Conversation](t)(e.svc.Assign(ctx, conv.ID, "ann", "support", core.AgentActor("lead")))
		must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusWaiting, "", core.AgentActor("ann")))
		e.events()
		e.receive(whatsapp("+14155550101", "actually, one more"))
		ch := e.only("conversation.status_changed", e.events())
		if ch.Data.From != "waiting" || ch.Data.To != "open" || ch.Data.Reason != "customer_message" || ch.Data.Actor != "customer" {
			t.Fatalf("status_changed %+v", ch.Data)
		}
	})
}

func TestAutoCloseWaiting(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{AutoCloseAfter: 96 * time.Hour})
		e.receive(sms("+14155550101", "ok"))
		conv := e.conversationOf("+14155550101")
		must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusWaiting, "", core.AgentActor("ann")))
		e.events()
		e.clock.Advance(95 * time.Hour)
		if n := must[int](t)(e.svc.AutoClose(ctx)); n != 0 {
			t.Fatalf("closed %d before the time", n)
		}
		e.clock.Advance(2 * time.Hour)
		if n := must[int](t)(e.svc.AutoClose(ctx)); n != 1 {
			t.Fatalf("closed %d, want 1", n)
		}
		closed := e.only("conversation.closed", e.events())
		if closed.Data.Reason != "auto_close" || closed.Data.Actor != "system:auto_close" || closed.Data.From != "waiting" {
			t.Fatalf("closed event %+v", closed.Data)
		}
		if got := must[core.Conversation](t)(e.svc.Conversation(ctx, conv.ID)); got.Status != core.StatusClosed || got.ResolutionSeconds == nil {
			t.Fatalf("after auto close: %+v", got)
		}
	})
}

// Every transition is an event with from, to, reason and actor.
func TestAssignmentTransitions(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "hi"))
		conv := e.conversationOf("+14155550101")
		e.events()
		c := must[core.Conversation](t)(e.svc.Assign(ctx, conv.ID, "ann", "billing", core.AgentActor("lead")))
		if c.Status != core.StatusOpen || c.Assignee != "ann" || c.Inbox != "billing" {
			t.Fatalf("assigned: %+v", c)
		}
		evs := e.events()
		as := e.only("conversation.assigned", evs)
		ch := e.only("conversation.status_changed", evs)
		if as.Data.Assignee != "ann" || as.Data.Inbox != "billing" || as.Data.Actor != "agent:lead" ||
			ch.Data.From != "new" || ch.Data.To != "open" || ch.Data.Reason != "assigned" {
			t.Fatalf("events %+v %+v", as.Data, ch.Data)
		}
		c = must[core.Conversation](t)(e.svc.Unassign(ctx, conv.ID, core.AgentActor("ann")))
		if c.Status != core.StatusNew || c.Assignee != "" {
			t.Fatalf("unassigned: %+v", c)
		}
		must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusClosed, "", core.AdminActor("ops")))
		if _, err := e.svc.Assign(ctx, conv.ID, "bob", "", core.AgentActor("lead")); core.ErrorCode(err) != core.ECONFLICT {
			t.Fatalf("assigning a closed conversation: %v, want conflict", err)
		}
		if _, err := e.svc.SetStatus(ctx, conv.ID, "snoozed", "", core.AgentActor("ann")); core.ErrorCode(err) != core.EINVALID {
			t.Fatalf("unknown status: %v", err)
		}
		if _, err := e.svc.Assign(ctx, "nope", "bob", "", core.AgentActor("lead")); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("unknown conversation: %v", err)
		}
	})
}

// Seed (respond.io): "Contact Merge: if there is an open conversation from
// the secondary contact, the conversation will be closed automatically";
// its history joins the survivor's timeline.
func TestMergeClosesSecondaryConversation(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "by phone"))
		mail := sms("ann@example.com", "by email")
		mail.Channel, mail.From.Kind = normalize.ChannelEmail, normalize.KindEmail
		e.receive(mail)
		survivor := must[core.Customer](t)(e.svc.Customers().FindCustomer(ctx, "+1 (415) 555-0101"))
		other := must[core.Customer](t)(e.svc.Customers().FindCustomer(ctx, "Ann@Example.com"))
		otherConv := e.conversationOf("ann@example.com")
		e.events()

		merged := must[core.Customer](t)(e.svc.Customers().Merge(ctx, survivor.ID, other.ID, "admin:root"))
		if len(merged.Identities) != 2 {
			t.Fatalf("survivor identities %v", merged.Identities)
		}
		evs := e.events()
		closed := e.only("conversation.closed", evs)
		if closed.Data.ConversationID != otherConv.ID || closed.Data.Reason != "merged" {
			t.Fatalf("closed %+v", closed.Data)
		}
		m := e.only("customer.merged", evs)
		if m.Data.CustomerID != survivor.ID || m.Data.MergedFrom != other.ID {
			t.Fatalf("merged %+v", m.Data)
		}
		if c := must[core.Customer](t)(e.svc.Customers().FindCustomer(ctx, "ann@example.com")); c.ID != survivor.ID {
			t.Fatalf("email now belongs to %s, want %s", c.ID, survivor.ID)
		}
		if _, err := e.svc.Customers().Customer(ctx, other.ID); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("merged customer still found: %v", err)
		}
		tl := must[core.Timeline](t)(e.svc.Customers().Timeline(ctx, survivor.ID, nil, 0))
		if len(tl.Conversations) != 2 {
			t.Fatalf("timeline has %d conversations, want both", len(tl.Conversations))
		}
		// The next email joins the survivor's active conversation.
		again := sms("ann@example.com", "me again")
		again.Channel, again.From.Kind = normalize.ChannelEmail, normalize.KindEmail
		e.receive(again)
		rec := e.only("message.received", e.events())
		if rec.Data.CustomerID != survivor.ID || rec.Data.ConversationID == otherConv.ID {
			t.Fatalf("email after merge went to %+v", rec.Data)
		}
	})
}

func TestEraseCustomer(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "my secret address is ..."))
		cust := must[core.Customer](t)(e.svc.Customers().FindCustomer(ctx, "+14155550101"))
		conv := e.conversationOf("+14155550101")
		must[core.StoredMessage](t)(e.svc.AddNote(ctx, conv.ID, "VIP", core.AgentActor("ann")))
		e.events()
		if err := e.svc.Customers().EraseCustomer(ctx, cust.ID, "admin:root"); err != nil {
			t.Fatal(err)
		}
		if ev := e.only("customer.erased", e.events()); ev.Data.CustomerID != cust.ID {
			t.Fatalf("erased event %+v", ev.Data)
		}
		if _, err := e.svc.Customers().FindCustomer(ctx, "+14155550101"); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("customer still found: %v", err)
		}
		if _, err := e.svc.Messages(ctx, conv.ID); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("messages still there: %v", err)
		}
		var n int
		if err := e.store.DB().QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d messages left (%v)", n, err)
		}
	})
}

// Seed (Converso): private notes, deleting (admin), dashboard figures.
func TestNotesDeleteAndStats(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "one"), sms("+14155550101", "two"), sms("+14155550102", "other"))
		conv := e.conversationOf("+14155550101")
		must[core.Conversation](t)(e.svc.Assign(ctx, conv.ID, "ann", "support", core.AgentActor("ann")))
		note := must[core.StoredMessage](t)(e.svc.AddNote(ctx, conv.ID, "call back tomorrow", core.AgentActor("ann")))
		if ev := e.only("note.added", e.events()); ev.Data.MessageID != note.ID {
			t.Fatalf("note event %+v", ev.Data)
		}
		msgs := must[[]core.StoredMessage](t)(e.svc.Messages(ctx, conv.ID))
		if len(msgs) != 3 || msgs[0].Text != "one" || msgs[1].Text != "two" || msgs[2].Kind != core.KindNote {
			t.Fatalf("messages %+v", msgs)
		}
		st := must[core.Stats](t)(e.svc.Agents().Stats(ctx, "ann", ""))
		if st.ByStatus["open"] != 1 || st.ByStatus["new"] != 1 || st.Unassigned != 1 || st.Unreplied != 3 ||
			*st.AgentAssigned != 1 || *st.AgentUnreplied != 2 {
			t.Fatalf("stats %+v (agent %d/%d)", st, *st.AgentAssigned, *st.AgentUnreplied)
		}
		if err := e.svc.DeleteConversation(ctx, conv.ID, "admin:root"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Conversation(ctx, conv.ID); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("deleted conversation found: %v", err)
		}
	})
}

func TestListConversationsPages(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		for i := 0; i < 5; i++ {
			e.receive(sms("+1415555010"+string(rune('0'+i)), "hi"))
			e.clock.Advance(time.Second)
		}
		var seen []string
		var after *core.Cursor
		for page := 0; page < 5; page++ {
			got := must[[]core.Conversation](t)(e.svc.ListConversations(ctx, core.ConversationFilter{Limit: 2, After: after}))
			for _, c := range got {
				seen = append(seen, c.ContactAddress)
			}
			if len(got) < 2 {
				break
			}
			last := got[len(got)-1]
			after = &core.Cursor{LastActivityAt: last.LastActivityAt, ID: last.ID}
		}
		want := "+14155550104,+14155550103,+14155550102,+14155550101,+14155550100"
		if got := join(seen); got != want {
			t.Fatalf("pages %s, want %s", got, want)
		}
	})
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

// Auto-close run by two core instances at once closes each due conversation
// once; those of an entry point that waits longer stay waiting.
func TestAutoCloseTwoInstances(t *testing.T) {
	url := sqltest.URL(t, sqlstore.Postgres)
	clock := sqltest.NewClock()
	var svcs []*core.Service
	for i := 0; i < 2; i++ {
		store, err := sqlstore.Open(ctx, url, sqlstore.WithClock(clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		svcs = append(svcs, core.NewService(store, withDefaults(core.Policy{AutoCloseAfter: time.Hour,
			AutoCloseAfterByEntryPoint: map[string]time.Duration{"slow": 3 * time.Hour}}),
			core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"}, discardLogger(), core.NewMetrics(nil)))
	}
	e := &env{t: t, svc: svcs[0], clock: clock}
	for i := 0; i < 20; i++ {
		e.receive(sms(fmt.Sprintf("+141555507%02d", i), "thanks"))
	}
	for i := 0; i < 5; i++ { // their entry point waits longer
		e.receive(at("slow", fmt.Sprintf("+141555508%02d", i), "thanks"))
	}
	convs := must[[]core.Conversation](t)(e.svc.ListConversations(ctx, core.ConversationFilter{Limit: 100}))
	for _, c := range convs {
		must[core.Conversation](t)(e.svc.SetStatus(ctx, c.ID, core.StatusWaiting, "", core.AgentActor("ann")))
	}
	clock.Advance(2 * time.Hour)
	var wg sync.WaitGroup
	closed := make([]int, 2)
	for i, s := range svcs {
		wg.Add(1)
		go func(i int, s *core.Service) {
			defer wg.Done()
			n, err := s.AutoClose(ctx)
			if err != nil {
				t.Error(err)
			}
			closed[i] = n
		}(i, s)
	}
	wg.Wait()
	if closed[0]+closed[1] != 20 {
		t.Fatalf("closed %v, want 20 in all", closed)
	}
	st := must[core.Stats](t)(e.svc.Agents().Stats(ctx, "", ""))
	if st.ByStatus["closed"] != 20 || st.ByStatus["waiting"] != 5 {
		t.Fatalf("stats %+v", st.ByStatus)
	}
}
