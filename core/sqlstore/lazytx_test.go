package sqlstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// On PostgreSQL a transaction begins at its first statement that writes or
// locks: reads alone send no BEGIN or COMMIT; a row lock, an advisory lock
// or a write begins one, and what a failed one wrote after its reads is
// rolled back.
func TestTransactionBeginsAtItsFirstWriteOrLock(t *testing.T) {
	if !slices.Contains(sqltest.Dialects, sqlstore.Postgres) {
		t.Skip("no PostgreSQL")
	}
	ctx := context.Background()
	s := sqltest.Open(t, sqlstore.Postgres)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	cust := core.Customer{ID: "cust1", CreatedAt: at}
	if err := s.InTx(ctx, func(tx core.Tx) error {
		_, _, err := tx.Customers.CreateCustomer(ctx, cust, core.Identity{Kind: "phone", Address: "+1"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	begun := func(name string, want int64, fn func() error) {
		t.Helper()
		before := s.Transactions()
		if err := fn(); err != nil && !errors.Is(err, errFailed) {
			t.Fatalf("%s: %v", name, err)
		}
		if got := s.Transactions() - before; got != want {
			t.Errorf("%s: %d transactions begun, want %d", name, got, want)
		}
	}
	begun("reads", 0, func() error {
		return s.InTx(ctx, func(tx core.Tx) error {
			if _, _, err := tx.Customers.CustomerByID(ctx, cust.ID); err != nil {
				return err
			}
			_, err := tx.Query.ListConversations(ctx, core.ConversationFilter{Contacts: 3, UnreadOf: "ann"})
			return err
		})
	})
	begun("a row lock", 1, func() error {
		return s.InTx(ctx, func(tx core.Tx) error { return tx.Customers.LockCustomer(ctx, cust.ID) })
	})
	begun("the relay's advisory lock", 1, func() error {
		_, err := s.ClaimEvents(ctx, 10, func([]core.OutboxEvent) error { return nil })
		return err
	})
	begun("a failed write after a read", 1, func() error {
		return s.InTx(ctx, func(tx core.Tx) error {
			if _, _, err := tx.Customers.CustomerByID(ctx, cust.ID); err != nil {
				return err
			}
			if _, _, err := tx.Customers.CreateCustomer(ctx, core.Customer{ID: "cust2", CreatedAt: at},
				core.Identity{Kind: "phone", Address: "+2"}); err != nil {
				return err
			}
			return errFailed
		})
	})
	if err := s.InTx(ctx, func(tx core.Tx) error {
		if _, ok, err := tx.Customers.CustomerByID(ctx, "cust2"); err != nil || ok {
			t.Errorf("the failed transaction's customer: found %v, %v", ok, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

var errFailed = errors.New("failed")
