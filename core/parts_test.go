package core_test

import (
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// A reply sent in two parts whose statuses come before the sends are
// recorded: one kept as an early status (found by the provider's id), one
// whose answer was lost but whose status echoes the part's gateway id (the
// part is recorded then, so it is not sent again). The reply ends as the
// worst of its parts.
func TestPartStatusesBeforeTheirSends(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.withMedia(t)
		wa := whatsapp("+14155550101", "hello")
		wa.Provider, wa.ReceivedAt = "meta_whatsapp", e.clock.Now()
		e.receive(wa)
		conv := e.conversationOf("+14155550101")
		m := must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "listen",
			Attachments: []normalize.Attachment{{URL: "https://files.shop.example/v.ogg", ContentType: "audio/ogg"}}}, core.AgentActor("ann")))
		jobs := must[[]core.DispatchJob](t)(e.svc.DispatchQueue().Claim(ctx, time.Minute, 10))
		if len(jobs) != 1 {
			t.Fatalf("claimed %+v", jobs)
		}
		status := func(pmid, echo, s string) {
			t.Helper()
			e.status(normalize.Status{Provider: "meta_whatsapp", ProviderMessageID: pmid, MessageID: echo, Channel: "whatsapp",
				Status: s, ProviderStatus: s, At: e.clock.Now()})
		}
		status("wamid.A", "", "delivered")
		if err := e.svc.DispatchQueue().MarkPartSent(ctx, jobs[0], 0, 2, "meta_whatsapp", "wamid.A"); err != nil {
			t.Fatal(err)
		}
		status("wamid.B", core.PartID(m.ID, 1), "read")
		parts := must[[]core.MessagePart](t)(e.svc.DispatchQueue().SentParts(ctx, m.ID))
		if len(parts) != 2 || parts[0].Status != "delivered" || parts[1].ProviderMessageID != "wamid.B" || parts[1].Status != "read" {
			t.Fatalf("parts %+v", parts)
		}
		if st := e.message(conv.ID, m.ID).Status; st != "queued" {
			t.Fatalf("before the last part is recorded the reply is %s", st)
		}
		if err := e.svc.DispatchQueue().MarkPartSent(ctx, jobs[0], 1, 2, "meta_whatsapp", "wamid.B"); err != nil {
			t.Fatal(err)
		}
		if st := e.message(conv.ID, m.ID).Status; st != "delivered" {
			t.Fatalf("the reply is %s, want delivered", st)
		}
		var types []string
		for _, ev := range e.events() {
			if ev.Data.MessageID == m.ID {
				types = append(types, ev.Type)
			}
		}
		if got := strings.Join(types, " "); got != "message.queued message.sent message.delivered" {
			t.Fatalf("events %s", got)
		}
		// Its outbox row is done: nothing is claimed again.
		if jobs := must[[]core.DispatchJob](t)(e.svc.DispatchQueue().Claim(ctx, time.Minute, 10)); len(jobs) != 0 {
			t.Fatalf("claimed again %+v", jobs)
		}
	})
}

func (e *env) message(conv, id string) core.StoredMessage {
	e.t.Helper()
	for _, m := range must[[]core.StoredMessage](e.t)(e.svc.Messages(ctx, conv)) {
		if m.ID == id {
			return m
		}
	}
	e.t.Fatalf("message %s not found", id)
	return core.StoredMessage{}
}
