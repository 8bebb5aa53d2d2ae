package core_test

import (
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

func TestReplyRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{Senders: map[string]core.BusinessAddress{
			"email": {Party: normalize.Party{Kind: "email", Address: "support@shop.example"}, Provider: "sendgrid"}}})
		wa := whatsapp("+14155550101", "hello")
		wa.ReceivedAt = e.clock.Now()
		wa.Provider = "meta_whatsapp"
		e.receive(wa)
		conv := e.conversationOf("+14155550101")
		e.clock.Advance(10 * time.Minute)

		// The default route: the channel, address and business number the customer used.
		m, err := e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "hi!"}, core.AgentActor("ann"))
		if err != nil {
			t.Fatal(err)
		}
		if m.Channel != "whatsapp" || m.Message.To.Address != "+14155550101" || m.Message.From.Address != "+15558675310" ||
			m.Message.Provider != "meta_whatsapp" || m.Status != "queued" {
			t.Fatalf("reply routed %+v", m.Message)
		}
		// The reply resets unreplied and sets the first response time.
		got := must[core.Conversation](t)(e.svc.Conversation(ctx, conv.ID))
		if got.Unreplied != 0 || got.FirstResponseSeconds == nil || *got.FirstResponseSeconds != 600 {
			t.Fatalf("after reply: unreplied %d first response %v", got.Unreplied, got.FirstResponseSeconds)
		}
		queued := e.only("message.queued", e.events())
		if queued.Data.Message == nil || queued.Data.Message.Text != "hi!" {
			t.Fatalf("message.queued %+v", queued.Data)
		}

		cases := []struct {
			label string
			req   core.ReplyRequest
			code  string
		}{
			{"empty", core.ReplyRequest{}, core.EINVALID},
			{"never used channel", core.ReplyRequest{Text: "x", Channel: "messenger"}, core.EUNPROCESSABLE},
			{"unknown channel", core.ReplyRequest{Text: "x", Channel: "pager"}, core.EINVALID},
			{"too long for SMS", core.ReplyRequest{Text: strings.Repeat("a", 1601), Channel: "sms"}, core.EUNPROCESSABLE},
			{"email without identity", core.ReplyRequest{Text: "x", Channel: "email"}, core.EUNPROCESSABLE},
		}
		for _, c := range cases {
			if _, err := e.svc.Reply(ctx, conv.ID, c.req, core.AgentActor("ann")); core.ErrorCode(err) != c.code {
				t.Errorf("%s: %v, want %s", c.label, err, c.code)
			}
		}
		// SMS to the same phone is allowed (shared phone identity), from the configured sender or not at all.
		if _, err := e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "x", Channel: "sms"}, core.AgentActor("ann")); core.ErrorCode(err) != core.EUNPROCESSABLE {
			t.Errorf("sms without a configured sender: %v", err)
		}

		// WhatsApp 24-hour window: after it only a template goes.
		e.clock.Advance(25 * time.Hour)
		if _, err := e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "late"}, core.AgentActor("ann")); core.ErrorCode(err) != core.ETEMPLATEREQUIRED ||
			!strings.Contains(err.Error(), "window") {
			t.Errorf("outside the window: %v, want 422 template_required", err)
		}
		if _, err := e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Template: &normalize.Template{Name: "order_update", Language: "en"}}, core.AgentActor("ann")); err != nil {
			t.Errorf("template outside the window: %v", err)
		}

		// Closed conversation: 409; unknown: 404.
		must[core.Conversation](t)(e.svc.SetStatus(ctx, conv.ID, core.StatusClosed, "", core.AdminActor("ops")))
		if _, err := e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "x"}, core.AgentActor("ann")); core.ErrorCode(err) != core.ECONFLICT {
			t.Errorf("closed: %v, want conflict", err)
		}
		if _, err := e.svc.Reply(ctx, "nope", core.ReplyRequest{Text: "x"}, core.AgentActor("ann")); core.ErrorCode(err) != core.ENOTFOUND {
			t.Errorf("unknown: %v, want not found", err)
		}
	})
}

// Email replies thread: In-Reply-To, References and a Re: subject.
func TestEmailReplyThreads(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		in := sms("ann@example.com", "Where is my order?")
		in.Channel, in.Provider, in.From.Kind = "email", "sendgrid", "email"
		in.To = normalize.Party{Kind: "email", Address: "support@shop.example"}
		in.Subject = "Order 1234"
		in.Thread = &normalize.Thread{MessageID: "<b@mail.example>", References: []string{"<a@mail.example>"}}
		e.receive(in)
		conv := e.conversationOf("ann@example.com")
		m := must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "On its way"}, core.AgentActor("ann")))
		th := m.Message.Thread
		if m.Message.Subject != "Re: Order 1234" || th == nil || th.InReplyTo != "<b@mail.example>" ||
			strings.Join(th.References, " ") != "<a@mail.example> <b@mail.example>" || m.Message.From.Address != "support@shop.example" {
			t.Fatalf("email reply %+v thread %+v", m.Message, th)
		}
	})
}

// Idempotent commands: the same client ref never queues twice.
func TestReplyClientRef(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "hi"))
		conv := e.conversationOf("+14155550101")
		a := must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "one", ClientRef: "cmd-1"}, "system:outbound.v1"))
		b := must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "one", ClientRef: "cmd-1"}, "system:outbound.v1"))
		if a.ID != b.ID {
			t.Fatalf("a repeated command queued a second message: %s and %s", a.ID, b.ID)
		}
		if n := len(must[[]core.StoredMessage](t)(e.svc.Messages(ctx, conv.ID))); n != 2 {
			t.Fatalf("%d messages, want the inbound and one reply", n)
		}
	})
}

// Delivery statuses move a message forward only, and a status that arrives
// before the send is recorded is applied when it is.
func TestDeliveryStatusNeverGoesBack(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		e.receive(sms("+14155550101", "hi"))
		conv := e.conversationOf("+14155550101")
		m := must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "hello"}, core.AgentActor("ann")))
		jobs := must[[]core.DispatchJob](t)(e.svc.DispatchQueue().Claim(ctx, time.Minute, 10))
		if len(jobs) != 1 {
			t.Fatalf("claimed %d", len(jobs))
		}
		status := func(s string) {
			t.Helper()
			st := normalize.Status{Provider: "twilio", ProviderMessageID: "SMout1", Status: s}
			if _, err := e.svc.HandleInbound(ctx, []core.Inbound{{Status: &st}}); err != nil {
				t.Fatal(err)
			}
		}
		status("delivered") // before the send is recorded
		if err := e.svc.DispatchQueue().MarkSent(ctx, jobs[0], "twilio", "SMout1"); err != nil {
			t.Fatal(err)
		}
		status("sent") // late, must not go back
		status("read")
		status("failed") // after read: not a regression to failed
		msgs := must[[]core.StoredMessage](t)(e.svc.Messages(ctx, conv.ID))
		if got := msgs[len(msgs)-1]; got.ID != m.ID || got.Status != "read" {
			t.Fatalf("status %q, want read", got.Status)
		}
		var seen []string
		for _, ev := range e.events() {
			if strings.HasPrefix(ev.Type, "message.") && ev.Type != "message.received" {
				seen = append(seen, ev.Type)
			}
		}
		if strings.Join(seen, ",") != "message.queued,message.sent,message.delivered,message.read" {
			t.Fatalf("events %v", seen)
		}
	})
}

// A Messenger read receipt names no message but a watermark: every reply
// sent to that user up to it is read.
func TestMessengerWatermarkReceipt(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		in := sms("psid-42", "hi page")
		in.Channel, in.Provider, in.From.Kind = "messenger", "meta_messenger", "messenger"
		in.To = normalize.Party{Kind: "messenger", Address: "page-1"}
		in.ReceivedAt = e.clock.Now()
		e.receive(in)
		conv := e.conversationOf("psid-42")
		m := must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "hello"}, core.AgentActor("ann")))
		jobs := must[[]core.DispatchJob](t)(e.svc.DispatchQueue().Claim(ctx, time.Minute, 10))
		if err := e.svc.DispatchQueue().MarkSent(ctx, jobs[0], "meta_messenger", "m_1"); err != nil {
			t.Fatal(err)
		}
		st := normalize.Status{Provider: "meta_messenger", Channel: "messenger", Status: "read",
			ProviderMessageID: normalize.WatermarkID("psid-42", e.clock.Now().Add(time.Second).UnixMilli())}
		if _, err := e.svc.HandleInbound(ctx, []core.Inbound{{Status: &st}}); err != nil {
			t.Fatal(err)
		}
		msgs := must[[]core.StoredMessage](t)(e.svc.Messages(ctx, conv.ID))
		if got := msgs[len(msgs)-1]; got.ID != m.ID || got.Status != "read" {
			t.Fatalf("after the watermark: %s", got.Status)
		}
	})
}
