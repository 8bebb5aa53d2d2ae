package core_test

import (
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// at is an SMS a customer sent to the entry point ep.
func at(ep, from, text string) normalize.Message {
	m := sms(from, text)
	m.EntryPoint = ep
	return m
}

// A customer's message after close reopens the conversation within the
// reopen window of the entry point it came in at, which wins over the
// channel's and the global one; elsewhere the channel's still holds.
func TestReopenWindowPerEntryPoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{ReopenWindow: 96 * time.Hour,
			ReopenWindowByChannel:    map[string]time.Duration{normalize.ChannelSMS: time.Hour},
			ReopenWindowByEntryPoint: map[string]time.Duration{"support-uk": 48 * time.Hour, "chat-fast": time.Minute}})
		for _, from := range []string{"+14155550101", "+14155550102", "+14155550103"} {
			e.receive(at("support-uk", from, "hello"))
			c := e.conversationOf(from)
			e.setStatus(c.ID, core.StatusClosed)
		}
		e.clock.Advance(2 * time.Hour)
		// Written to support-uk again: its 48h window reopens.
		// Written to support-us (no window of its own): the SMS channel's 1h does not.
		// Written to chat-fast: its 1 minute does not, though the global 96h would.
		res := e.receive(at("support-uk", "+14155550101", "again"), at("support-us", "+14155550102", "again"),
			at("chat-fast", "+14155550103", "again"))
		want := []string{core.ResultReopened, core.ResultCreated, core.ResultCreated}
		if !equal(res, want) {
			t.Fatalf("results %v, want %v", res, want)
		}
		e.clock.Advance(47 * time.Hour)
		c := e.conversationOf("+14155550101")
		e.setStatus(c.ID, core.StatusClosed)
		e.clock.Advance(49 * time.Hour)
		if res := e.receive(at("support-uk", "+14155550101", "late")); res[0] != core.ResultCreated {
			t.Fatalf("after the entry point's window: %v, want created", res)
		}
	})
}

// A waiting conversation closes after its entry point's auto_close_after
// when it has one, the others after the global.
func TestAutoClosePerEntryPoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{AutoCloseAfter: 96 * time.Hour,
			AutoCloseAfterByEntryPoint: map[string]time.Duration{"fast": time.Hour, "slow": 200 * time.Hour}})
		eps := map[string]string{"+14155550101": "fast", "+14155550102": "other", "+14155550103": "slow"}
		for from, ep := range eps {
			e.receive(at(ep, from, "thanks"))
			e.setStatus(e.conversationOf(from).ID, core.StatusWaiting)
		}
		closedAfter := func(d time.Duration, want int, closed ...string) {
			t.Helper()
			e.clock.Advance(d)
			if n := must[int](t)(e.svc.AutoClose(ctx)); n != want {
				t.Fatalf("after %s more: closed %d, want %d", d, n, want)
			}
			for _, from := range closed {
				if c := e.conversationOf(from); c.Status != core.StatusClosed || c.EntryPoint != eps[from] {
					t.Fatalf("%s at %s: %s, want closed", from, c.EntryPoint, c.Status)
				}
			}
		}
		closedAfter(30*time.Minute, 0)
		closedAfter(time.Hour, 1, "+14155550101")
		closedAfter(95*time.Hour, 1, "+14155550102")
		if c := e.conversationOf("+14155550103"); c.Status != core.StatusWaiting {
			t.Fatalf("slow entry point: %s after 96h30m, want waiting", c.Status)
		}
		closedAfter(104*time.Hour, 1, "+14155550103")
	})
}

// Every event about a conversation carries the entry point it started at,
// whichever path emits it: inbound, operators, replies and their delivery
// statuses (read back from the store), failures, notes, contacts, close,
// reopen and delete.
func TestEveryConversationEventCarriesEntryPoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(at("support-uk", "+14155550101", "hi"))
		conv := e.conversationOf("+14155550101")
		must[core.Conversation](t)(e.svc.Assign(ctx, conv.ID, "ann", "", core.AdminActor("ops")))
		must[core.Conversation](t)(e.svc.Agents().SetTopics(ctx, conv.ID, []string{"billing"}, core.AgentActor("ann")))
		must[core.Conversation](t)(e.svc.SetVisibility(ctx, conv.ID, []string{"ann"}, core.AdminActor("ops")))
		must[core.StoredMessage](t)(e.svc.AddNote(ctx, conv.ID, "vip", core.AgentActor("ann")))
		claim := func(text string) core.DispatchJob {
			t.Helper()
			must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: text}, core.AgentActor("ann")))
			jobs := must[[]core.DispatchJob](t)(e.svc.DispatchQueue().Claim(ctx, time.Minute, 10))
			if len(jobs) != 1 {
				t.Fatalf("claimed %d replies, want 1", len(jobs))
			}
			return jobs[0]
		}
		if err := e.svc.DispatchQueue().MarkSent(ctx, claim("one"), "twilio", "SMout1"); err != nil {
			t.Fatal(err)
		}
		e.status(normalize.Status{Provider: "twilio", ProviderMessageID: "SMout1", Status: normalize.StatusDelivered})
		failed := claim("two")
		if err := e.svc.DispatchQueue().MarkFailed(ctx, failed, core.DeliveryError{Code: "invalid", Message: "no"}); err != nil {
			t.Fatal(err)
		}
		must[core.StoredMessage](t)(e.svc.DispatchQueue().RetryMessage(ctx, failed.MessageID, core.AgentActor("ann")))
		must[core.Conversation](t)(e.svc.Handover(ctx, conv.ID, "bot:faq", core.AdminActor("ops")))
		e.setStatus(conv.ID, core.StatusClosed)
		e.receive(at("support-us", "+14155550101", "back")) // reopens; the conversation keeps its entry point
		must[core.Conversation](t)(e.svc.Unassign(ctx, conv.ID, core.AdminActor("ops")))
		if err := e.svc.DeleteConversation(ctx, conv.ID, core.AdminActor("ops")); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, ev := range e.events() {
			if ev.Data.ConversationID == "" {
				continue
			}
			seen[ev.Type] = true
			if ev.Data.EntryPoint != "support-uk" {
				t.Errorf("%s: entry_point %q, want support-uk", ev.Type, ev.Data.EntryPoint)
			}
		}
		for _, typ := range []string{"conversation.created", "message.received", "contact.started", "conversation.assigned",
			"conversation.topics_changed", "conversation.visibility_changed", "note.added", "message.queued", "message.sent",
			"message.delivered", "message.failed", "conversation.handed_over", "conversation.status_changed",
			"conversation.closed", "conversation.reopened", "conversation.deleted"} {
			if !seen[typ] {
				t.Errorf("no %s event", typ)
			}
		}
	})
}
