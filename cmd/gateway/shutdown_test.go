package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/config"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Stopping (what SIGTERM does through run's context) commits offsets and
// flushes the embedded broker: a gateway restarted on the same data dir has
// the events, and does not process the messages again.
func TestShutdownAndRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"GATEWAY_HTTP_ADDR": freePort(t), "GATEWAY_EMBEDDED_KAFKA_ADDR": freePort(t), "GATEWAY_DATA_DIR": dir,
		"GATEWAY_PUBLIC_URL": testPublic, "KAFKA_PARTITIONS": "2", "TWILIO_AUTH_TOKEN": testToken, "GATEWAY_LOG_LEVEL": "warn",
	}
	runOnce := func(work func(g *Gateway)) {
		cfg, err := config.Load(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		var g *Gateway
		started := make(chan struct{})
		go func() {
			var err error
			g, err = start(ctx, cfg, io.Discard)
			close(started)
			if err != nil {
				done <- err
				return
			}
			<-ctx.Done()
			done <- g.Close()
		}()
		<-started
		if g == nil {
			t.Fatal(<-done)
		}
		work(g)
		cancel() // SIGTERM
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("shutdown: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("shutdown hung")
		}
	}
	events := "gateway.events.v1"
	runOnce(func(g *Gateway) {
		for i, sid := range []string{"SM00000000000000000000000000000001", "SM00000000000000000000000000000002"} {
			if s, _ := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm(sid, "+14155550101", "m"+string(rune('0'+i))), nil); s != http.StatusOK {
				t.Fatalf("post: %d", s)
			}
		}
		consume(t, g, events, func(e []topicEvent) bool { return count(e, "message.received") == 2 })
	})
	// customer.created, conversation.created, two message.received and the
	// contact.started of the first.
	runOnce(func(g *Gateway) {
		consume(t, g, events, func(e []topicEvent) bool { return len(e) >= 5 })
		time.Sleep(500 * time.Millisecond) // room for a wrongful redelivery to show
		if m := get(t, g, "/metrics"); strings.Contains(m, "gateway_core_messages_total{") {
			t.Errorf("the restarted core processed messages again:\n%s", grepLines(m, "gateway_core_messages_total"))
		}
		evs := consume(t, g, events, func(e []topicEvent) bool { return len(e) >= 5 })
		if len(evs) != 5 || count(evs, "message.received") != 2 || count(evs, "contact.started") != 1 {
			t.Fatalf("after restart events.v1 holds %v", typesOf(evs))
		}
	})
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
