package core_test

import (
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// at is an SMS a customer sent to the entry point ep.
func at(ep, from, text string) normalize.Message {
	m := sms(from, text)
	m.EntryPoint = ep
	return m
}

// A customer's message after close reopens the conversation within the
// reopen window of the entry point it came in at, which wins over the
// channel's and the global one; elsewhere the channel's still holds.
func TestReopenWindowPerEntryPoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{ReopenWindow: 96 * time.Hour,
			ReopenWindowByChannel:    map[string]time.Duration{normalize.ChannelSMS: time.Hour},
			ReopenWindowByEntryPoint: map[string]time.Duration{"support-uk": 48 * time.Hour, "chat-fast": time.Minute}})
		for _, from := range []string{"+14155550101", "+14155550102", "+14155550103"} {
			e.receive(at("support-uk", from, "hello"))
			c := e.conversationOf(from)
			e.setStatus(c.ID, core.StatusClosed)
		}
		e.clock.Advance(2 * time.Hour)
		// Written to support-uk again: its 48h window reopens.
		// Written to support-us (no window of its own): the SMS channel's 1h does not.
		// Written to chat-fast: its 1 minute does not, though the global 96h would.
		res := e.receive(at("support-uk", "+14155550101", "again"), at("support-us", "+14155550102", "again"),
			at("chat-fast", "+14155550103", "again"))
		want := []string{core.ResultReopened, core.ResultCreated, core.ResultCreated}
		if !equal(res, want) {
			t.Fatalf("results %v, want %v", res, want)
		}
		e.clock.Advance(47 * time.Hour)
		c := e.conversationOf("+14155550101")
		e.setStatus(c.ID, core.StatusClosed)
		e.clock.Advance(49 * time.Hour)
		if res := e.receive(at("support-uk", "+14155550101", "late")); res[0] != core.ResultCreated {
			t.Fatalf("after the entry point's window: %v, want created", res)
		}
	})
}

// A waiting conversation closes after its entry point's auto_close_after
// when it has one, the others after the global.
func TestAutoClosePerEntryPoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{AutoCloseAfter: 96 * time.Hour,
			AutoCloseAfterByEntryPoint: map[string]time.Duration{"fast": time.Hour, "slow": 200 * time.Hour}})
		eps := map[string]string{"+14155550101": "fast", "+14155550102": "other", "+14155550103": "slow"}
		for from, ep := range eps {
			e.receive(at(ep, from, "thanks"))
			e.setStatus(e.conversationOf(from).ID, core.StatusWaiting)
		}
		closedAfter := func(d time.Duration, want int, closed ...string) {
			t.Helper()
			e.clock.Advance(d)
			if n := must[int](t)(e.svc.AutoClose(ctx)); n != want {
				t.Fatalf("after %s more: closed %d, want %d", d, n, want)
			}
			for _, from := range closed {
				if c := e.conversationOf(from); c.Status != core.StatusClosed || c.EntryPoint != eps[from] {
					t.Fatalf("%s at %s: %s, want closed", from, c.EntryPoint, c.Status)
				}
			}
		}
		closedAfter(30*time.Minute, 0)
		closedAfter(time.Hour, 1, "+14155550101")
		closedAfter(95*time.Hour, 1, "+14155550102")
		if c := e.conversationOf("+14155550103"); c.Status != core.StatusWaiting {
			t.Fatalf("slow entry point: %s after 96h30m, want waiting", c.Status)
		}
		closedAfter(104*time.Hour, 1, "+14155550103")
	})
}
