package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore"
)

// browserTest skips unless GATEWAY_TEST_BROWSER=1 (CI sets it after
// installing Debian's chromium and the npm dependencies of browsertest/).
func browserTest(t *testing.T) string {
	dir, _ := filepath.Abs("../../connectors/webchat/browsertest")
	if os.Getenv("GATEWAY_TEST_BROWSER") != "1" {
		t.Skip("set GATEWAY_TEST_BROWSER=1 (needs /usr/bin/chromium and npm install in connectors/webchat/browsertest)")
	}
	return dir
}

// Web chat in headless Chromium, end to end: the demo page's widget sends a
// message (acknowledged only once Kafka has it), the core attaches it, an
// agent replies through the API, the outbox sends it over events.v1 to the
// instance holding the socket, the widget shows it, and the browser's
// receipt makes it delivered.
func TestBrowserChat(t *testing.T) {
	dir := browserTest(t)
	g := startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_API_TOKENS": "agent:agent-token"})
	// The page is served by the gateway; the test reaches it directly.
	url := "http://" + g.Addr() + "/chat/"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "chat.mjs", url, "Hello from Chromium", "30000")
	cmd.Dir = dir
	done := make(chan struct{})
	var out []byte
	var runErr error
	go func() { out, runErr = cmd.CombinedOutput(); close(done) }()

	evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
	rec := ofType(evs, "message.received")[0]
	msg := rec.Data["message"].(map[string]any)
	if msg["channel"] != "chat" || msg["text"] != "Hello from Chromium" {
		t.Fatalf("message.received %v", msg)
	}
	conv := rec.Data["conversation_id"].(string)
	if s, b := post(t, g, "/v1/conversations/"+conv+"/messages", []byte(`{"text":"Hi! How can I help?"}`),
		map[string]string{"Authorization": "Bearer agent-token", "Content-Type": "application/json"}); s != http.StatusAccepted {
		t.Fatalf("reply: %d %s", s, b)
	}
	<-done
	if runErr != nil {
		t.Fatalf("browser: %v\n%s", runErr, out)
	}
	var res struct {
		OK          bool   `json:"ok"`
		MessageID   string `json:"message_id"`
		Reply       string `json:"reply"`
		AfterReload []struct {
			Who, Text, Status string
		} `json:"after_reload"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || !res.OK || res.MessageID != msg["message_id"] || res.Reply != "Hi! How can I help?" {
		t.Fatalf("browser saw %s (%v)", out, err)
	}
	// After a reload the widget shows the conversation so far, the reply
	// as delivered.
	if got := fmt.Sprint(res.AfterReload); got != "[{visitor Hello from Chromium acked} {agent Hi! How can I help? delivered}]" {
		t.Fatalf("after the reload the widget shows %s", got)
	}
	consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.delivered") == 1 })
	// The browser's message is on inbound.v1 as a normalized message.received.
	in := consume(t, g, "gateway.inbound.v1", func(e []topicEvent) bool { return count(e, "message.received") >= 1 })
	if m := ofType(in, "message.received")[0]; m.Data["channel"] != "chat" || m.Data["text"] != "Hello from Chromium" || m.Data["provider"] != "webchat" {
		t.Fatalf("inbound.v1 %v", m.Data)
	}
}
