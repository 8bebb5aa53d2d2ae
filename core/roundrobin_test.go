package core_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// twoCores are two core instances on one database, routing the entry point
// support-us round robin over ann, bob and cat.
func twoCores(t *testing.T, dialect string) []*env {
	t.Helper()
	url := sqltest.URL(t, dialect)
	clock := sqltest.NewClock()
	policy := withDefaults(core.Policy{EntryPointInboxes: map[string]string{"support-us": "us"},
		EntryPointAgents: map[string][]string{"support-us": {"ann", "bob", "cat"}}})
	var out []*env
	for range 2 {
		store, err := sqlstore.Open(ctx, url, sqlstore.WithClock(clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		svc := core.NewService(store, policy, core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"},
			discardLogger(), core.NewMetrics(nil))
		out = append(out, &env{t: t, svc: svc, store: store, clock: clock})
	}
	return out
}

func (e *env) assigneeOf(from string) string {
	e.t.Helper()
	c := e.conversationOf(from)
	if c.Inbox != "us" {
		e.t.Errorf("%s: inbox %q, want us", from, c.Inbox)
	}
	return c.Assignee
}

// Two core instances assigning the new conversations of one entry point
// take the turn from the database: the agents alternate strictly, whichever
// instance handles each customer.
func TestRoundRobinAcrossInstances(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		cores := twoCores(t, dialect)
		var got []string
		for i := range 6 {
			from := fmt.Sprintf("+1415555020%d", i)
			cores[i%2].receive(at("support-us", from, "hello"))
			got = append(got, cores[0].assigneeOf(from))
		}
		want := []string{"ann", "bob", "cat", "ann", "bob", "cat"}
		if !equal(got, want) {
			t.Fatalf("assignees %v, want %v", got, want)
		}
		// Another entry point routes nobody and takes no turn.
		cores[1].receive(at("support-uk", "+14155550299", "hello"))
		if a := cores[0].conversationOf("+14155550299").Assignee; a != "" {
			t.Fatalf("support-uk conversation assigned to %q", a)
		}
		cores[1].receive(at("support-us", "+14155550210", "hello"))
		if a := cores[0].assigneeOf("+14155550210"); a != "ann" {
			t.Fatalf("after support-uk: %q, want ann", a)
		}
	})
}

// Customers starting conversations on both instances at once: every agent
// gets exactly its share.
func TestRoundRobinAcrossInstancesConcurrently(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		cores := twoCores(t, dialect)
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := at("support-us", fmt.Sprintf("+141555503%02d", i), "hello")
				batch := []core.Inbound{{Event: normalize.Event{ID: m.MessageID, Type: normalize.TypeMessageReceived}, Message: &m}}
				for {
					_, err := cores[i%2].svc.HandleInbound(context.Background(), batch)
					if err == nil || !isTransient(err) {
						if err != nil {
							t.Error(err)
						}
						return
					}
				}
			}()
		}
		wg.Wait()
		count := map[string]int{}
		for i := range 12 {
			count[cores[0].assigneeOf(fmt.Sprintf("+141555503%02d", i))]++
		}
		if count["ann"] != 4 || count["bob"] != 4 || count["cat"] != 4 {
			t.Fatalf("conversations by agent %v, want 4 each", count)
		}
	})
}

// Presets win over routing, and the conversation they assign takes no turn.
func TestRoundRobinPresetsWin(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		cores := twoCores(t, dialect)
		cores[0].receive(at("support-us", "+14155550401", "hello"))
		c := cores[1].createCustomer(core.NewCustomer{Identities: []core.Identity{{Kind: "phone", Address: "+14155550402"}}})
		must[core.Presets](t)(cores[1].svc.Agents().SetPresets(ctx, c.ID, core.Presets{Assignees: []string{"dan"}, Inbox: "vip"}))
		cores[1].receive(at("support-us", "+14155550402", "hello"))
		cores[1].receive(at("support-us", "+14155550403", "hello"))
		got := []string{cores[0].conversationOf("+14155550401").Assignee, cores[0].conversationOf("+14155550402").Assignee,
			cores[0].conversationOf("+14155550403").Assignee}
		if want := []string{"ann", "dan", "bob"}; !equal(got, want) {
			t.Fatalf("assignees %v, want %v", got, want)
		}
	})
}
