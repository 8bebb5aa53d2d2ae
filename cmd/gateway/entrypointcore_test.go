package main

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// windowsFile gives support-uk a reopen window and an auto-close of its
// own; support-us has neither.
const windowsFile = `entry_points:
  - id: support-us
    provider: twilio
    address: "+15558675310"
  - id: support-uk
    provider: twilio
    address: "+447700900123"
    reopen_window: 72h
    auto_close_after: 1ms
`

// The reopen_window and auto_close_after of the entry points file reach
// the core: with no global reopen window (GATEWAY_REOPEN_WINDOW=0s) the
// uk customer's message after close reopens the conversation while the us
// customer's starts a new one; a waiting uk conversation auto-closes after
// its 1ms, the us one waits for the global 96h.
func TestEntryPointWindowsEndToEnd(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			path := entryPointsFile(t, windowsFile)
			g := startGateway(t, dialect, map[string]string{"GATEWAY_ENTRY_POINTS": path, "GATEWAY_REOPEN_WINDOW": "0s"})
			ctx := context.Background()
			n := 0
			send := func(from, to string) core.Conversation {
				t.Helper()
				n++
				form := smsForm("SM000000000000000000000000000b"+string(rune('0'+n/10))+string(rune('0'+n%10)), from, "hello")
				form.Set("To", to)
				sig := twilio.Sign(testToken, testPublic+"/webhooks/twilio/messaging", form)
				if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", form, &sig); s != http.StatusOK {
					t.Fatalf("webhook: %d %s", s, b)
				}
				consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == n })
				cust, err := g.service.Customers().FindCustomer(ctx, from)
				if err != nil {
					t.Fatal(err)
				}
				convs, err := g.service.ListConversations(ctx, core.ConversationFilter{CustomerID: cust.ID, Limit: 10})
				if err != nil || len(convs) == 0 {
					t.Fatalf("conversations of %s: %v %v", from, convs, err)
				}
				return convs[0]
			}
			set := func(c core.Conversation, status string) {
				t.Helper()
				if _, err := g.service.SetStatus(ctx, c.ID, status, "", core.AdminActor("ops")); err != nil {
					t.Fatal(err)
				}
			}
			us, uk := send(usCustomer, usBusiness), send(ukCustomer, ukBusiness)
			set(us, core.StatusClosed)
			set(uk, core.StatusClosed)
			if again := send(usCustomer, usBusiness); again.ID == us.ID {
				t.Errorf("support-us reopened its conversation with no reopen window")
			}
			again := send(ukCustomer, ukBusiness)
			if again.ID != uk.ID || again.Status != core.StatusNew {
				t.Fatalf("support-uk: conversation %s %s, want %s reopened", again.ID, again.Status, uk.ID)
			}
			us = send(usCustomer, usBusiness)
			set(us, core.StatusWaiting)
			set(uk, core.StatusWaiting)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if _, err := g.service.AutoClose(ctx); err != nil {
					t.Fatal(err)
				}
				if c, err := g.service.Conversation(ctx, uk.ID); err != nil || c.Status == core.StatusClosed {
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("support-uk conversation still %s", c.Status)
				}
			}
			if c, err := g.service.Conversation(ctx, us.ID); err != nil || c.Status != core.StatusWaiting {
				t.Fatalf("support-us conversation: %+v %v, want waiting", c.Status, err)
			}
		})
	}
}

// Webhooks to two entry points are counted under each one's id, by the
// ingest (messages by connector) and by the core (messages by result);
// every entry_point label is an id of the file, a derived id or other.
func TestMetricsByEntryPoint(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g, _ := startTwoAccounts(t, dialect)
			postToTwoAccounts(t, g)
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 2 })
			for _, ep := range []string{usEntryPoint, ukEntryPoint} {
				waitMetric(t, g, `gateway_webhook_events_total{connector="twilio_messaging",entry_point="`+ep+`",type="message.received"} 1`+"\n")
				waitMetric(t, g, `gateway_core_messages_total{entry_point="`+ep+`",result="created"} 1`+"\n")
			}
			allowed := append(core.DerivedEntryPoints(), usEntryPoint, ukEntryPoint, core.EntryPointOther)
			label := regexp.MustCompile(`entry_point="([^"]*)"`)
			for _, l := range strings.Split(get(t, g, "/metrics"), "\n") {
				if strings.HasPrefix(l, "#") {
					continue
				}
				if m := label.FindStringSubmatch(l); m != nil && !slices.Contains(allowed, m[1]) {
					t.Errorf("an entry_point label no entry point has: %s", l)
				}
			}
		})
	}
}
