package core_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// email is an inbound email from an address; verified is its
// sender_verified (nil: not said, as before the connector checked).
func email(from, text string, verified *bool) normalize.Message {
	n := seq.Add(1)
	return normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelEmail, Provider: "sendgrid",
		ProviderMessageID: fmt.Sprintf("mail-%d@example.com", n), Direction: normalize.Inbound,
		From: normalize.Party{Kind: normalize.KindEmail, Address: from, Name: "Ann Lee"},
		To:   normalize.Party{Kind: normalize.KindEmail, Address: "support@shop.example"}, Text: text, SenderVerified: verified}
}

var verified, forged = func() *bool { b := true; return &b }(), func() *bool { b := false; return &b }()

// received returns the message.received events, in order.
func received(evs []published) []published {
	var out []published
	for _, ev := range evs {
		if ev.Type == normalize.TypeMessageReceived {
			out = append(out, ev)
		}
	}
	return out
}

// With mark (the default), a forged email joins the known customer's
// conversation as today, marked sender_verified false.
func TestUnverifiedEmailMarked(t *testing.T) {
	for _, mode := range []string{"", core.EmailMark} {
		t.Run("policy "+mode, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, dialect string) {
				e := newEnv(t, dialect, core.Policy{EmailUnverified: mode})
				e.receive(email("ann@example.com", "where is my order?", verified))
				first := received(e.events())[0]
				e.clock.Advance(time.Minute)
				if res := e.receive(email("ann@example.com", "send it to my new address", forged)); res[0] != core.ResultAttached {
					t.Fatalf("forged mail: %v, want attached", res)
				}
				evs := e.events()
				if n := len(received(evs)); n != 1 || len(evs) != 1 {
					t.Fatalf("events %v, want one message.received", types(evs))
				}
				got := evs[0].Data
				if got.CustomerID != first.Data.CustomerID || got.ConversationID != first.Data.ConversationID {
					t.Errorf("forged mail went to customer %s conversation %s, want %s %s", got.CustomerID, got.ConversationID,
						first.Data.CustomerID, first.Data.ConversationID)
				}
				if v := got.Message.SenderVerified; v == nil || *v {
					t.Errorf("message.received sender_verified %v, want false", v)
				}
			})
		})
	}
}

// With separate, forged email gathers on a customer of its own; the
// address's verified mail still reaches the real customer, in separate
// batches and within one.
func TestUnverifiedEmailSeparate(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{EmailUnverified: core.EmailSeparate})
		e.receive(email("ann@example.com", "where is my order?", verified))
		real := received(e.events())[0].Data
		e.clock.Advance(time.Minute)

		if res := e.receive(email("ann@example.com", "send it to my new address", forged)); res[0] != core.ResultCreated {
			t.Fatalf("forged mail: %v, want created", res)
		}
		evs := e.events()
		if want := []string{"customer.created", "conversation.created", "message.received", "contact.started"}; !equal(types(evs), want) {
			t.Fatalf("events %v, want %v", types(evs), want)
		}
		fake := evs[2].Data
		if fake.CustomerID == real.CustomerID || fake.ConversationID == real.ConversationID {
			t.Fatalf("forged mail joined the real customer: %s / %s", fake.CustomerID, fake.ConversationID)
		}
		if v := fake.Message.SenderVerified; v == nil || *v {
			t.Errorf("message.received sender_verified %v, want false", v)
		}
		ids := evs[0].Data.Customer.Identities
		if len(ids) != 1 || ids[0] != (core.Identity{Kind: core.KindEmailUnverified, Address: "ann@example.com"}) {
			t.Errorf("separate customer identities %v", ids)
		}
		e.clock.Advance(time.Minute)

		// One batch: another forged mail joins the separate customer, a
		// verified one (and one from before the check) the real customer.
		res := e.receive(email("ann@example.com", "did you change it?", forged), email("ann@example.com", "ignore that mail, it was not me", verified),
			email("ann@example.com", "old record", nil))
		if !equal(res, []string{core.ResultAttached, core.ResultAttached, core.ResultAttached}) {
			t.Fatalf("results %v, want attached three times", res)
		}
		evs = e.events()
		if len(evs) != 3 {
			t.Fatalf("events %v, want three message.received", types(evs))
		}
		for i, want := range []core.EventData{fake, real, real} {
			if evs[i].Data.CustomerID != want.CustomerID || evs[i].Data.ConversationID != want.ConversationID {
				t.Errorf("message %d (%q) went to %s / %s, want %s / %s", i, evs[i].Data.Message.Text, evs[i].Data.CustomerID,
					evs[i].Data.ConversationID, want.CustomerID, want.ConversationID)
			}
		}

		// The real customer's conversation holds only authenticated mail.
		msgs, err := e.svc.Messages(context.Background(), real.ConversationID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if v := m.Message.SenderVerified; v != nil && !*v {
				t.Errorf("real conversation holds unverified %q", m.Text)
			}
		}
		if len(msgs) != 3 {
			t.Errorf("real conversation has %d messages, want 3", len(msgs))
		}
		// Looking the address up finds the real customer.
		if c, err := e.svc.Customers().FindCustomer(context.Background(), "ann@example.com"); err != nil || c.ID != real.CustomerID {
			t.Errorf("FindCustomer: %s (%v), want %s", c.ID, err, real.CustomerID)
		}
	})
}

// With separate, a first mail that is forged creates no email identity: the
// address's first verified mail creates the real customer.
func TestUnverifiedEmailFirst(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{EmailUnverified: core.EmailSeparate})
		e.receive(email("bob@example.com", "forged", forged))
		fake := received(e.events())[0].Data
		if _, err := e.svc.Customers().FindCustomer(context.Background(), "bob@example.com"); err == nil {
			t.Fatal("a forged mail created the address's customer")
		}
		if res := e.receive(email("bob@example.com", "real", verified)); res[0] != core.ResultCreated {
			t.Fatalf("verified mail: %v, want created", res)
		}
		if real := received(e.events())[0].Data; real.CustomerID == fake.CustomerID {
			t.Fatal("verified mail joined the forged mail's customer")
		}
	})
}
