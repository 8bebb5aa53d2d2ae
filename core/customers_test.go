package core_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

const bot = core.Actor("bot:crm")

func (e *env) createCustomer(n core.NewCustomer) core.Customer {
	e.t.Helper()
	c, err := e.svc.Customers().CreateCustomer(context.Background(), n, bot)
	if err != nil {
		e.t.Fatalf("CreateCustomer: %v", err)
	}
	return c
}

// A customer created with identities in any notation keeps them canonical;
// the customer's first message joins that customer (Converso: a contact
// whose ID can be predetermined "eg from their phone number").
func TestCreatedCustomerIsFoundByTheirPhoneNumber(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		c := e.createCustomer(core.NewCustomer{Name: "Ann Lee", Attributes: map[string]string{"plan": "gold"},
			Identities: []core.Identity{{Kind: "phone", Address: "+1 (415) 555-0101"}, {Kind: "email", Address: "Ann Lee <Ann@Example.COM>"},
				{Kind: "phone", Address: "+14155550101"}}})
		want := []core.Identity{{Kind: "email", Address: "ann@example.com"}, {Kind: "phone", Address: "+14155550101"}}
		if !slices.Equal(c.Identities, want) || c.Name != "Ann Lee" || c.Attributes["plan"] != "gold" {
			t.Fatalf("created %+v", c)
		}
		evs := e.events()
		if !equal(types(evs), []string{"customer.created"}) || evs[0].Data.Actor != string(bot) || evs[0].Key != c.ID ||
			evs[0].Data.Customer == nil || len(evs[0].Data.Customer.Identities) != 2 {
			t.Fatalf("events %+v", evs)
		}
		e.receive(sms("+14155550101", "hello"))
		evs = e.events()
		if types(evs)[0] != "conversation.created" || evs[0].Data.CustomerID != c.ID {
			t.Fatalf("the first message made events %v for customer %s, want conversation.created for %s", types(evs), evs[0].Data.CustomerID, c.ID)
		}
		got, err := e.svc.Customers().FindCustomer(context.Background(), "ANN@example.com")
		if err != nil || got.ID != c.ID || got.Attributes["plan"] != "gold" {
			t.Fatalf("FindCustomer: %+v %v", got, err)
		}
	})
}

// "It's also possible to pre-define the visibility and assignment of a
// particular contact's conversations" (Converso): presets set on a customer
// created in advance apply to their first conversation.
func TestPresetsOfACreatedCustomerApplyToTheirFirstConversation(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		c := e.createCustomer(core.NewCustomer{Identities: []core.Identity{{Kind: "phone", Address: "+14155550101"}}})
		ctx := context.Background()
		if _, err := e.svc.Agents().SetPresets(ctx, c.ID, core.Presets{Assignees: []string{"bob"}, Inbox: "vip", VisibleTo: []string{"bob"}}); err != nil {
			t.Fatal(err)
		}
		e.receive(sms("+14155550101", "hello"))
		convs, err := e.svc.ListConversations(ctx, core.ConversationFilter{CustomerID: c.ID, Limit: 10})
		if err != nil || len(convs) != 1 {
			t.Fatalf("conversations %v %v", convs, err)
		}
		if cv := convs[0]; cv.Assignee != "bob" || cv.Inbox != "vip" || !slices.Equal(cv.VisibleTo, []string{"bob"}) || cv.Status != core.StatusOpen {
			t.Fatalf("first conversation %+v, want bob's in vip, seen by bob", cv)
		}
	})
}

// An identity of another customer is refused (identity_taken) and nothing
// is created: no customer, no event, and the identity stays where it was.
func TestCreateCustomerWithAnotherCustomersIdentity(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "hello"))
		owner, _ := e.svc.Customers().FindCustomer(context.Background(), "+14155550101")
		e.events()
		_, err := e.svc.Customers().CreateCustomer(context.Background(), core.NewCustomer{Identities: []core.Identity{
			{Kind: "email", Address: "new@example.com"}, {Kind: "phone", Address: "+1 415-555-0101"}}}, bot)
		if core.ErrorCode(err) != core.EIDENTITYTAKEN {
			t.Fatalf("err %v, want identity_taken", err)
		}
		if evs := e.events(); len(evs) != 0 {
			t.Fatalf("events %v", types(evs))
		}
		if _, err := e.svc.Customers().FindCustomer(context.Background(), "new@example.com"); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("the refused customer's other identity exists: %v", err)
		}
		if c, _ := e.svc.Customers().FindCustomer(context.Background(), "+14155550101"); c.ID != owner.ID {
			t.Fatalf("the phone moved to %s", c.ID)
		}
	})
}

// Name and attributes change with customer.updated naming what changed;
// identities are added and removed with their events, never the last one.
func TestCustomerUpdateAndIdentities(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		ctx := context.Background()
		c := e.createCustomer(core.NewCustomer{Name: "Ann", Identities: []core.Identity{{Kind: "chat", Address: "v-123"}}})
		e.events()

		name := "Ann Lee"
		attrs := map[string]string{"tier": "gold", "crm_id": "42"}
		got, err := e.svc.Customers().UpdateCustomer(ctx, c.ID, core.CustomerChange{Name: &name, Attributes: attrs}, bot)
		if err != nil || got.Name != name || !maps.Equal(got.Attributes, attrs) {
			t.Fatalf("UpdateCustomer: %+v %v", got, err)
		}
		if _, err := e.svc.Customers().UpdateCustomer(ctx, c.ID, core.CustomerChange{Name: &name}, bot); err != nil { // changes nothing
			t.Fatal(err)
		}
		evs := e.events()
		if !equal(types(evs), []string{"customer.updated"}) || !slices.Equal(evs[0].Data.Changed, []string{"name", "attributes"}) ||
			evs[0].Data.Customer.Attributes["tier"] != "gold" {
			t.Fatalf("events %+v", evs)
		}
		if got, _ := e.svc.Customers().Customer(ctx, c.ID); got.Name != name || got.Attributes["crm_id"] != "42" {
			t.Fatalf("stored %+v", got)
		}
		if _, err := e.svc.Customers().UpdateCustomer(ctx, c.ID, core.CustomerChange{Attributes: map[string]string{}}, bot); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.svc.Customers().Customer(ctx, c.ID); len(got.Attributes) != 0 {
			t.Fatalf("{} left attributes %v", got.Attributes)
		}

		// Follow up a web chat on WhatsApp: the chat visitor gets a phone.
		got, err = e.svc.Customers().AddIdentity(ctx, c.ID, core.Identity{Kind: "phone", Address: "+44 20 7946 0958"}, bot)
		if err != nil || len(got.Identities) != 2 {
			t.Fatalf("AddIdentity: %+v %v", got, err)
		}
		if _, err := e.svc.Customers().AddIdentity(ctx, c.ID, core.Identity{Kind: "phone", Address: "+442079460958"}, bot); err != nil { // has it already
			t.Fatal(err)
		}
		if _, err := e.svc.Customers().RemoveIdentity(ctx, c.ID, core.Identity{Kind: "chat", Address: "v-123"}, bot); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Customers().RemoveIdentity(ctx, c.ID, core.Identity{Kind: "phone", Address: "+442079460958"}, bot)
		if core.ErrorCode(err) != core.EUNPROCESSABLE {
			t.Fatalf("removing the last identity: %v, want unprocessable", err)
		}
		_, err = e.svc.Customers().RemoveIdentity(ctx, c.ID, core.Identity{Kind: "chat", Address: "v-123"}, bot)
		if core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("removing an identity the customer lacks: %v, want not_found", err)
		}
		evs = e.events()
		if !equal(types(evs), []string{"customer.updated", "customer.identity_added", "customer.identity_removed"}) ||
			!slices.Equal(evs[0].Data.Changed, []string{"attributes"}) ||
			*evs[1].Data.Identity != (core.Identity{Kind: "phone", Address: "+442079460958"}) ||
			*evs[2].Data.Identity != (core.Identity{Kind: "chat", Address: "v-123"}) || len(evs[2].Data.Customer.Identities) != 1 {
			t.Fatalf("events %v %+v", types(evs), evs)
		}
		// The removed visitor id is free: its next message starts a new customer.
		e.receive(normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelChat, Provider: "webchat",
			ProviderMessageID: "chat-1", Direction: normalize.Inbound, From: normalize.Party{Kind: "chat", Address: "v-123"},
			To: normalize.Party{Kind: "chat", Address: "site"}, Text: "hi"})
		if evs := e.events(); evs[0].Type != "customer.created" || evs[0].Data.CustomerID == c.ID {
			t.Fatalf("events %v", types(evs))
		}
		if _, err := e.svc.Customers().UpdateCustomer(ctx, "01990000-0000-7000-8000-000000000000", core.CustomerChange{Name: &name}, bot); core.ErrorCode(err) != core.ENOTFOUND {
			t.Fatalf("unknown customer: %v", err)
		}
	})
}

// Bad input is refused with a message saying what is wrong.
func TestNewCustomerValidate(t *testing.T) {
	phone := []core.Identity{{Kind: "phone", Address: "+14155550101"}}
	many := map[string]string{}
	for i := range core.MaxAttributes + 1 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	tests := map[string]struct {
		in   core.NewCustomer
		want string
	}{
		"no identities":      {core.NewCustomer{Name: "Ann"}, "identities is required"},
		"too many":           {core.NewCustomer{Identities: slices.Repeat(phone, core.MaxIdentities+1)}, "at most 20 identities"},
		"unknown kind":       {core.NewCustomer{Identities: []core.Identity{{Kind: "fax", Address: "1"}}}, "kind must be one of"},
		"internal kind":      {core.NewCustomer{Identities: []core.Identity{{Kind: core.KindEmailUnverified, Address: "a@b.c"}}}, "kind must be one of"},
		"no kind":            {core.NewCustomer{Identities: []core.Identity{{Address: "+14155550101"}}}, "needs a kind"},
		"no address":         {core.NewCustomer{Identities: []core.Identity{{Kind: "phone", Address: " "}}}, "needs an address"},
		"bad phone":          {core.NewCustomer{Identities: []core.Identity{{Kind: "phone", Address: "call me"}}}, "not a phone number"},
		"bad email":          {core.NewCustomer{Identities: []core.Identity{{Kind: "email", Address: "ann"}}}, "not an email address"},
		"id with spaces":     {core.NewCustomer{Identities: []core.Identity{{Kind: "messenger", Address: "12 34"}}}, "has no spaces"},
		"long address":       {core.NewCustomer{Identities: []core.Identity{{Kind: "chat", Address: strings.Repeat("x", 321)}}}, "at most 320 bytes"},
		"control in address": {core.NewCustomer{Identities: []core.Identity{{Kind: "chat", Address: "a\x00b"}}}, "printable"},
		"long name":          {core.NewCustomer{Name: strings.Repeat("n", 257), Identities: phone}, "name must be"},
		"name with newline":  {core.NewCustomer{Name: "a\nb", Identities: phone}, "name must be"},
		"too many attrs":     {core.NewCustomer{Identities: phone, Attributes: many}, "at most 50 attributes"},
		"empty attr name":    {core.NewCustomer{Identities: phone, Attributes: map[string]string{"": "v"}}, "attribute name"},
		"long attr value":    {core.NewCustomer{Identities: phone, Attributes: map[string]string{"k": strings.Repeat("v", 1025)}}, `attribute "k"`},
		"NUL in attr value":  {core.NewCustomer{Identities: phone, Attributes: map[string]string{"k": "a\x00"}}, `attribute "k"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.in.Validate()
			if core.ErrorCode(err) != core.EINVALID || !strings.Contains(core.ErrorMessage(err), tc.want) {
				t.Fatalf("Validate: %v, want invalid with %q", err, tc.want)
			}
		})
	}
	ok := core.NewCustomer{Name: "Zoë", Identities: []core.Identity{{Kind: "instagram", Address: "17841400000000000"}},
		Attributes: map[string]string{"note": "multi\nline"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (core.CustomerChange{}).Validate(); core.ErrorCode(err) != core.EINVALID {
		t.Fatalf("an empty change: %v", err)
	}
}
