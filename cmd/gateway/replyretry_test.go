package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// apiCall makes an operator API request as the agent ann and returns the
// status and body.
func apiCall(t *testing.T, g *Gateway, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+g.Addr()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer agent-token")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// replyOf returns a reply as GET /v1/conversations/{id}/messages shows it.
func replyOf(t *testing.T, g *Gateway, conv, id string) core.StoredMessage {
	t.Helper()
	var page struct{ Data []core.StoredMessage }
	getAs(t, g, "agent-token", "/v1/conversations/"+conv+"/messages", &page)
	for _, m := range page.Data {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("reply %s is not among the messages", id)
	return core.StoredMessage{}
}

// waitReply polls the reply until ok says it is as wanted.
func waitReply(t *testing.T, g *Gateway, conv, id string, ok func(core.StoredMessage) bool) core.StoredMessage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := replyOf(t, g, conv, id)
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			b, _ := json.Marshal(m)
			t.Fatalf("reply never got as wanted: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sendReply(t *testing.T, g *Gateway, conv, text string) string {
	t.Helper()
	status, body := apiCall(t, g, http.MethodPost, "/v1/conversations/"+conv+"/messages", `{"text":"`+text+`"}`)
	var out struct{ ID string }
	if status != http.StatusAccepted || json.Unmarshal([]byte(body), &out) != nil || out.ID == "" {
		t.Fatalf("reply: %d %s", status, body)
	}
	return out.ID
}

func attemptsOf(m core.StoredMessage) int {
	if m.Attempts == nil {
		return -1
	}
	return *m.Attempts
}

// A reply through the API to Twilio (a faithful fake) that keeps failing:
// while it waits for its next try it shows its attempts, the last error
// and when the next try is due; after GATEWAY_OUTBOX_MAX_ATTEMPTS it fails
// for good (max_attempts), and one whose next try would come after
// GATEWAY_OUTBOX_MAX_AGE fails at once (max_age). Each failure is a
// message.failed and a dead letter with the dlq-* headers. A reply Twilio
// refuses for good is sent once POST /v1/messages/{id}/retry queues it
// again, under the same id.
func TestFailedReplyShowsAttemptsAndIsRetried(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			fake := providertest.NewTwilio(t)
			g := startGateway(t, dialect, map[string]string{
				"TWILIO_ACCOUNT_SID": providertest.TwilioAccountSID, "TWILIO_AUTH_TOKEN": providertest.TwilioAuthToken,
				"TWILIO_API_URL": fake.URL, "GATEWAY_API_TOKENS": "agent:agent-token",
				"GATEWAY_OUTBOX_MAX_ATTEMPTS": "2", "GATEWAY_OUTBOX_MAX_AGE": "20s",
			})
			in := smsForm("SM00000000000000000000000000000001", "+14155550101", "Where is my parcel?")
			sig := twilio.Sign(providertest.TwilioAuthToken, testPublic+"/webhooks/twilio/messaging", in)
			if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", in, &sig); s != http.StatusOK {
				t.Fatalf("inbound: %d %s", s, b)
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
			conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)

			// Twilio answers 503 twice, the first time asking for 2 s.
			fake.FailNext(1, http.StatusServiceUnavailable, "", map[string]string{"Retry-After": "2"})
			fake.FailNext(1, http.StatusServiceUnavailable, "", nil)
			busy := sendReply(t, g, conv, "It ships today")
			m := waitReply(t, g, conv, busy, func(m core.StoredMessage) bool { return attemptsOf(m) == 1 })
			if m.Status != "queued" || m.LastError == nil || m.LastError.Code != "provider_unavailable" || m.LastError.ProviderCode != "20503" ||
				m.NextAttemptAt == nil || time.Until(*m.NextAttemptAt) < time.Second/2 {
				b, _ := json.Marshal(m)
				t.Fatalf("retrying reply %s", b)
			}
			m = waitReply(t, g, conv, busy, func(m core.StoredMessage) bool { return m.Status == "failed" })
			if attemptsOf(m) != 2 || m.Error == nil || m.Error.Code != "max_attempts" || m.LastError == nil || m.LastError.Code != "max_attempts" ||
				m.NextAttemptAt != nil {
				b, _ := json.Marshal(m)
				t.Fatalf("failed reply %s", b)
			}

			// A 429 asking for a minute: the next try would be past the 20 s max age.
			fake.FailNext(1, http.StatusTooManyRequests, "", map[string]string{"Retry-After": "60"})
			old := sendReply(t, g, conv, "Tracking: 1Z999")
			m = waitReply(t, g, conv, old, func(m core.StoredMessage) bool { return m.Status == "failed" })
			if attemptsOf(m) != 1 || m.Error == nil || m.Error.Code != "max_age" {
				b, _ := json.Marshal(m)
				t.Fatalf("reply past its max age %s", b)
			}

			// Refused for good (400), then fixed and retried: sent once, same id.
			fake.FailNext(1, http.StatusBadRequest, "", nil)
			refused := sendReply(t, g, conv, "Sorry for the wait")
			m = waitReply(t, g, conv, refused, func(m core.StoredMessage) bool { return m.Status == "failed" })
			if m.Error == nil || m.Error.Code != "send_failed" || m.Error.ProviderCode != "20400" {
				b, _ := json.Marshal(m)
				t.Fatalf("refused reply %s", b)
			}
			status, body := apiCall(t, g, http.MethodPost, "/v1/messages/"+refused+"/retry", "")
			if status != http.StatusAccepted || body != fmt.Sprintf(`{"id":%q,"status":"queued"}`, refused) {
				t.Fatalf("retry: %d %s", status, body)
			}
			m = waitReply(t, g, conv, refused, func(m core.StoredMessage) bool { return m.Status == "sent" })
			if attemptsOf(m) != 1 || m.LastError != nil || m.Error != nil || m.Message.ProviderMessageID == "" {
				b, _ := json.Marshal(m)
				t.Fatalf("retried reply %s", b)
			}
			if status, body := apiCall(t, g, http.MethodPost, "/v1/messages/"+refused+"/retry", ""); status != http.StatusConflict {
				t.Fatalf("retry of a sent reply: %d %s", status, body)
			}
			var sent []string
			for _, x := range fake.Messages() {
				sent = append(sent, x.Body)
			}
			if fmt.Sprint(sent) != "[Sorry for the wait]" {
				t.Fatalf("Twilio took %q, want the retried reply once", sent)
			}

			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 1 })
			var queued int
			for _, e := range ofType(evs, "message.queued") {
				if e.Data["message_id"] == refused {
					queued++
				}
			}
			if queued != 2 || count(evs, "message.failed") != 3 {
				t.Fatalf("%d message.queued of the retried reply (want 2), %d message.failed (want 3)", queued, count(evs, "message.failed"))
			}
			dead := consume(t, g, "gateway.dlq.v1", func(e []topicEvent) bool { return len(e) == 3 })
			var reasons []string
			for _, d := range dead {
				h := d.Headers
				if h["dlq-topic"] != kafkabus.OutboxSource || h["dlq-partition"] != "-1" || h["dlq-offset"] != "-1" || h["dlq-error"] == "" || d.Key != conv ||
					h["content-type"] != "application/json" {
					t.Fatalf("dead letter headers %v key %s", h, d.Key)
				}
				reasons = append(reasons, h["dlq-reason"])
			}
			if fmt.Sprint(reasons) != "[max_attempts max_age send_failed]" {
				t.Fatalf("dead letter reasons %v", reasons)
			}
		})
	}
}

// Without TWILIO_ACCOUNT_SID the Twilio sender is off and the start log
// says so (naming the variable, never a secret); the Twilio webhooks still
// take messages (they need only TWILIO_AUTH_TOKEN). A reply on SMS is
// refused with 422 channel_unavailable by the API, and a reply command on
// outbound.v1 or commands.v1 is refused with that code; nothing is queued.
func TestReplyOnSenderOffIsRefused(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			_, cfg := testConfig(t, dialect, map[string]string{"GATEWAY_HTTP_ADDR": "127.0.0.1:0",
				"GATEWAY_EMBEDDED_KAFKA_ADDR": "127.0.0.1:0", "GATEWAY_DATA_DIR": t.TempDir()},
				map[string]string{"TWILIO_ACCOUNT_SID": "", "GATEWAY_API_TOKENS": "agent:agent-token", "GATEWAY_LOG_LEVEL": "info"})
			var logs lockedBuffer
			g, err := start(context.Background(), cfg, &logs)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { g.Close() })
			out := logs.String()
			if !strings.Contains(out, `"msg":"sender off: twilio sms/mms/whatsapp: TWILIO_ACCOUNT_SID missing"`) ||
				strings.Contains(out, testToken) {
				t.Fatalf("start log does not say the Twilio sender is off (or shows the token):\n%s", out)
			}

			in := smsForm("SM00000000000000000000000000000001", "+14155550101", "Hello?")
			if s, b := postTwilio(t, g, "/webhooks/twilio/messaging", in, nil); s != http.StatusOK {
				t.Fatalf("inbound: %d %s", s, b)
			}
			evs := consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 1 })
			conv := ofType(evs, "message.received")[0].Data["conversation_id"].(string)

			status, body := apiCall(t, g, http.MethodPost, "/v1/conversations/"+conv+"/messages", `{"text":"Hi"}`)
			if status != http.StatusUnprocessableEntity || !strings.Contains(body, `"code":"channel_unavailable"`) ||
				!strings.Contains(body, "TWILIO_ACCOUNT_SID missing") {
				t.Fatalf("reply: %d %s", status, body)
			}
			cmd, _ := json.Marshal(map[string]any{"id": "cmd-1", "conversation_id": conv, "text": "Hi"})
			bot, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": "cmd-2", "source": "/bots/triage", "type": "message.send",
				"time": "2026-11-30T12:00:00Z", "datacontenttype": "application/json", "data": map[string]any{"conversation_id": conv, "text": "Hi"}})
			if err := g.producer.Produce(context.Background(),
				kafkabus.Record{Topic: "gateway.outbound.v1", Key: []byte(conv), Value: cmd},
				kafkabus.Record{Topic: "gateway.commands.v1", Key: []byte(conv), Value: bot}); err != nil {
				t.Fatal(err)
			}
			dead := consume(t, g, "gateway.dlq.v1", func(e []topicEvent) bool { return len(e) == 2 })
			for _, d := range dead {
				if d.Headers["dlq-reason"] != core.ECHANNELUNAVAILABLE {
					t.Fatalf("dead letter headers %v", d.Headers)
				}
			}
			evs = consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "command.failed") == 1 })
			if f := ofType(evs, "command.failed")[0].Data; f["code"] != core.ECHANNELUNAVAILABLE {
				t.Fatalf("command.failed %v", f)
			}
			if n := count(evs, "message.queued"); n != 0 {
				t.Fatalf("%d replies queued on a channel whose sender is off", n)
			}
		})
	}
}
