package sqlstore_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// On PostgreSQL a batch of 700 inbound messages sends only statement texts
// a batch of 3 sends too, from new customers and from returning ones: a
// bulk statement takes its rows as arrays, so its text, which PostgreSQL
// parses and plans (once per connection, pgx preparing it), does not
// depend on the number of rows, nor its parameters, which pgx encodes one
// by one, on the number of values.
func TestBulkStatementTextsDoNotDependOnTheBatch(t *testing.T) {
	clock := sqltest.NewClock()
	store := sqltest.Open(t, sqlstore.Postgres, sqlstore.WithClock(clock.Now))
	svc := core.NewService(store, core.Policy{ReopenWindow: 72 * time.Hour, AutoCloseAfter: 96 * time.Hour},
		core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"},
		slog.New(slog.NewTextHandler(io.Discard, nil)), core.NewMetrics(nil))
	var mu sync.Mutex
	var texts map[string]bool
	maxArgs := 0
	sqlstore.OnRead(func(q string, args []any) {
		mu.Lock()
		defer mu.Unlock()
		texts[q] = true
		maxArgs = max(maxArgs, len(args))
	})
	defer sqlstore.OnRead(nil)
	n := 0
	batch := func(first, size int) map[string]bool {
		t.Helper()
		mu.Lock()
		texts, maxArgs = map[string]bool{}, 0
		mu.Unlock()
		var in []core.Inbound
		for i := first; i < first+size; i++ {
			n++
			m := normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelSMS, Provider: "twilio",
				ProviderMessageID: fmt.Sprintf("SMbulk%026d", n), Direction: normalize.Inbound,
				From: normalize.Party{Kind: normalize.KindPhone, Address: fmt.Sprintf("+1415999%04d", i)},
				To:   normalize.Party{Kind: normalize.KindPhone, Address: "+15558675310"}, Text: "hi"}
			in = append(in, core.Inbound{Message: &m})
		}
		if _, err := svc.HandleInbound(context.Background(), in); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if maxArgs > 40 {
			t.Errorf("a batch of %d sent a statement of %d parameters", size, maxArgs)
		}
		return texts
	}
	compare := func(step string, small, large map[string]bool) {
		t.Helper()
		var extra []string
		for q := range large {
			if !small[q] {
				extra = append(extra, strings.Join(strings.Fields(q), " "))
			}
		}
		sort.Strings(extra)
		for _, q := range extra {
			t.Errorf("%s: a batch of 700 sent a statement a batch of 3 did not: %.300s", step, q)
		}
	}
	small := batch(0, 3)
	compare("new customers", small, batch(3, 700))
	clock.Advance(time.Minute)
	small = batch(0, 3)
	compare("returning customers", small, batch(3, 700))
}
