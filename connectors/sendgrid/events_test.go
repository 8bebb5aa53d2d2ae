package sendgrid

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/webhook"
)

// A signed batch is accepted only while its timestamp is within the
// tolerance (10 minutes by default) of the gateway's clock: a captured
// request cannot be replayed later, nor one signed for the future.
func TestEventsTimestampTolerance(t *testing.T) {
	h, err := NewEvents(selfKey)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`[{"email":"ann@example.com","timestamp":1577836800,"event":"delivered","sg_message_id":"x1.filter"}]` + "\r\n")
	now := time.Now()
	cases := []struct {
		label string
		at    time.Time
		ok    bool
	}{
		{"2020-01-01", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"11 minutes old", now.Add(-11 * time.Minute), false},
		{"11 minutes ahead", now.Add(11 * time.Minute), false},
		{"9 minutes old", now.Add(-9 * time.Minute), true},
		{"9 minutes ahead", now.Add(9 * time.Minute), true},
		{"now", now, true},
	}
	for _, c := range cases {
		t.Run(c.label, func(t *testing.T) {
			ts := strconv.FormatInt(c.at.Unix(), 10)
			res, err := h.Handle(context.Background(), eventsRequest(body, signSelf(t, ts, body), ts))
			if c.ok && (err != nil || len(res.Events) != 1) {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok && !errors.Is(err, webhook.ErrExpired) {
				t.Fatalf("err %v, want ErrExpired (403, outcome expired)", err)
			}
		})
	}
	for _, ts := range []string{"soon", "-1", "1e9", "99999999999999999999"} {
		if _, err := h.Handle(context.Background(), eventsRequest(body, signSelf(t, ts, body), ts)); !errors.Is(err, webhook.ErrSignature) {
			t.Errorf("timestamp %q: %v, want ErrSignature", ts, err)
		}
	}
}

// MaxAge widens or narrows the tolerance; Now is the clock it is read on.
func TestEventsMaxAge(t *testing.T) {
	h, err := NewEvents(selfKey)
	if err != nil {
		t.Fatal(err)
	}
	h.Now = clockAt("1513299600")
	body := []byte(`[]`)
	thirtyMinOld := "1513297800"
	if _, err := h.Handle(context.Background(), eventsRequest(body, signSelf(t, thirtyMinOld, body), thirtyMinOld)); !errors.Is(err, webhook.ErrExpired) {
		t.Fatalf("30 minutes old with the default tolerance: %v, want ErrExpired", err)
	}
	h.MaxAge = time.Hour
	if _, err := h.Handle(context.Background(), eventsRequest(body, signSelf(t, thirtyMinOld, body), thirtyMinOld)); err != nil {
		t.Fatalf("30 minutes old with MAX_AGE 1h: %v", err)
	}
	h.MaxAge = time.Minute
	twoMinAhead := "1513299720"
	if _, err := h.Handle(context.Background(), eventsRequest(body, signSelf(t, twoMinAhead, body), twoMinAhead)); !errors.Is(err, webhook.ErrExpired) {
		t.Fatalf("2 minutes ahead with MAX_AGE 1m: %v, want ErrExpired", err)
	}
}
