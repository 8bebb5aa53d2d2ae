package outbox_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
	"github.com/opengateway/gateway/outbox"
)

// BenchmarkDispatch measures sends per second through the real Twilio sender
// against a fake Twilio that answers in 50 ms, one reply per conversation.
//
//	GATEWAY_TEST_DATABASE_URL=... go test -run '^$' -bench Dispatch -benchtime 3000x ./outbox
func BenchmarkDispatch(b *testing.B) {
	for _, dialect := range sqltest.Dialects {
		b.Run(dialect, func(b *testing.B) {
			fake := providertest.NewTwilio(b)
			fake.SetLatency(50 * time.Millisecond)
			tw, err := twilio.NewSender(twilio.SenderConfig{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken,
				BaseURL: fake.URL, UserAgent: "gateway/1.0.0"})
			if err != nil {
				b.Fatal(err)
			}
			e := &env{store: sqltest.Open(b, dialect)}
			e.svc = core.NewService(e.store, core.Policy{ReopenWindow: time.Hour, AutoCloseAfter: time.Hour},
				core.EventTopics{Events: "events", DLQ: "dlq"}, discard(), core.NewMetrics(nil))
			repliesWaiting(b, e.svc, b.N)
			d := outbox.New(e.svc.DispatchQueue(), map[string]outbox.Sender{"twilio": tw}, outbox.Config{Workers: 128, Poll: 10 * time.Millisecond}, discard(), nil)
			b.ResetTimer()
			c, cancel := contextWithCancel()
			done := make(chan struct{})
			go func() { d.Run(c); close(done) }()
			for fake.Accepted() < b.N {
				time.Sleep(5 * time.Millisecond)
			}
			b.StopTimer()
			cancel()
			<-done
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
		})
	}
}

// repliesWaiting has n customers write one SMS each, in batches of 500,
// and queues one reply to each of their conversations.
func repliesWaiting(tb testing.TB, svc *core.Service, n int) {
	tb.Helper()
	var batch []core.Inbound
	for i := 0; i < n; i++ {
		m := normalize.Message{MessageID: normalize.NewID(), Channel: "sms", Provider: "twilio", ProviderMessageID: fmt.Sprintf("IN%d", i),
			Direction: normalize.Inbound, From: normalize.Party{Kind: "phone", Address: fmt.Sprintf("+1415%07d", i)},
			To: normalize.Party{Kind: "phone", Address: "+15558675310"}, Text: "hi", ReceivedAt: time.Now()}
		batch = append(batch, core.Inbound{Message: &m})
		if len(batch) == 500 || i == n-1 {
			if _, err := svc.HandleInbound(ctx, batch); err != nil {
				tb.Fatal(err)
			}
			batch = nil
		}
	}
	convs, err := svc.ListConversations(ctx, core.ConversationFilter{Limit: n})
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range convs {
		if _, err := svc.Reply(ctx, c.ID, core.ReplyRequest{Text: "on its way"}, core.AgentActor("bench")); err != nil {
			tb.Fatal(err)
		}
	}
}
