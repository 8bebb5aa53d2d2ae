package core_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// BenchmarkHandleInbound measures the core's attach path: batches of 500
// inbound messages, one transaction per batch, as the consumer applies
// them; repeat1000 from 1,000 customers repeated, new80 with four messages
// in five from a customer never seen before (the others from 1,000
// returning ones).
//
//	GATEWAY_TEST_DATABASE_URL=... go test -run '^$' -bench HandleInbound -benchtime 20000x ./core
func BenchmarkHandleInbound(b *testing.B) {
	senders := map[string]func(i int) string{
		"repeat1000": func(i int) string { return fmt.Sprintf("+1415%07d", i%1000) },
		"new80": func(i int) string {
			if i%5 == 0 {
				return fmt.Sprintf("+1415%07d", i%1000)
			}
			return fmt.Sprintf("+1416%07d", i)
		},
	}
	for _, dialect := range sqltest.Dialects {
		for _, mix := range []string{"repeat1000", "new80"} {
			b.Run(dialect+"/"+mix, func(b *testing.B) { benchInbound(b, dialect, senders[mix]) })
		}
	}
}

// benchInbound handles b.N messages, message i from sender(i).
func benchInbound(b *testing.B, dialect string, sender func(i int) string) {
	e := newBenchEnv(b, dialect)
	batch := benchBatch()
	msgs := make([]core.Inbound, 0, batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelSMS, Provider: "twilio",
			ProviderMessageID: fmt.Sprintf("SMb%031d", i), Direction: normalize.Inbound,
			From: normalize.Party{Kind: normalize.KindPhone, Address: sender(i)},
			To:   normalize.Party{Kind: normalize.KindPhone, Address: "+15558675310"}, Text: "benchmark"}
		msgs = append(msgs, core.Inbound{Message: &m})
		if len(msgs) == batch || i == b.N-1 {
			if _, err := e.svc.HandleInbound(ctx, msgs); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// benchBatch is the batch size of BenchmarkHandleInbound (GATEWAY_BENCH_BATCH, default 500).
func benchBatch() int {
	if n, err := strconv.Atoi(os.Getenv("GATEWAY_BENCH_BATCH")); err == nil && n > 0 {
		return n
	}
	return 500
}
