package main

import (
	"testing"
	"time"
)

// checkDelivered is the accounting of a fault after which events.v1 may
// hold an event twice: delivery is at least once and consumers dedupe on
// the event id, so a record repeating an event (same id, same message) is
// allowed, and the rest is checkAccounting's: seen once per event id, every
// message answered 200 is there under one event id, in order per contact;
// a message under two event ids (handled twice) or never posted is not. It
// returns the events, each once, and logs how many records repeated one.
func checkDelivered(t *testing.T, g *Gateway, sent []inboundSMS, maybe ...inboundSMS) []topicEvent {
	t.Helper()
	return account(t, g, true, sent, maybe)
}

// checkAccounting requires events.v1 to hold exactly one message.received,
// under one event id, per message answered 200 (by provider message id),
// each contact's messages in the order they were answered, and nothing
// else: no record repeats an event, and a message answered otherwise (503,
// a cut connection) may be there at most once when maybe says so.
func checkAccounting(t *testing.T, g *Gateway, sent []inboundSMS, maybe ...inboundSMS) {
	t.Helper()
	account(t, g, false, sent, maybe)
}

// account reads events.v1 and checks it against what was answered 200
// (sent) and what may be there (maybe); repeats says whether a record may
// repeat an event (same id) or not. It returns the events, each once.
func account(t *testing.T, g *Gateway, repeats bool, sent, maybe []inboundSMS) []topicEvent {
	t.Helper()
	want, optional := map[string]inboundSMS{}, map[string]inboundSMS{}
	for _, m := range sent {
		want[m.sid] = m
	}
	for _, m := range maybe {
		optional[m.sid] = m
	}
	sidOf := func(e topicEvent) string {
		msg, _ := e.Data["message"].(map[string]any)
		sid, _ := msg["provider_message_id"].(string)
		return sid
	}
	all := func(evs []topicEvent) bool {
		got := map[string]bool{}
		for _, e := range ofType(evs, "message.received") {
			got[sidOf(e)] = true
		}
		for _, m := range sent {
			if !got[m.sid] {
				return false
			}
		}
		return true
	}
	topic := g.cfg.TopicPrefix + "events.v1"
	evs := consume(t, g, topic, all)
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show
	// Read again from the start, as far as the first read and until every
	// message answered 200 is seen (a duplicate must not end it early).
	evs = consume(t, g, topic, func(e []topicEvent) bool { return len(e) >= len(evs) && all(e) })

	var once []topicEvent
	first := map[string]topicEvent{}
	repeated := 0
	for _, e := range evs {
		if f, ok := first[e.Event.ID]; ok {
			repeated++
			if !repeats {
				t.Errorf("event id %s twice", e.Event.ID)
			}
			if f.Event.Type != e.Event.Type || sidOf(f) != sidOf(e) || f.Key != e.Key {
				t.Errorf("event id %s names two events: %s %s and %s %s", e.Event.ID, f.Event.Type, sidOf(f), e.Event.Type, sidOf(e))
			}
			continue
		}
		first[e.Event.ID] = e
		once = append(once, e)
	}
	t.Logf("events.v1: %d records, %d of them repeating an event", len(evs), repeated)
	seen := map[string]string{} // sid → event id
	last := map[string]string{}
	for _, e := range ofType(once, "message.received") {
		sid := sidOf(e)
		msg, _ := e.Data["message"].(map[string]any)
		m, ok := want[sid]
		if !ok {
			m, ok = optional[sid]
		}
		switch {
		case !ok:
			t.Errorf("message.received for %q, which was never posted", sid)
		case seen[sid] != "":
			t.Errorf("message %s received twice, as events %s and %s", sid, seen[sid], e.Event.ID)
		case msg["text"] != m.text:
			t.Errorf("%s has text %v, want %s", sid, msg["text"], m.text)
		}
		seen[sid] = e.Event.ID
		if _, answered := want[sid]; !answered {
			continue
		}
		if m.text <= last[m.from] {
			t.Errorf("contact %s: %s after %s (out of order)", m.from, m.text, last[m.from])
		}
		last[m.from] = m.text
	}
	for _, m := range sent {
		if seen[m.sid] == "" {
			t.Errorf("message %s (%s) answered 200 is not on events.v1", m.sid, m.text)
		}
	}
	return once
}
