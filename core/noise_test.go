package core_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

var noiseKinds = []string{normalize.MessageKindReaction, normalize.MessageKindReadReceipt, normalize.MessageKindReferral,
	normalize.MessageKindGetStarted, normalize.MessageKindSystem}

// noise is a WhatsApp message of a noise kind from a customer.
func noise(from, kind string) normalize.Message {
	m := whatsapp(from, "")
	m.Kind, m.Extra = kind, map[string]any{"type": kind}
	return m
}

// Seed (issue): "A WhatsApp reaction reopened a closed conversation and
// counted as unreplied; referrals, Get Started taps and system notices do
// the same." DESIGN: noise is kept on the customer's latest conversation
// and published as message.received with its kind, but never reopens,
// wakes or counts as unreplied; nor does it move the last activity or the
// last inbound time, or start a contact.
func TestNoiseDoesNotWakeAConversation(t *testing.T) {
	states := map[string]func(e *env, id string){
		"open":    func(*env, string) {},
		"waiting": func(e *env, id string) { e.setStatus(id, core.StatusWaiting) },
		"closed":  func(e *env, id string) { e.setStatus(id, core.StatusClosed) },
	}
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		n := 0
		for state, prepare := range states {
			for _, kind := range noiseKinds {
				n++
				from := fmt.Sprintf("+1415555%04d", n)
				first := whatsapp(from, "where is my order?")
				first.ReceivedAt = e.clock.Now()
				e.receive(first)
				conv := e.conversationOf(from)
				must[core.Conversation](t)(e.svc.Assign(ctx, conv.ID, "ann", "", core.AdminActor("ops")))
				must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "It ships today."}, core.AgentActor("ann")))
				prepare(e, conv.ID)
				before := must[core.Conversation](t)(e.svc.Conversation(ctx, conv.ID))
				e.events()
				e.clock.Advance(time.Minute)
				r := e.receive(noise(from, kind))
				got := e.conversationOf(from)
				if got.ID != conv.ID || got.Status != before.Status || got.Unreplied != 0 || !got.LastActivityAt.Equal(before.LastActivityAt) ||
					!got.LastInboundAt.Equal(*before.LastInboundAt) || got.MessageCount != before.MessageCount+1 {
					t.Errorf("%s on a %s conversation: %s status %s, unreplied %d, last activity %v (was %v), last inbound %v, %d messages (were %d)",
						kind, state, got.ID, got.Status, got.Unreplied, got.LastActivityAt, before.LastActivityAt, got.LastInboundAt,
						got.MessageCount, before.MessageCount)
				}
				if r[0] != core.ResultNoise {
					t.Errorf("%s on a %s conversation: result %v, want noise", kind, state, r)
				}
				evs := e.events()
				if !equal(types(evs), []string{normalize.TypeMessageReceived}) {
					t.Fatalf("%s on a %s conversation published %v, want only message.received", kind, state, types(evs))
				}
				if d := evs[0].Data; d.ConversationID != conv.ID || d.Message == nil || d.Message.Kind != kind {
					t.Errorf("%s on a %s conversation: message.received %+v", kind, state, d)
				}
			}
		}
		if st := e.stats(); st.Unreplied != 0 {
			t.Errorf("unreplied figure %d after noise only, want 0", st.Unreplied)
		}
	})
}

// Noise from a customer with no conversation opens none: it is kept on a
// conversation that starts closed (close reason noise). The customer's
// first words reopen it with the noise (an ad's referral) above them, also
// when both come in one batch.
func TestNoiseFromACustomerWithoutAConversationOpensNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		r := e.receive(noise("+14155550101", normalize.MessageKindGetStarted))
		conv := e.conversationOf("+14155550101")
		if conv.Status != core.StatusClosed || conv.CloseReason != core.CloseReasonNoise || conv.Unreplied != 0 ||
			conv.ResolutionSeconds != nil || conv.MessageCount != 1 {
			t.Fatalf("conversation %+v: want closed (noise), nothing unreplied or resolved, 1 message", conv)
		}
		if r[0] != core.ResultNoise {
			t.Errorf("result %v, want noise", r)
		}
		evs := e.events()
		if want := []string{normalize.TypeCustomerCreated, normalize.TypeConversationCreated, normalize.TypeMessageReceived}; !equal(types(evs), want) {
			t.Fatalf("events %v, want %v", types(evs), want)
		}
		if d := evs[1].Data; d.To != core.StatusClosed || d.Reason != core.CloseReasonNoise {
			t.Errorf("conversation.created to %q reason %q", d.To, d.Reason)
		}
		if st := e.stats(); st.Unreplied != 0 || st.Unassigned != 0 || st.Resolved != 0 {
			t.Errorf("figures after a Get Started tap: unreplied %d, unassigned %d, resolved %d", st.Unreplied, st.Unassigned, st.Resolved)
		}
		e.clock.Advance(time.Minute)
		if r := e.receive(whatsapp("+14155550101", "hi")); r[0] != core.ResultReopened {
			t.Fatalf("the first words: %v, want reopened", r)
		}
		got := e.conversationOf("+14155550101")
		if got.ID != conv.ID || got.Status != core.StatusNew || got.Unreplied != 1 || got.MessageCount != 2 {
			t.Errorf("after the first words: %s %s, unreplied %d, %d messages", got.ID, got.Status, got.Unreplied, got.MessageCount)
		}

		res := e.receive(noise("+14155550102", normalize.MessageKindReferral), whatsapp("+14155550102", "I saw your ad"),
			noise("+14155550102", normalize.MessageKindReaction))
		if !equal(res, []string{core.ResultNoise, core.ResultReopened, core.ResultNoise}) {
			t.Fatalf("one batch: %v", res)
		}
		got = e.conversationOf("+14155550102")
		msgs := must[[]core.StoredMessage](t)(e.svc.Messages(ctx, got.ID))
		if got.Status != core.StatusNew || got.Unreplied != 1 || got.MessageCount != 3 || len(msgs) != 3 {
			t.Errorf("one batch: %s, unreplied %d, %d messages (%d stored)", got.Status, got.Unreplied, got.MessageCount, len(msgs))
		}
	})
}

// Noise opens no 24-hour window: a reaction a day after the customer's last
// words leaves a free-form WhatsApp reply refused.
func TestNoiseOpensNoWhatsAppWindow(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		wa := whatsapp("+14155550101", "thanks")
		wa.ReceivedAt = e.clock.Now()
		e.receive(wa)
		conv := e.conversationOf("+14155550101")
		must[core.Conversation](t)(e.svc.Assign(ctx, conv.ID, "ann", "", core.AdminActor("ops")))
		e.clock.Advance(25 * time.Hour)
		r := noise("+14155550101", normalize.MessageKindReaction)
		r.ReceivedAt = e.clock.Now()
		e.receive(r)
		_, err := e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "Anything else?"}, core.AgentActor("ann"))
		if core.ErrorCode(err) != core.ETEMPLATEREQUIRED || !strings.Contains(err.Error(), "window") {
			t.Fatalf("a reply after the reaction: %v, want the closed window", err)
		}
	})
}

func (e *env) setStatus(id, status string) {
	e.t.Helper()
	must[core.Conversation](e.t)(e.svc.SetStatus(ctx, id, status, "", core.AdminActor("ops")))
}
