package sqlstore_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// A page of conversations carries each one's latest contacts, oldest
// first, as LatestContacts reads them (on PostgreSQL in the page's own
// statement): a conversation without any has none, one with more than the
// page shows its latest, an ended contact its end.
func TestListCarriesLatestContacts(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			s := sqltest.Open(t, dialect)
			at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
			err := s.InTx(ctx, func(tx core.Tx) error {
				for i := range 4 {
					id := fmt.Sprintf("c%d", i)
					cust := core.Customer{ID: "cust" + id, CreatedAt: at}
					if _, _, err := tx.Customers.CreateCustomer(ctx, cust, core.Identity{Kind: "phone", Address: "+1" + id}); err != nil {
						return err
					}
					when := at.Add(time.Duration(i) * time.Minute)
					conv := core.Conversation{ID: id, CustomerID: cust.ID, Status: core.StatusOpen, CreatedAt: when, UpdatedAt: when,
						LastActivityAt: when, Channel: "sms"}
					if _, err := tx.Conversations.InsertConversation(ctx, conv); err != nil {
						return err
					}
					// c0 has none; c1 one, ended; c2 three (two of them
					// started at once); c3 five, more than the page shows.
					n := []int{0, 1, 3, 5}[i]
					for k := range n {
						ct := core.Contact{ID: fmt.Sprintf("%s-%d", id, k), ConversationID: id, Channel: "sms", StartedBy: "customer",
							StartedAt: when.Add(time.Duration(k/2) * time.Second), LastActivityAt: when.Add(time.Hour)}
						if i == 1 || k < n-1 { // one open contact at most
							end := when.Add(2 * time.Hour)
							ct.EndedAt, ct.EndReason, ct.EndedBy = &end, core.ContactEnded, "agent:ann"
						}
						if err := tx.Contact.InsertContact(ctx, ct); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var page []core.Conversation
			want := map[string][]core.Contact{}
			err = s.InTx(ctx, func(tx core.Tx) error {
				var err error
				if page, err = tx.Query.ListConversations(ctx, core.ConversationFilter{Limit: 10, Contacts: 3, UnreadOf: "ann"}); err != nil {
					return err
				}
				for _, c := range page {
					cts, err := tx.Query.LatestContacts(ctx, []string{c.ID}, 3)
					if err != nil {
						return err
					}
					want[c.ID] = append([]core.Contact{}, cts...)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) != 4 {
				t.Fatalf("page of %d conversations, want 4", len(page))
			}
			for _, c := range page {
				if !reflect.DeepEqual(c.Contacts, want[c.ID]) {
					t.Errorf("%s: contacts %+v, want %+v", c.ID, c.Contacts, want[c.ID])
				}
				if n := []int{0, 1, 3, 3}[c.ID[1]-'0']; len(c.Contacts) != n {
					t.Errorf("%s: %d contacts, want %d", c.ID, len(c.Contacts), n)
				}
			}
		})
	}
}
