package core_test

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// timings records the first response and resolution times the engine observes.
type timings struct {
	mu                        sync.Mutex
	firstResponse, resolution []float64
}

func (m *timings) Message(string, string) {}
func (m *timings) Event(string)           {}
func (m *timings) DeadLetter(string)      {}
func (m *timings) Batch(int)              {}
func (m *timings) Relayed(int)            {}
func (m *timings) FirstResponse(s float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.firstResponse = append(m.firstResponse, s)
}
func (m *timings) Resolution(s float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resolution = append(m.resolution, s)
}

// newTimedEnv is newEnv with the engine's times recorded.
func newTimedEnv(t *testing.T, dialect string, policy core.Policy) (*env, *timings) {
	e := newEnv(t, dialect, policy)
	m := &timings{}
	e.svc = core.NewService(e.store, withDefaults(policy), core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"},
		slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	return e, m
}

func (e *env) stats() core.Stats {
	e.t.Helper()
	return must[core.Stats](e.t)(e.svc.Agents().Stats(ctx, "ann", ""))
}

// Seed (Converso): "unreplied messages also includes those messages that
// have been sent a response by the auto responder ... These are counted as
// unreplied as they still need a follow up from a human agent." Only a
// human's reply clears unreplied and sets the first response time.
func TestUnrepliedIncludesMessagesAnsweredByTheAutoResponder(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e, m := newTimedEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "where is my order?"), sms("+14155550101", "hello?"))
		conv := e.conversationOf("+14155550101")
		must[core.Conversation](t)(e.svc.Assign(ctx, conv.ID, "ann", "", core.AdminActor("ops")))
		e.clock.Advance(time.Minute)
		for _, bot := range []core.Actor{core.BotActor("autoresponder"), core.Actor("system:outbound.v1")} {
			must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "We got your message."}, bot))
		}
		got := must[core.Conversation](t)(e.svc.Conversation(ctx, conv.ID))
		if got.Unreplied != 2 || got.FirstResponseSeconds != nil || len(m.firstResponse) != 0 {
			t.Fatalf("after automatic replies: unreplied %d, first response %v (observed %v); want 2 and none",
				got.Unreplied, got.FirstResponseSeconds, m.firstResponse)
		}
		if st := e.stats(); st.Unreplied != 2 || *st.AgentUnreplied != 2 || st.ConversationsWithReplies != 0 {
			t.Fatalf("figures after automatic replies: unreplied %d, ann's %d, with replies %d", st.Unreplied, *st.AgentUnreplied, st.ConversationsWithReplies)
		}
		e.clock.Advance(9 * time.Minute)
		must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "It ships today."}, core.AgentActor("ann")))
		got = must[core.Conversation](t)(e.svc.Conversation(ctx, conv.ID))
		if got.Unreplied != 0 || got.FirstResponseSeconds == nil || *got.FirstResponseSeconds != 600 {
			t.Fatalf("after ann's reply: unreplied %d, first response %v; want 0 and 600", got.Unreplied, got.FirstResponseSeconds)
		}
		if st := e.stats(); st.Unreplied != 0 || st.ConversationsWithReplies != 1 {
			t.Fatalf("figures after ann's reply: unreplied %d, with replies %d", st.Unreplied, st.ConversationsWithReplies)
		}
	})
}

// Seed (Converso): unreplied also includes "those messages that have been
// transferred from AI to a human agent and are still waiting for a reply
// from a human agent." A bot-handled conversation is left out of the
// unreplied figures; handed over to a human, every customer message since
// the last human reply counts.
func TestUnrepliedIncludesMessagesTransferredFromAIToAHumanAgent(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{DefaultHandler: "bot:ai"})
		e.receive(sms("+14155550101", "I need a refund"))
		conv := e.conversationOf("+14155550101")
		if conv.Handler != "bot:ai" {
			t.Fatalf("a new conversation is handled by %q, want GATEWAY_DEFAULT_HANDLER bot:ai", conv.Handler)
		}
		must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "Which order?"}, core.BotActor("ai")))
		e.receive(sms("+14155550101", "order 42"))
		if st := e.stats(); st.Unreplied != 0 || st.ByTopic == nil {
			t.Fatalf("while the AI handles it: unreplied %d, want 0", st.Unreplied)
		}
		e.events()
		got := must[core.Conversation](t)(e.svc.Handover(ctx, conv.ID, core.HandlerHuman, core.BotActor("ai")))
		if got.Handler != core.HandlerHuman || got.Unreplied != 2 {
			t.Fatalf("after the handover: handler %q, unreplied %d; want human and 2", got.Handler, got.Unreplied)
		}
		ev := e.only(normalize.TypeConversationHandedOver, e.events())
		if ev.Data.From != "bot:ai" || ev.Data.To != core.HandlerHuman || ev.Data.Actor != "bot:ai" || ev.Data.Conversation.Handler != core.HandlerHuman {
			t.Fatalf("conversation.handed_over %+v", ev.Data)
		}
		if st := e.stats(); st.Unreplied != 2 {
			t.Fatalf("handed to a human: unreplied %d, want 2", st.Unreplied)
		}
		// Again to the same handler: nothing changes, no event.
		must[core.Conversation](t)(e.svc.Handover(ctx, conv.ID, core.HandlerHuman, core.AgentActor("ann")))
		if evs := e.events(); len(evs) != 0 {
			t.Fatalf("a handover to the same handler emitted %v", types(evs))
		}
		must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "Refunded."}, core.AgentActor("ann")))
		if st := e.stats(); st.Unreplied != 0 {
			t.Fatalf("after the human reply: unreplied %d", st.Unreplied)
		}
		for _, bad := range []string{"", "bot", "bot:", "robot:x", "bot:a b", "agent:ann"} {
			if _, err := e.svc.Handover(ctx, conv.ID, bad, core.AgentActor("ann")); core.ErrorCode(err) != core.EINVALID {
				t.Errorf("handover to %q: %v, want invalid", bad, err)
			}
		}
		must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusClosed, "", core.AdminActor("ops")))
		if _, err := e.svc.Handover(ctx, conv.ID, "bot:ai", core.AgentActor("ann")); core.ErrorCode(err) != core.ECONFLICT {
			t.Errorf("handover of a closed conversation: %v, want conflict", err)
		}
	})
}

// A human reply sent from the provider's own app (a Messenger echo) clears
// unreplied and sets the first response time, as an agent's reply does.
func TestHumanReplyFromTheProvidersAppCountsAsAReply(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		in := normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelMessenger, Provider: "meta_messenger",
			ProviderMessageID: "m_in1", Direction: normalize.Inbound, Text: "hi",
			From: normalize.Party{Kind: normalize.KindMessenger, Address: "PSID1"}, To: normalize.Party{Kind: normalize.KindMessenger, Address: "PAGE1"}}
		e.receive(in)
		e.clock.Advance(5 * time.Minute)
		echo := in
		echo.MessageID, echo.ProviderMessageID, echo.Direction, echo.Echo = normalize.NewID(), "m_out1", normalize.Outbound, true
		echo.From, echo.To, echo.Text = in.To, in.From, "Hello from our page inbox"
		e.receive(echo)
		got := e.conversationOf("PSID1")
		if got.Unreplied != 0 || got.FirstResponseSeconds == nil || *got.FirstResponseSeconds != 300 {
			t.Fatalf("after the echo: unreplied %d, first response %v; want 0 and 300", got.Unreplied, got.FirstResponseSeconds)
		}
	})
}

// First response time counts from the gateway's receipt of the customer's
// message, never from the provider's timestamp (a WhatsApp webhook
// delivered late carries a time from long ago).
func TestFirstResponseCountsFromTheGatewaysReceipt(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		now := e.clock.Now()
		m := whatsapp("+14155550101", "hello")
		m.ReceivedAt = now.Add(-273 * 24 * time.Hour)
		// The ingest accepted the webhook a minute before the core applies it.
		batch := []core.Inbound{{Event: normalize.Event{ID: m.MessageID, Type: normalize.TypeMessageReceived}, Message: &m,
			ReceivedAt: now.Add(-time.Minute)}}
		if _, err := e.svc.HandleInbound(ctx, batch); err != nil {
			t.Fatal(err)
		}
		conv := e.conversationOf("+14155550101")
		if conv.FirstInboundAt == nil || !conv.FirstInboundAt.Equal(now.Add(-time.Minute)) {
			t.Fatalf("first inbound at %v, want the receipt time %v", conv.FirstInboundAt, now.Add(-time.Minute))
		}
		e.clock.Advance(4 * time.Minute)
		must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Template: &normalize.Template{Name: "hello", Language: "en"}},
			core.AgentActor("ann")))
		got := must[core.Conversation](t)(e.svc.Conversation(ctx, conv.ID))
		if got.FirstResponseSeconds == nil || *got.FirstResponseSeconds != 300 {
			t.Fatalf("first response %v, want 300 seconds", got.FirstResponseSeconds)
		}
		// A receipt time ahead of the core's clock counts from the core's clock.
		m2 := whatsapp("+14155550102", "hi")
		batch = []core.Inbound{{Message: &m2, ReceivedAt: e.clock.Now().Add(time.Hour)}}
		if _, err := e.svc.HandleInbound(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if c := e.conversationOf("+14155550102"); c.FirstInboundAt == nil || !c.FirstInboundAt.Equal(e.clock.Now()) {
			t.Fatalf("first inbound at %v, want now %v", c.FirstInboundAt, e.clock.Now())
		}
	})
}

// Seed (respond.io): resolution time is a conversation metric. After a
// reopen it counts from the reopen, and each close records its own spell once.
func TestResolutionTimeCountsFromTheReopenOncePerClose(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e, m := newTimedEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "hello"))
		conv := e.conversationOf("+14155550101")
		e.clock.Advance(time.Hour)
		must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusClosed, "", core.AdminActor("ops")))
		e.clock.Advance(2 * time.Hour)
		if r := e.receive(sms("+14155550101", "one more thing")); r[0] != core.ResultReopened {
			t.Fatalf("result %v, want reopened", r)
		}
		reopened := must[core.Conversation](t)(e.svc.Conversation(ctx, conv.ID))
		if reopened.ResolutionSeconds != nil || reopened.ReopenedAt == nil || !reopened.ReopenedAt.Equal(e.clock.Now()) {
			t.Fatalf("reopened: resolution %v, reopened at %v", reopened.ResolutionSeconds, reopened.ReopenedAt)
		}
		e.clock.Advance(30 * time.Minute)
		got := must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusClosed, "", core.AdminActor("ops")))
		if got.ResolutionSeconds == nil || *got.ResolutionSeconds != 1800 {
			t.Fatalf("resolution after the reopen %v, want 1800 (from the reopen)", got.ResolutionSeconds)
		}
		if len(m.resolution) != 2 || m.resolution[0] != 3600 || m.resolution[1] != 1800 {
			t.Fatalf("resolution times observed %v, want [3600 1800]", m.resolution)
		}
		if st := e.stats(); st.ResolutionSecondsAvg == nil || *st.ResolutionSecondsAvg != 1800 || st.Resolved != 1 {
			t.Fatalf("figures: resolution avg %v, resolved %d", st.ResolutionSecondsAvg, st.Resolved)
		}
	})
}

// The 24-hour window is the customer's last message on that channel from
// that address, whichever conversation it joined: a proactive WhatsApp
// message right after a close goes (from the number the customer wrote to);
// a day later only a template would.
func TestWhatsAppWindowCountsTheLastMessageOfAnyConversation(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{Senders: map[string]core.BusinessAddress{normalize.ChannelWhatsApp: {
			Party: normalize.Party{Kind: normalize.KindPhone, Address: "+15550000000"}, Provider: "meta_whatsapp"}}})
		wa := whatsapp("+14155550101", "thanks, that's all")
		wa.ReceivedAt = e.clock.Now()
		e.receive(wa)
		first := e.conversationOf("+14155550101")
		must[core.Conversation](t)(e.svc.SetStatus(ctx, first.ID, core.StatusClosed, "", core.AdminActor("ops")))
		e.clock.Advance(time.Hour)
		conv, msg, err := e.svc.OpenConversation(ctx, first.CustomerID, normalize.ChannelWhatsApp,
			&core.ReplyRequest{Text: "One more thing about your order"}, core.AgentActor("ann"))
		if err != nil {
			t.Fatalf("proactive WhatsApp message an hour after the customer wrote: %v", err)
		}
		if msg.Message.To.Address != "+14155550101" || msg.Message.From.Address != "+15558675310" {
			t.Fatalf("routed from %s to %s", msg.Message.From.Address, msg.Message.To.Address)
		}
		must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusClosed, "", core.AdminActor("ops")))
		e.clock.Advance(24 * time.Hour)
		_, _, err = e.svc.OpenConversation(ctx, first.CustomerID, normalize.ChannelWhatsApp, &core.ReplyRequest{Text: "hello?"}, core.AgentActor("ann"))
		if core.ErrorCode(err) != core.ETEMPLATEREQUIRED || !strings.Contains(err.Error(), "window") {
			t.Fatalf("a day later: %v, want the closed window (template_required)", err)
		}
	})
}

// Seed (Converso): "It's also possible to pre-define the visibility and
// assignment of a particular contact's conversations." Presets apply
// whenever a conversation starts or reopens without an assignee.
func TestPresetsApplyWhenAConversationReopensWithoutAnAssignee(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "hello"))
		conv := e.conversationOf("+14155550101")
		must[core.Presets](t)(e.svc.Agents().SetPresets(ctx, conv.CustomerID, core.Presets{Assignees: []string{"ann"}, Inbox: "vip"}))
		must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusClosed, "", core.AdminActor("ops")))
		if r := e.receive(sms("+14155550101", "back again")); r[0] != core.ResultReopened {
			t.Fatalf("result %v, want reopened", r)
		}
		got := e.conversationOf("+14155550101")
		if got.ID != conv.ID || got.Assignee != "ann" || got.Inbox != "vip" || got.Status != core.StatusOpen {
			t.Fatalf("reopened by the customer: assignee %q inbox %q status %s", got.Assignee, got.Inbox, got.Status)
		}
		// Reopened by an operator, with nobody assigned.
		must[core.Conversation](t)(e.svc.Unassign(ctx, conv.ID, core.AdminActor("ops")))
		must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusClosed, "", core.AdminActor("ops")))
		got = must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusOpen, "", core.AdminActor("ops")))
		if got.Assignee != "ann" || got.Status != core.StatusOpen {
			t.Fatalf("reopened by an operator: assignee %q status %s", got.Assignee, got.Status)
		}
	})
}
