package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// The relay takes the outbox in the order its events were written, a
// failed publish leaves every event of the claim for the next one, and a
// claim is one statement besides the turn's lock (it was a read and a
// delete per 500 events).
func TestClaimEventsInOrderKeptOnFailure(t *testing.T) {
	ctx := context.Background()
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			s := sqltest.Open(t, dialect)
			for tx := range 3 {
				err := s.InTx(ctx, func(x core.Tx) error {
					var evs []core.OutboxEvent
					for i := range 400 {
						evs = append(evs, core.OutboxEvent{Topic: "events", Key: "k", Value: fmt.Appendf(nil, "%d-%03d", tx, i)})
					}
					return x.AddEvents(ctx, evs...)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			refused := errors.New("broker down")
			n, err := s.ClaimEvents(ctx, 1000, func([]core.OutboxEvent) error { return refused })
			if !errors.Is(err, refused) || n != 0 {
				t.Fatalf("failed publish: %d, %v", n, err)
			}
			var got []string
			statements := s.Statements()
			n, err = s.ClaimEvents(ctx, 1000, func(evs []core.OutboxEvent) error {
				for _, e := range evs {
					got = append(got, string(e.Value))
				}
				return nil
			})
			if err != nil || n != 1000 {
				t.Fatalf("claim: %d, %v", n, err)
			}
			want := 1
			if dialect == "postgres" {
				want = 2 // and the lock
			}
			if sent := s.Statements() - statements; sent != int64(want) {
				t.Errorf("a claim of 1,000 events took %d statements, want %d", sent, want)
			}
			n, err = s.ClaimEvents(ctx, 1000, func(evs []core.OutboxEvent) error {
				for _, e := range evs {
					got = append(got, string(e.Value))
				}
				return nil
			})
			if err != nil || n != 200 {
				t.Fatalf("second claim: %d, %v", n, err)
			}
			for i, v := range got {
				if want := fmt.Sprintf("%d-%03d", i/400, i%400); v != want {
					t.Fatalf("event %d is %s, want %s", i, v, want)
				}
			}
		})
	}
}
