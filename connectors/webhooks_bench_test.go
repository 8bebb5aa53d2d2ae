package connectors_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/kafkabus"
)

// discard is a Publisher that takes every record at once, so the benchmark
// measures the webhook path alone.
type discard struct{ n int }

func (d *discard) Produce(_ context.Context, recs ...kafkabus.Record) error {
	for _, r := range recs {
		d.n += len(r.Value)
	}
	return nil
}

// twilioHandler returns a function that sends the i-th of 256 signed Twilio
// SMS webhooks through the fiber handler (verify, normalize, build the raw
// and inbound records), without the network or Kafka, and returns the
// status; and the publisher the records went to. Their bodies are streamed,
// as the server (StreamRequestBody) hands them to the handler.
func twilioHandler() (func(i int) int, *discard) {
	const token, public = "bench-token", "https://gw.example.com"
	app := connectors.NewApp(connectors.Config{PublicURL: public, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	pub := &discard{}
	wh := connectors.NewIngest(pub, kafkabus.Topics{Prefix: "gateway."}, public, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	wh.Mount(app, webhook.Route{Name: "twilio_messaging", Path: twilio.MessagingPath, Methods: []string{http.MethodPost},
		Handler: twilio.Messaging{Verifier: twilio.NewVerifier(token)}})
	h := app.Handler()

	bodies := make([][]byte, 256)
	sigs := make([]string, len(bodies))
	for i := range bodies {
		form := url.Values{
			"MessageSid": {fmt.Sprintf("SM%032d", i)}, "AccountSid": {"ACbench"}, "From": {fmt.Sprintf("+1415%07d", i)},
			"To": {"+15558675310"}, "Body": {"benchmark message"}, "NumMedia": {"0"}, "ApiVersion": {"2010-04-01"},
		}
		bodies[i] = []byte(form.Encode())
		sigs[i] = twilio.Sign(token, public+twilio.MessagingPath, form)
	}
	var ctx fasthttp.RequestCtx
	var stream bytes.Reader
	return func(i int) int {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod(http.MethodPost)
		ctx.Request.SetRequestURI(twilio.MessagingPath)
		ctx.Request.Header.SetHost("gw.example.com")
		ctx.Request.Header.SetContentType("application/x-www-form-urlencoded")
		ctx.Request.Header.Set("X-Twilio-Signature", sigs[i%len(sigs)])
		ctx.Request.Header.Set("User-Agent", "TwilioProxy/1.1")
		body := bodies[i%len(bodies)]
		stream.Reset(body)
		ctx.Request.SetBodyStream(&stream, len(body))
		h(&ctx)
		return ctx.Response.StatusCode()
	}, pub
}

// BenchmarkTwilioHandler measures one signed Twilio SMS webhook through the
// fiber handler without the network or Kafka; allocations per request are
// the figure to watch.
//
//	go test -run '^$' -bench TwilioHandler -benchmem ./connectors
func BenchmarkTwilioHandler(b *testing.B) {
	send, pub := twilioHandler()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st := send(i); st != http.StatusOK {
			b.Fatalf("status %d", st)
		}
	}
	b.StopTimer()
	if pub.n == 0 {
		b.Fatal("nothing published")
	}
}

// maxWebhookAllocs bounds the allocations of one Twilio webhook through the
// handler (100 before the ingest work, 54 before the form parser, the
// pooled signing buffers and Encoded on bytes, 40 after them, 37 once the
// message was encoded without encoding/json's reflection, 33 once the
// requests of a slot shared one deadline, 29 once edge.Encoded peeked at
// Content-Encoding instead of walking every header, 27 since the raw
// record's header list and the record list are pooled with its bytes, 25
// once normalize.NewID made its ids without github.com/google/uuid, 22
// since the URL of a request to the route's path is the route's, the form
// content type a constant and the message no longer copied into an
// interface value; with the body streamed as the server streams it, 23
// before the handler kept the buffer the body was read into instead of a
// copy of it, edge.ReadOwnBody): a change that adds allocations to the hot path fails
// here, not in a benchmark nobody reads.
const maxWebhookAllocs = 22

func TestWebhookAllocationsStayLow(t *testing.T) {
	send, pub := twilioHandler()
	i := 0
	allocs := testing.AllocsPerRun(500, func() {
		if st := send(i); st != http.StatusOK {
			t.Fatalf("status %d", st)
		}
		i++
	})
	if pub.n == 0 {
		t.Fatal("nothing published")
	}
	t.Logf("%.1f allocations per webhook", allocs)
	if allocs > maxWebhookAllocs {
		t.Errorf("%.1f allocations per webhook, more than %d", allocs, maxWebhookAllocs)
	}
}
