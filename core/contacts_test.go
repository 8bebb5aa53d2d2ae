package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
)

// contactsOf returns a conversation's contacts as GET shows them.
func (e *env) contactsOf(id string) []core.Contact {
	e.t.Helper()
	return must[core.Conversation](e.t)(e.svc.Conversation(ctx, id)).Contacts
}

// Seed (Gladly): "a conversation is made of Contacts": the first message on
// a channel starts a contact.
func TestFirstMessageOnAChannelStartsAContact(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "hi"))
		started := e.only("contact.started", e.events())
		conv := e.conversationOf("+14155550101")
		cts := e.contactsOf(conv.ID)
		if len(cts) != 1 || cts[0].Channel != "sms" || cts[0].StartedBy != "customer" || cts[0].EndedAt != nil {
			t.Fatalf("contacts %+v", cts)
		}
		if started.Data.Contact == nil || started.Data.Contact.ID != cts[0].ID || started.Data.ConversationID != conv.ID {
			t.Fatalf("contact.started %+v", started.Data)
		}
		// More messages on the channel, both ways, extend the same contact.
		e.clock.Advance(time.Minute)
		e.receive(sms("+14155550101", "again"))
		must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "hello"}, core.AgentActor("ann")))
		for _, ev := range e.events() {
			if ev.Type == "contact.started" {
				t.Fatalf("a second contact started on the same channel")
			}
		}
		cts = e.contactsOf(conv.ID)
		if len(cts) != 1 || !cts[0].LastActivityAt.Equal(cts[0].StartedAt.Add(time.Minute)) {
			t.Fatalf("after more messages: %+v", cts)
		}
	})
}

// Seed (Gladly): a second channel starts a second contact in the same
// conversation.
func TestSecondChannelStartsASecondContactInTheSameConversation(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "hi"), whatsapp("+14155550101", "also here"))
		conv := e.conversationOf("+14155550101")
		cts := e.contactsOf(conv.ID)
		if len(cts) != 2 || cts[0].Channel == cts[1].Channel || cts[0].ConversationID != conv.ID || cts[1].ConversationID != conv.ID {
			t.Fatalf("contacts %+v", cts)
		}
	})
}

// Seed (Gladly): an agent ends a contact; an agent's reply on a channel
// with no open contact starts a new one.
func TestAgentEndsAContact(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "hi"))
		conv := e.conversationOf("+14155550101")
		ct := e.contactsOf(conv.ID)[0]
		e.events()
		got := must[core.Conversation](t)(e.svc.EndContact(ctx, conv.ID, ct.ID, core.AgentActor("ann")))
		if len(got.Contacts) != 1 || got.Contacts[0].EndedAt == nil || got.Contacts[0].EndReason != "ended" || got.Contacts[0].EndedBy != "agent:ann" {
			t.Fatalf("after end: %+v", got.Contacts)
		}
		ended := e.only("contact.ended", e.events())
		if ended.Data.Reason != "ended" || ended.Data.Actor != "agent:ann" || ended.Data.Contact.ID != ct.ID {
			t.Fatalf("contact.ended %+v", ended.Data)
		}
		// Ending it again changes nothing.
		must[core.Conversation](t)(e.svc.EndContact(ctx, conv.ID, ct.ID, core.AgentActor("bob")))
		if evs := e.events(); len(evs) != 0 {
			t.Fatalf("ending again published %v", types(evs))
		}
		if _, err := e.svc.EndContact(ctx, conv.ID, "nope", core.AgentActor("ann")); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("unknown contact: %v", err)
		}
		must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "one more thing"}, core.AgentActor("ann")))
		started := e.only("contact.started", e.events())
		if started.Data.Contact.StartedBy != "agent:ann" {
			t.Fatalf("contact.started by %+v", started.Data.Contact)
		}
		if cts := e.contactsOf(conv.ID); len(cts) != 2 || cts[1].EndedAt != nil {
			t.Fatalf("contacts %+v", cts)
		}
	})
}

// Seed: inactivity ends a contact, after the channel's own timeout.
func TestInactivityEndsAContact(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{ContactTimeout: 24 * time.Hour,
			ContactTimeoutByChannel: map[string]time.Duration{"whatsapp": 10 * time.Minute}})
		e.receive(sms("+14155550101", "hi"), whatsapp("+14155550101", "hi"))
		conv := e.conversationOf("+14155550101")
		e.events()
		e.clock.Advance(9 * time.Minute)
		if n := must[int](t)(e.svc.EndIdleContacts(ctx)); n != 0 {
			t.Fatalf("ended %d before the time", n)
		}
		e.clock.Advance(2 * time.Minute)
		if n := must[int](t)(e.svc.EndIdleContacts(ctx)); n != 1 {
			t.Fatalf("ended %d, want the whatsapp contact", n)
		}
		ended := e.only("contact.ended", e.events())
		if ended.Data.Reason != "inactivity" || ended.Data.Actor != "system:contact_timeout" || ended.Data.Channel != "whatsapp" {
			t.Fatalf("contact.ended %+v", ended.Data)
		}
		// A message restarts the clock of the sms contact.
		e.clock.Advance(23 * time.Hour)
		e.receive(sms("+14155550101", "still here"))
		e.clock.Advance(2 * time.Hour)
		if n := must[int](t)(e.svc.EndIdleContacts(ctx)); n != 0 {
			t.Fatalf("ended %d after a recent message", n)
		}
		e.clock.Advance(23 * time.Hour)
		if n := must[int](t)(e.svc.EndIdleContacts(ctx)); n != 1 {
			t.Fatalf("ended %d, want the sms contact", n)
		}
		for _, ct := range e.contactsOf(conv.ID) {
			if ct.EndedAt == nil || ct.EndReason != "inactivity" {
				t.Fatalf("contact %+v", ct)
			}
		}
		// Without activity nothing is left to end (and a second sweep, as by
		// a second instance, ends nothing twice).
		if n := must[int](t)(e.svc.EndIdleContacts(ctx)); n != 0 {
			t.Fatalf("ended %d again", n)
		}
	})
}

// Seed (Gladly): a conversation goes to Waiting when all its contacts have
// ended and nothing needs a reply, when GATEWAY_WAITING_WHEN_ENDED is set.
func TestAllContactsEndedAndNothingToReplyGoesToWaiting(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		for _, enabled := range []bool{true, false} {
			e := newEnv(t, dialect, core.Policy{WaitingWhenEnded: enabled, ContactTimeout: time.Hour})
			from := "+1415555010" + map[bool]string{true: "1", false: "2"}[enabled]
			e.receive(sms(from, "hi"), whatsapp(from, "hi"))
			conv := e.conversationOf(from)
			cts := e.contactsOf(conv.ID)
			// The customer waits for a reply: ending every contact leaves it.
			must[core.Conversation](t)(e.svc.EndContact(ctx, conv.ID, cts[0].ID, core.Actor("bot:triage")))
			e.clock.Advance(2 * time.Hour)
			must[int](t)(e.svc.EndIdleContacts(ctx))
			if got := must[core.Conversation](t)(e.svc.Conversation(ctx, conv.ID)); got.Status != core.StatusNew {
				t.Fatalf("enabled=%v, unreplied: status %s", enabled, got.Status)
			}
			// Replied, and every contact ended: waiting when enabled.
			must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "done", Channel: "sms"}, core.AgentActor("ann")))
			open := e.contactsOf(conv.ID)[2]
			if open.EndedAt != nil {
				t.Fatalf("the reply did not start a contact: %+v", open)
			}
			e.events()
			got := must[core.Conversation](t)(e.svc.EndContact(ctx, conv.ID, open.ID, core.AgentActor("ann")))
			want := map[bool]string{true: core.StatusWaiting, false: core.StatusNew}[enabled]
			if got.Status != want {
				t.Fatalf("enabled=%v: status %s, want %s", enabled, got.Status, want)
			}
			if enabled {
				ch := e.only("conversation.status_changed", e.events())
				if ch.Data.Reason != "contacts_ended" || ch.Data.Actor != "agent:ann" {
					t.Fatalf("status_changed %+v", ch.Data)
				}
			}
		}
	})
}

// A list page shows each conversation's contacts, as GET of one does.
func TestListShowsContacts(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "hi"), whatsapp("+14155550101", "also here"), sms("+14155550102", "hello"))
		list, err := e.svc.ListConversations(ctx, core.ConversationFilter{Limit: 10})
		if err != nil || len(list) != 2 {
			t.Fatalf("list %v %v", list, err)
		}
		for _, c := range list {
			want := e.contactsOf(c.ID)
			if len(want) == 0 || fmt.Sprint(c.Contacts) != fmt.Sprint(want) {
				t.Errorf("conversation %s: contacts in the list %+v, on GET %+v", c.ID, c.Contacts, want)
			}
		}
	})
}
