package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// CreateCustomers of identities another transaction took first returns
// their owners and keeps none of the customers it made for them; the
// others are created.
func TestCreateCustomersLosesTakenIdentities(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			s := sqltest.Open(t, dialect)
			id := func(a string) core.Identity { return core.Identity{Kind: "phone", Address: a} }
			now := time.Now()
			create := func(ids ...core.Identity) (cs []core.Customer, taken map[core.Identity]core.Customer) {
				for range ids {
					cs = append(cs, core.Customer{ID: normalize.NewID(), CreatedAt: now})
				}
				err := s.InTx(ctx, func(tx core.Tx) error {
					var err error
					taken, err = tx.Batch.CreateCustomers(ctx, cs, ids)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				return cs, taken
			}
			first, taken := create(id("+1"), id("+2"))
			if len(taken) != 0 {
				t.Fatalf("fresh identities taken: %v", taken)
			}
			second, taken := create(id("+3"), id("+2"))
			if len(taken) != 1 || taken[id("+2")].ID != first[1].ID {
				t.Fatalf("taken %v, want +2 owned by %s", taken, first[1].ID)
			}
			err := s.InTx(ctx, func(tx core.Tx) error {
				if _, ok, err := tx.Customers.CustomerByID(ctx, second[1].ID); err != nil || ok {
					t.Errorf("the customer made for a taken identity is kept (%v)", err)
				}
				c, ok, err := tx.Customers.CustomerByIdentity(ctx, id("+3"))
				if err != nil || !ok || c.ID != second[0].ID {
					t.Errorf("+3 owned by %v (%v), want %s", c, err, second[0].ID)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
