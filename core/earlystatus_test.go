package core_test

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// earlyStatuses counts the kept early statuses and their bytes.
func (e *env) earlyStatuses() (rows, bytes int) {
	e.t.Helper()
	if err := e.store.DB().QueryRow(`SELECT COUNT(*), COALESCE(SUM(LENGTH(provider_message_id) + LENGTH(status)), 0) FROM early_statuses`).Scan(&rows, &bytes); err != nil {
		e.t.Fatal(err)
	}
	return rows, bytes
}

func (e *env) status(st normalize.Status) {
	e.t.Helper()
	if _, err := e.svc.HandleInbound(ctx, []core.Inbound{{Status: &st}}); err != nil {
		e.t.Fatal(err)
	}
}

// Statuses for sends the gateway never made are bounded: 300 junk
// receipts with 16 KiB ids leave nothing, one id keeps a handful, and
// none outlives 24 hours.
func TestEarlyStatusesBounded(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		for i := range 300 {
			id := fmt.Sprintf("%d-%s", i, strings.Repeat("x", 16<<10))
			e.status(normalize.Status{Provider: "webchat", ProviderMessageID: id, MessageID: id, Channel: "chat", Status: "delivered"})
		}
		for range 50 {
			e.status(normalize.Status{Provider: "sendgrid", ProviderMessageID: "not-ours", Status: "delivered", ErrorMessage: strings.Repeat("e", 8<<10)})
		}
		if rows, bytes := e.earlyStatuses(); rows > 10 || bytes > 64<<10 {
			t.Fatalf("junk statuses left %d rows, %d bytes", rows, bytes)
		}
		// An early status older than a day is dropped, not applied.
		e.receive(sms("+14155550101", "hi"))
		conv := e.conversationOf("+14155550101")
		e.status(normalize.Status{Provider: "twilio", ProviderMessageID: "SMlate", Status: "delivered"})
		e.clock.Advance(25 * time.Hour)
		must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "hello"}, core.AgentActor("ann")))
		jobs := must[[]core.DispatchJob](t)(e.svc.DispatchQueue().Claim(ctx, time.Minute, 10))
		if err := e.svc.DispatchQueue().MarkSent(ctx, jobs[0], "twilio", "SMlate"); err != nil {
			t.Fatal(err)
		}
		msgs := must[[]core.StoredMessage](t)(e.svc.Messages(ctx, conv.ID))
		if got := msgs[len(msgs)-1]; got.Status != "sent" {
			t.Fatalf("a day-old early status was applied: %s", got.Status)
		}
		e.status(normalize.Status{Provider: "twilio", ProviderMessageID: "SMother", Status: "delivered"})
		if rows, _ := e.earlyStatuses(); rows != 1 {
			t.Fatalf("%d early statuses after a day, want only the new one", rows)
		}
	})
}

// Past the table's limit the oldest early status makes room for the new
// one, which still applies when its send is recorded.
func TestEarlyStatusesLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.store = sqltest.Open(t, dialect, sqlstore.WithClock(e.clock.Now), sqlstore.WithEarlyStatusLimit(20))
		e.svc = core.NewService(e.store, withDefaults(core.Policy{}), core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"},
			slog.New(slog.NewTextHandler(io.Discard, nil)), core.NewMetrics(nil))
		for i := range 50 {
			e.clock.Advance(time.Millisecond)
			e.status(normalize.Status{Provider: "sendgrid", ProviderMessageID: fmt.Sprintf("other-%d", i), Status: "delivered"})
		}
		if rows, _ := e.earlyStatuses(); rows != 20 {
			t.Fatalf("%d early statuses, want the limit of 20", rows)
		}
		e.receive(sms("+14155550101", "hi"))
		conv := e.conversationOf("+14155550101")
		must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "hello"}, core.AgentActor("ann")))
		e.clock.Advance(time.Millisecond)
		e.status(normalize.Status{Provider: "twilio", ProviderMessageID: "SMfast", Status: "delivered"})
		jobs := must[[]core.DispatchJob](t)(e.svc.DispatchQueue().Claim(ctx, time.Minute, 10))
		if err := e.svc.DispatchQueue().MarkSent(ctx, jobs[0], "twilio", "SMfast"); err != nil {
			t.Fatal(err)
		}
		msgs := must[[]core.StoredMessage](t)(e.svc.Messages(ctx, conv.ID))
		if got := msgs[len(msgs)-1]; got.Status != "delivered" {
			t.Fatalf("the early status of a full table: %s, want delivered", got.Status)
		}
		if rows, _ := e.earlyStatuses(); rows != 19 {
			t.Fatalf("%d early statuses after the send took its own, want 19", rows)
		}
	})
}
