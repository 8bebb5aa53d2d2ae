package core_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

func call(from, sid, status string) normalize.Message {
	return normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelVoice, Provider: "twilio",
		ProviderMessageID: sid, Direction: normalize.Inbound, Kind: normalize.MessageKindCall,
		From: normalize.Party{Kind: normalize.KindPhone, Address: from},
		To:   normalize.Party{Kind: normalize.KindPhone, Address: "+15550001111"},
		Call: &normalize.Call{Status: status, Direction: normalize.Inbound}}
}

func callUpdate(from, sid string, u normalize.Update) normalize.Update {
	u.Provider, u.ProviderMessageID, u.Channel = "twilio", sid, normalize.ChannelVoice
	u.Contact = normalize.Party{Kind: normalize.KindPhone, Address: from}
	return u
}

// handle applies messages and updates as one batch, in order.
func (e *env) handle(items ...any) []string {
	e.t.Helper()
	var batch []core.Inbound
	for _, it := range items {
		switch v := it.(type) {
		case normalize.Message:
			batch = append(batch, core.Inbound{Event: normalize.Event{ID: v.MessageID, Type: normalize.TypeMessageReceived}, Message: &v})
		case normalize.Update:
			batch = append(batch, core.Inbound{Event: normalize.Event{ID: normalize.NewID(), Type: normalize.TypeMessageUpdated}, Update: &v})
		}
	}
	res, err := e.svc.HandleInbound(context.Background(), batch)
	if err != nil {
		e.t.Fatalf("HandleInbound: %v", err)
	}
	return res
}

// A missed call and a text from the same phone are one customer and one
// conversation with two unreplied messages; an answered call adds none;
// a ringing call counts once it turns missed, and a repeated callback
// changes nothing.
func TestCallsJoinTheCustomersConversation(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		const ann = "+14155550101"
		e.handle(call(ann, "CA1", normalize.CallMissed))
		e.receive(sms(ann, "Tried to call you"))
		conv := e.conversationOf(ann)
		if conv.Unreplied != 2 || conv.MessageCount != 2 || conv.Channel != normalize.ChannelSMS {
			t.Fatalf("after a missed call and an SMS: unreplied %d, %d messages, channel %s", conv.Unreplied, conv.MessageCount, conv.Channel)
		}
		// A call that rings, then is answered: no reply is owed for it.
		got := e.handle(call(ann, "CA2", normalize.CallRinging),
			callUpdate(ann, "CA2", normalize.Update{Call: &normalize.Call{Status: normalize.CallAnswered, DurationSeconds: 40}}))
		if fmt.Sprint(got) != "[attached updated]" {
			t.Fatalf("results %v", got)
		}
		if c := e.conversationOf(ann); c.Unreplied != 2 || c.ID != conv.ID {
			t.Fatalf("after an answered call: unreplied %d in %s, want 2 in %s", c.Unreplied, c.ID, conv.ID)
		}
		// A call that rings, then ends unanswered (in a later batch), counts once.
		e.handle(call(ann, "CA3", normalize.CallRinging))
		missed := callUpdate(ann, "CA3", normalize.Update{Call: &normalize.Call{Status: normalize.CallMissed}})
		if got := e.handle(missed); got[0] != core.ResultUpdated {
			t.Fatalf("missed: %v", got)
		}
		if got := e.handle(missed, call(ann, "CA3", normalize.CallRinging)); fmt.Sprint(got) != "[duplicate duplicate]" {
			t.Fatalf("repeated callbacks: %v, want both duplicates", got)
		}
		if c := e.conversationOf(ann); c.Unreplied != 3 || c.MessageCount != 4 {
			t.Fatalf("after a missed call: unreplied %d, %d messages; want 3 and 4", c.Unreplied, c.MessageCount)
		}
		// An update of a call the gateway never saw changes nothing.
		if got := e.handle(callUpdate(ann, "CAunknown", normalize.Update{Text: "x"})); got[0] != core.ResultIgnored {
			t.Fatalf("unknown call: %v", got)
		}
		evs := e.events()
		updated := 0
		for _, ev := range evs {
			if ev.Type == normalize.TypeMessageUpdated {
				updated++
				if ev.Data.Message == nil || ev.Data.Message.Call == nil || ev.Data.ConversationID != conv.ID {
					t.Errorf("message.updated %+v", ev.Data)
				}
			}
		}
		if updated != 2 {
			t.Errorf("%d message.updated events, want 2: %v", updated, types(evs))
		}
	})
}

// The voicemail's recording and transcription land on the call message,
// and message.updated carries the whole message each time.
func TestVoicemailUpdatesTheCall(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		const bob = "+14155550102"
		rec := normalize.Attachment{URL: "https://gw.example/media/x", ContentType: "audio/mpeg", Status: "stored", ProviderRef: "https://api.twilio.com/RE1"}
		e.handle(call(bob, "CA9", normalize.CallMissed),
			callUpdate(bob, "CA9", normalize.Update{Call: &normalize.Call{Status: normalize.CallVoicemail}, Attachments: []normalize.Attachment{rec}}))
		e.handle(callUpdate(bob, "CA9", normalize.Update{Text: "Please call me back about my order"}),
			callUpdate(bob, "CA9", normalize.Update{Call: &normalize.Call{Status: normalize.CallMissed, DurationSeconds: 31}}))
		conv := e.conversationOf(bob)
		msgs := must[[]core.StoredMessage](t)(e.svc.Messages(ctx, conv.ID))
		if len(msgs) != 1 {
			t.Fatalf("%d messages, want the one call", len(msgs))
		}
		m := msgs[0]
		if m.Text != "Please call me back about my order" || m.Message.Call.Status != normalize.CallVoicemail ||
			m.Message.Call.DurationSeconds != 31 || len(m.Message.Attachments) != 1 || m.Message.Attachments[0].Status != "stored" {
			t.Fatalf("call message %+v call %+v", m, m.Message.Call)
		}
		if conv.Unreplied != 1 {
			t.Fatalf("unreplied %d, want 1 (the voicemail)", conv.Unreplied)
		}
		var last core.EventData
		for _, ev := range e.events() {
			if ev.Type == normalize.TypeMessageUpdated {
				last = ev.Data
			}
		}
		if last.Message == nil || last.Message.Text != m.Text || last.Message.Call.DurationSeconds != 31 || len(last.Message.Attachments) != 1 {
			t.Fatalf("last message.updated %+v", last.Message)
		}
	})
}

// A reply to a conversation whose customer called goes out as SMS, to
// their phone, from the number they called; a text they sent later wins.
func TestReplyToACallIsAnSMSFromTheCalledNumber(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{Senders: map[string]core.BusinessAddress{normalize.ChannelSMS: {
			Party: normalize.Party{Kind: normalize.KindPhone, Address: "+19990000000"}, Provider: "twilio"}}})
		const cid = "+14155550103"
		e.handle(call(cid, "CA20", normalize.CallMissed))
		conv := e.conversationOf(cid)
		for _, channel := range []string{"", normalize.ChannelVoice, normalize.ChannelSMS} {
			must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "Sorry we missed you", Channel: channel}, core.AgentActor("ann")))
		}
		jobs := must[[]core.DispatchJob](t)(e.svc.DispatchQueue().Claim(ctx, time.Minute, 10))
		if len(jobs) != 1 {
			t.Fatalf("%d jobs, want the first of the conversation", len(jobs))
		}
		msgs := must[[]core.StoredMessage](t)(e.svc.Messages(ctx, conv.ID))
		for _, m := range msgs[1:] {
			if m.Channel != normalize.ChannelSMS || m.Message.From.Address != "+15550001111" || m.Message.To.Address != cid || m.Message.Provider != "twilio" {
				t.Errorf("reply on %s from %s to %s via %s, want sms from the called +15550001111 to %s", m.Channel,
					m.Message.From.Address, m.Message.To.Address, m.Message.Provider, cid)
			}
		}
		if c := e.conversationOf(cid); c.Unreplied != 0 {
			t.Errorf("unreplied %d after the reply", c.Unreplied)
		}
		text := sms(cid, "ok")
		text.To.Address = "+15550002222"
		e.receive(text)
		r := must[core.StoredMessage](t)(e.svc.Reply(ctx, conv.ID, core.ReplyRequest{Text: "Got it"}, core.AgentActor("ann")))
		if r.Message.From.Address != "+15550002222" {
			t.Errorf("reply after a text from %s, want the texted number", r.Message.From.Address)
		}
	})
}
