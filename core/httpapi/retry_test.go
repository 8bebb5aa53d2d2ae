package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// failReply queues a reply on a conversation through the API and fails it
// for good as the dispatcher does after its last attempt; it returns the
// reply's id.
func (e *apiEnv) failReply(t *testing.T, svc *core.Service, convID string) string {
	t.Helper()
	m, err := svc.Reply(context.Background(), convID, core.ReplyRequest{Text: "Your refund is on its way"}, "agent:ann")
	if err != nil {
		t.Fatal(err)
	}
	j := core.DispatchJob{MessageID: m.ID, ConversationID: convID, Attempts: 2, Payload: []byte(`{}`)}
	derr := core.DeliveryError{Code: "max_attempts", Message: "3 attempts failed; the last: Service Unavailable", ProviderCode: "20503"}
	if err := svc.DispatchQueue().MarkFailed(context.Background(), j, derr); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// reply returns one message of a conversation as GET …/messages shows it.
func reply(t *testing.T, r resp, id string) core.StoredMessage {
	t.Helper()
	var page struct{ Data []core.StoredMessage }
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	for _, m := range page.Data {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("message %s is not in %s", id, r.body)
	return core.StoredMessage{}
}

// retryScenario: a reply that failed for good shows its attempts and last
// error; POST /v1/messages/{id}/retry queues the same message again (202),
// with no attempts and no error and its next attempt due; a reply that is
// not failed is 409; an unknown message, a customer's message and a reply
// the caller does not see are 404.
func (e *apiEnv) retryScenario(t *testing.T, ids map[string]string) {
	t.Helper()
	e.receive(sms("+14155550177", "Where is my refund?"))
	_, ids["convR"] = e.customer("+14155550177")
	ids["failed"] = e.failReply(t, e.svc, ids["convR"])
	ids["inboundR"] = func() string {
		r := e.do("GET", "/v1/conversations/"+ids["convR"]+"/messages", agentToken, nil)
		var page struct{ Data []core.StoredMessage }
		_ = json.Unmarshal(r.body, &page)
		return page.Data[0].ID
	}()
	const ag, ad = agentToken, adminToken
	e.run(t, []step{
		{name: "failed reply shows its attempts", method: "GET", path: "/v1/conversations/{convR}/messages", token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				m := reply(t, r, ids["failed"])
				if m.Status != "failed" || m.Attempts == nil || *m.Attempts != 3 || m.LastError == nil || m.LastError.Code != "max_attempts" ||
					m.LastError.ProviderCode != "20503" || m.NextAttemptAt != nil {
					t.Errorf("failed reply %s", r.body)
				}
			}},
		{name: "retry", method: "POST", path: "/v1/messages/{failed}/retry", token: annToken, status: 202,
			check: all(wantField("id", "{failed}"), wantField("status", "queued"))},
		{name: "retried reply is queued afresh", method: "GET", path: "/v1/conversations/{convR}/messages", token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				m := reply(t, r, ids["failed"])
				if m.Status != "queued" || m.Attempts == nil || *m.Attempts != 0 || m.LastError != nil || m.Error != nil || m.NextAttemptAt == nil {
					t.Errorf("retried reply %s", r.body)
				}
			}},
		{name: "retry of a queued reply", method: "POST", path: "/v1/messages/{failed}/retry", token: ag, status: 409, code: "conflict"},
		{name: "retry of an unknown message", method: "POST", path: "/v1/messages/01990000-0000-7000-8000-000000000000/retry", token: ag, status: 404, code: "not_found"},
		{name: "retry of a customer's message", method: "POST", path: "/v1/messages/{inboundR}/retry", token: ag, status: 404, code: "not_found"},
		{name: "hide the conversation", method: "PUT", path: "/v1/conversations/{convR}/visibility", token: ad,
			body: map[string]any{"visible_to": []string{"bob"}}, status: 200},
		{name: "retry of a reply the caller does not see", method: "POST", path: "/v1/messages/{failed}/retry", token: carlToken,
			status: 404, code: "not_found"},
		{name: "show the conversation again", method: "PUT", path: "/v1/conversations/{convR}/visibility", token: ad,
			body: map[string]any{"visible_to": []string{}}, status: 200},
	}, ids)
	var events []string
	var dead []*core.DeadLetter
	for _, oe := range e.drain(t) {
		if oe.Topic == "gateway.dlq.v1" {
			dead = append(dead, oe.DeadLetter)
			continue
		}
		ev, err := normalize.DecodeEvent(oe.Value)
		if err != nil {
			t.Fatal(err)
		}
		var d core.EventData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.MessageID == ids["failed"] {
			events = append(events, ev.Type+" "+d.Actor)
		}
	}
	if got, want := fmt.Sprint(events), "[message.queued agent:ann message.failed  message.queued agent:ann]"; got != want {
		t.Errorf("events of the reply %s, want %s", got, want)
	}
	if len(dead) != 1 || dead[0] == nil || dead[0].Reason != "max_attempts" || dead[0].Error != "3 attempts failed; the last: Service Unavailable" {
		t.Errorf("dead letters %+v, want one with reason max_attempts", dead)
	}
}

// drain takes every event of the event outbox, dead letters included.
func (e *apiEnv) drain(t *testing.T) []core.OutboxEvent {
	t.Helper()
	var out []core.OutboxEvent
	for {
		n, err := e.store.ClaimEvents(context.Background(), 100, func(evs []core.OutboxEvent) error {
			out = append(out, evs...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
	}
}

func TestRetryMessage(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e, ids := scenarioEnv(t, dialect)
		e.retryScenario(t, ids)
	})
}

// A reply on a channel whose sender is off is refused as
// channel_unavailable, never queued; a failed reply on it is not retried.
func TestReplyOnChannelUnavailable(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		off := core.Policy{SendersOff: map[string]string{"twilio": "TWILIO_ACCOUNT_SID missing"}}
		e := newAPIEnvWith(t, dialect, off, map[string]string{agentToken: "agent"}, nil)
		e.receive(sms("+14155550101", "help"))
		_, conv := e.customer("+14155550101")
		// Failed while the sender was on (by a service without the policy).
		on := core.NewService(e.store, core.Policy{ReopenWindow: 72 * time.Hour, AutoCloseAfter: 96 * time.Hour},
			core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"}, slog.New(slog.DiscardHandler), core.NewMetrics(nil))
		ids := map[string]string{"conv": conv, "failed": e.failReply(t, on, conv)}
		e.run(t, []step{
			{name: "reply", method: "POST", path: "/v1/conversations/{conv}/messages", token: agentToken,
				body: map[string]any{"text": "hello"}, status: 422, code: "channel_unavailable",
				check: func(t *testing.T, r resp) {
					if want := "sms replies cannot be sent: the twilio sender is off (TWILIO_ACCOUNT_SID missing)"; r.message() != want {
						t.Errorf("message %q, want %q", r.message(), want)
					}
				}},
			{name: "retry", method: "POST", path: "/v1/messages/{failed}/retry", token: agentToken, status: 422, code: "channel_unavailable"},
			{name: "nothing queued", method: "GET", path: "/v1/conversations/{conv}/messages", token: agentToken, status: 200,
				check: func(t *testing.T, r resp) {
					if m := reply(t, r, ids["failed"]); m.Status != "failed" {
						t.Errorf("the failed reply is %s", m.Status)
					}
					var page struct{ Data []core.StoredMessage }
					_ = json.Unmarshal(r.body, &page)
					if len(page.Data) != 2 {
						t.Errorf("%d messages, want the customer's and the failed reply: %s", len(page.Data), r.body)
					}
				}},
		}, ids)
	})
}
