package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore"
)

// inboundSMS is one message a provider had a 2xx for.
type inboundSMS struct{ sid, from, text string }

var spoolContacts = []string{"+14155550101", "+14155550102", "+14155550103"}

// postSMS posts message number i (from one of three contacts, in turn) and
// requires a 200.
func postSMS(t *testing.T, g *Gateway, i int) inboundSMS {
	t.Helper()
	m := inboundSMS{sid: fmt.Sprintf("SM%032d", i), from: spoolContacts[i%len(spoolContacts)], text: fmt.Sprintf("m%03d", i)}
	status, body := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm(m.sid, m.from, m.text), nil)
	if status != http.StatusOK {
		t.Fatalf("message %d: %d %s, want 200", i, status, body)
	}
	return m
}

// restartBroker starts a new embedded broker on the stopped one's data dir
// and address.
func restartBroker(t *testing.T, g *Gateway, addr string) {
	t.Helper()
	b, err := kafkabus.StartEmbedded(g.cfg.DataDir, addr, g.cfg.KafkaPartitions)
	if err != nil {
		t.Fatal(err)
	}
	g.embedded = b // closed with the gateway
}

func waitMetric(t *testing.T, g *Gateway, line string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(get(t, g, "/metrics"), line) {
		if time.Now().After(deadline) {
			family, _, _ := strings.Cut(line, "{")
			t.Fatalf("/metrics never showed %q:\n%s", line, grepLines(get(t, g, "/metrics"), family))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// With the broker down, signed webhooks are answered 200 from the spool and
// /readyz says spooling; once a broker answers again on the same data dir,
// every message is on events.v1 once, in order per contact.
func TestKafkaDownSpools(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, nil)
	var sent []inboundSMS
	for i := range 3 {
		sent = append(sent, postSMS(t, g, i))
	}
	consume(t, g, g.cfg.TopicPrefix+"events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 3 })

	addr := g.embedded.Addr()
	g.embedded.Close()
	for i := 3; i < 15; i++ {
		sent = append(sent, postSMS(t, g, i))
	}
	if got := get(t, g, "/readyz"); !strings.HasPrefix(got, "200") || !strings.Contains(got, `"kafka":"spooling"`) {
		t.Fatalf("readyz with Kafka down: %s, want 200 with kafka spooling", got)
	}
	m := get(t, g, "/metrics")
	for _, want := range []string{
		`gateway_spool_records 24`, // raw.v1 and inbound.v1 per webhook
		`gateway_spool_records_total{result="spooled"} 24`,
		`gateway_spool_records_total{result="refused"} 0`,
		`gateway_webhook_requests_total{connector="twilio_messaging",outcome="accepted"} 15`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(m, "gateway_spool_oldest_age_seconds") || strings.Contains(m, "gateway_spool_oldest_age_seconds 0\n") {
		t.Errorf("oldest age not reported:\n%s", grepLines(m, "gateway_spool"))
	}

	restartBroker(t, g, addr)
	for i := 15; i < 20; i++ { // behind the spooled ones, or direct once it is empty
		sent = append(sent, postSMS(t, g, i))
	}
	waitMetric(t, g, "gateway_spool_records 0\n")
	if got := get(t, g, "/readyz"); !strings.HasPrefix(got, "200") || !strings.Contains(got, `"kafka":"ok"`) {
		t.Errorf("readyz after the drain: %s", got)
	}
	checkAccounting(t, g, sent)
	if m := get(t, g, "/metrics"); !strings.Contains(m, `gateway_spool_records_total{result="corrupt"} 0`) {
		t.Errorf("corrupt frames counted:\n%s", grepLines(m, "gateway_spool"))
	}
}

// Records still spooled when the gateway stops are drained by the next
// start on the same data dir.
func TestSpoolSurvivesGatewayRestart(t *testing.T) {
	extra := map[string]string{"GATEWAY_DATA_DIR": t.TempDir(), "GATEWAY_EMBEDDED_KAFKA_ADDR": freePort(t)}
	g := startGateway(t, sqlstore.SQLite, extra)
	var sent []inboundSMS
	for i := range 2 {
		sent = append(sent, postSMS(t, g, i))
	}
	consume(t, g, g.cfg.TopicPrefix+"events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 2 })
	g.embedded.Close()
	for i := 2; i < 10; i++ {
		sent = append(sent, postSMS(t, g, i))
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := filepath.Glob(filepath.Join(extra["GATEWAY_DATA_DIR"], "spool", "*.seg")); len(segs) == 0 {
		t.Fatal("no spool segment left after stopping with Kafka down")
	}

	g = startGateway(t, sqlstore.SQLite, extra)
	waitMetric(t, g, "gateway_spool_records 0\n")
	checkAccounting(t, g, sent)
	if segs, _ := filepath.Glob(filepath.Join(extra["GATEWAY_DATA_DIR"], "spool", "*.seg")); len(segs) != 0 {
		t.Errorf("drained segments left: %v", segs)
	}
}

// A full spool answers 503, as Kafka being down did before the spool.
func TestFullSpoolAnswers503(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_SPOOL_MAX_BYTES": "1048576"})
	g.embedded.Close()
	// Fill the spool past its megabyte with one large record.
	if err := g.spool.Append(kafkabus.Record{Topic: "gateway.raw.v1", Value: make([]byte, 1<<20-100)}); err != nil {
		t.Fatal(err)
	}
	status, body := postTwilio(t, g, "/webhooks/twilio/messaging", smsForm("SM00000000000000000000000000000001", "+14155550101", "hi"), nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"unavailable"`) {
		t.Fatalf("with the spool full: %d %s, want 503", status, body)
	}
	if got := get(t, g, "/readyz"); !strings.HasPrefix(got, "503") || !strings.Contains(got, `"kafka":"failing"`) {
		t.Fatalf("readyz with Kafka down and the spool full: %s", got)
	}
	if m := get(t, g, "/metrics"); !strings.Contains(m, `gateway_spool_records_total{result="refused"} 2`) {
		t.Errorf("refused records not counted:\n%s", grepLines(m, "gateway_spool"))
	}
}

// The web chat's consumer group is the instance's: the same after a restart
// on the same data dir, or named by GATEWAY_INSTANCE_ID.
func TestChatGroupIsStablePerInstance(t *testing.T) {
	dir := t.TempDir()
	extra := map[string]string{"GATEWAY_DATA_DIR": dir, "GATEWAY_EMBEDDED_KAFKA_ADDR": freePort(t)}
	groupOf := func(g *Gateway) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "instance-id"))
		if err != nil {
			t.Fatal(err)
		}
		group := chatGroup(strings.TrimSpace(string(b)))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.embedded.WaitGroupStable(ctx, group, 1); err != nil {
			t.Fatalf("chat group %s: %v", group, err)
		}
		return group
	}
	g := startGateway(t, sqlstore.SQLite, extra)
	first := groupOf(g)
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	g = startGateway(t, sqlstore.SQLite, extra)
	if again := groupOf(g); again != first {
		t.Fatalf("chat group after restart %s, want %s", again, first)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}

	extra["GATEWAY_INSTANCE_ID"] = "ingest-7"
	g = startGateway(t, sqlstore.SQLite, extra)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.embedded.WaitGroupStable(ctx, "gateway-chat-ingest-7", 1); err != nil {
		t.Fatalf("GATEWAY_INSTANCE_ID=ingest-7: %v", err)
	}
}

// waitMetricSum waits until the samples of a metric family whose labels
// contain label add up to want (whatever their other labels, such as
// entry_point).
func waitMetricSum(t *testing.T, g *Gateway, family, label string, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := get(t, g, "/metrics")
		sum := 0.0
		for _, l := range strings.Split(m, "\n") {
			name, rest, ok := strings.Cut(l, "{")
			if !ok || name != family || !strings.Contains(rest, label) {
				continue
			}
			if v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64); err == nil {
				sum += v
			}
		}
		if sum == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %s{%s} adding up to %v:\n%s", family, label, want, grepLines(m, family))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
