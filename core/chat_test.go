package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// A returning chat visitor's history: their latest chat messages both ways,
// oldest first; never a note, nor a reply that is not sent yet.
func TestChatHistory(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		visitor := normalize.Party{Kind: normalize.KindChat, Address: "0195a0c2-visitor"}
		chat := func(text string) normalize.Message {
			m := sms("+10000000000", text)
			m.Channel, m.Provider, m.From = normalize.ChannelChat, "webchat", visitor
			m.To = normalize.Party{Kind: normalize.KindChat, Address: "site"}
			m.ReceivedAt = e.clock.Now()
			return m
		}
		for i := 1; i <= 3; i++ {
			e.receive(chat(fmt.Sprint("visitor ", i)))
			e.clock.Advance(time.Second)
		}
		conv := e.conversationOf(visitor.Address)
		sent := must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "reply sent"}, core.AgentActor("ann")))
		jobs := must[[]core.DispatchJob](t)(e.svc.DispatchQueue().Claim(ctx, time.Minute, 10))
		if len(jobs) != 1 || jobs[0].MessageID != sent.ID {
			t.Fatalf("claimed %+v", jobs)
		}
		if err := e.svc.DispatchQueue().MarkSent(ctx, jobs[0], "webchat", sent.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
		must[core.StoredMessage](t)(e.svc.AddNote(ctx, conv.ID, "private", core.AgentActor("ann")))
		must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "reply queued"}, core.AgentActor("ann")))

		got := must[[]core.StoredMessage](t)(e.svc.ChatHistory(ctx, visitor.Address, 3))
		var texts []string
		for _, m := range got {
			texts = append(texts, m.Direction+" "+m.Text+" "+m.Author+" "+m.Status)
		}
		// The note and the queued reply are left out.
		if fmt.Sprint(texts) != "[inbound visitor 2   inbound visitor 3   outbound reply sent agent:ann sent]" {
			t.Fatalf("history %q", texts)
		}
		all := must[[]core.StoredMessage](t)(e.svc.ChatHistory(ctx, visitor.Address, 50))
		if len(all) != 4 || all[0].Text != "visitor 1" || all[3].Text != "reply sent" {
			t.Fatalf("whole history %+v", all)
		}
		if none := must[[]core.StoredMessage](t)(e.svc.ChatHistory(ctx, "someone-else", 50)); len(none) != 0 {
			t.Fatalf("another visitor sees %+v", none)
		}
	})
}
