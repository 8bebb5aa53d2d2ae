package kafkabus_test

import (
	"context"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// A bot creates a customer who never wrote, changes it, adds and removes
// identities through gateway.commands.v1, with the operator API's rules:
// another customer's identity is refused as identity_taken, the last
// identity stays.
func TestCustomerCommands(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			e := newCmdEnv(t, dialect)
			taken := e.customer("+14155550101")
			const bot = "/bots/crm"
			e.run([]kafka.Message{
				cmd(1, "k1", bot, "customer.create", "+14155550199", map[string]any{"name": "Ann",
					"identities": []map[string]string{{"kind": "phone", "address": "+1 415 555 0199"}}, "attributes": map[string]string{"crm_id": "C-7"}}),
			})
			ctx := context.Background()
			ann, err := e.svc.Customers().FindCustomer(ctx, "+14155550199")
			if err != nil || ann.Name != "Ann" || ann.Attributes["crm_id"] != "C-7" {
				t.Fatalf("created %+v %v", ann, err)
			}
			id := ann.ID
			batch := []kafka.Message{
				cmd(2, "k2", bot, "customer.update", id, map[string]any{"customer_id": id, "name": "Ann Lee"}),
				cmd(3, "k3", bot, "customer.add_identity", id, map[string]any{"customer_id": id, "kind": "email", "address": "Ann@Example.com"}),
				cmd(4, "k4", bot, "customer.remove_identity", id, map[string]any{"customer_id": id, "kind": "phone", "address": "+14155550199"}),
				// Refused:
				cmd(5, "k5", bot, "customer.create", "+14155550101", map[string]any{"identities": []map[string]string{{"kind": "phone", "address": "+14155550101"}}}),
				cmd(6, "k6", bot, "customer.remove_identity", id, map[string]any{"customer_id": id, "kind": "email", "address": "ann@example.com"}),
				cmd(7, "k7", bot, "customer.update", id, map[string]any{"customer_id": id, "kind": "chat", "address": "x"}),
				cmd(8, "k8", bot, "customer.add_identity", id, map[string]any{"customer_id": id, "kind": "phone", "address": "+14155550101"}),
				cmd(9, "k9", bot, "customer.create", "x", map[string]any{"identities": []map[string]string{}}),
			}
			for _, m := range batch[:5] {
				if err := normalize.ValidateEvent("commands", m.Value); err != nil {
					t.Fatalf("the test's command does not match its schema: %v", err)
				}
			}
			e.run(batch)
			var got []string
			for _, ev := range e.events(func(evs []normalize.Event) bool { return len(evs) >= 9 }) {
				d := dataOf(t, ev)
				if ev.Type == normalize.TypeCommandFailed {
					got = append(got, d.CommandID+":"+d.Code)
					continue
				}
				if d.Actor != "bot:crm" || d.CustomerID != id {
					t.Errorf("%s: actor %q customer %q", ev.Type, d.Actor, d.CustomerID)
				}
				got = append(got, ev.Type)
			}
			want := []string{"customer.created", "customer.updated", "customer.identity_added", "customer.identity_removed",
				"k5:identity_taken", "k6:unprocessable", "k7:invalid", "k8:identity_taken", "k9:invalid"}
			if !slices.Equal(got, want) {
				t.Fatalf("events\n got %v\nwant %v", got, want)
			}
			ann, err = e.svc.Customers().Customer(ctx, id)
			if err != nil || ann.Name != "Ann Lee" || !slices.Equal(ann.Identities, []core.Identity{{Kind: "email", Address: "ann@example.com"}}) {
				t.Fatalf("customer %+v %v", ann, err)
			}
			if c, _ := e.svc.Customers().FindCustomer(ctx, "+14155550101"); c.ID != taken.CustomerID {
				t.Fatalf("the taken phone moved to %s", c.ID)
			}
		})
	}
}
