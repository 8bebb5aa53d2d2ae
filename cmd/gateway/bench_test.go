package main

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core/sqlstore"
)

// BenchmarkTwilioWebhook measures the ingest path: signed webhook in,
// verified, normalized, raw and normalized records acknowledged by the
// embedded broker, 200 out. Client and server share the machine.
//
//	go test -run '^$' -bench TwilioWebhook -benchtime 20000x ./cmd/gateway
func BenchmarkTwilioWebhook(b *testing.B) {
	g := startBenchGateway(b)
	const path = "/webhooks/twilio/messaging"
	bodies := make([]string, 4096)
	sigs := make([]string, len(bodies))
	for i := range bodies {
		form := smsForm(fmt.Sprintf("SM%032d", i), fmt.Sprintf("+1415%07d", i), "benchmark message")
		bodies[i], sigs[i] = form.Encode(), twilio.Sign(testToken, testPublic+path, form)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	target := "http://" + g.Addr() + path
	var n atomic.Int64
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1) - 1
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(bodies[i%int64(len(bodies))]))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", sigs[i%int64(len(bodies))])
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
			if i < int64(len(lat)) {
				lat[i] = time.Since(start)
			}
		}
	})
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func startBenchGateway(b *testing.B) *Gateway {
	return startGateway(b, sqlstore.SQLite, map[string]string{"GATEWAY_ROLES": "ingest", "GATEWAY_LOG_LEVEL": "error"})
}
