// Package outboxtest is the contract every outbox.Sender keeps, as one test
// suite each provider's sender runs against a fake of its API (in the manner
// of watermill's TestPubSub): a send returns the provider's id, a permanent
// refusal is ErrPermanent with the provider's code and is not retried, a
// rate limit, a server error or a timeout is transient with Retry-After
// honoured, a channel the provider does not serve is refused before any
// request, a bad configuration is refused at construction.
//
// It owns only the suite; it imports outbox and the standard library, never
// a provider package or a fake (the fake comes in through the Fake interface).
package outboxtest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/outbox"
)

// Fake is what the suite scripts of a provider API fake
// (connectors/providertest.Fake has it).
type Fake interface {
	// FailNext answers the next n requests with status, body (the
	// provider's usual error body when empty) and headers.
	FailNext(n, status int, body string, headers map[string]string)
	// Hang delays every following request by d.
	Hang(d time.Duration)
	// Received counts requests, Accepted messages the fake took.
	Received() int
	Accepted() int
}

// Target is a sender wired to a fresh fake.
type Target struct {
	Sender outbox.Sender
	Fake   Fake
	// LastID is the provider's id of the last message the fake accepted.
	LastID func() string
}

// Expect is what a SendError must say: HTTP status, provider code (""
// for none) and a part of its message ("" for any).
type Expect struct {
	Status  int
	Code    string
	Message string
}

// Failure is a scripted answer and the SendError it must give.
type Failure struct {
	Status int
	Body   string
	Expect Expect
}

// Suite describes one provider's sender to the contract.
type Suite struct {
	// New returns a sender talking to a new fake of the provider's API.
	New func(t *testing.T) Target
	// Sends are valid messages, one per endpoint the sender uses.
	Sends []outbox.Send
	// OtherChannel is a channel the sender does not serve.
	OtherChannel string
	// Permanent is an answer no retry can fix.
	Permanent Failure
	// RateLimited and ServerError are what the SendError says when the fake
	// answers 429 (with Retry-After: 7) and 500 with its usual error body.
	RateLimited, ServerError Expect
	// BadConfigs build the sender from configurations it must refuse.
	BadConfigs map[string]func() error
}

// TestSender runs the contract.
func TestSender(t *testing.T, s Suite) {
	t.Run("a send returns the provider's id", func(t *testing.T) { testSuccess(t, s) })
	t.Run("a permanent error is never retried", func(t *testing.T) {
		tg := s.New(t)
		tg.Fake.FailNext(1, s.Permanent.Status, s.Permanent.Body, nil)
		se := sendError(t, tg, s.Sends[0])
		check(t, se, true, s.Permanent.Expect, 0)
		if n := tg.Fake.Received(); n != 1 {
			t.Errorf("%d requests for one permanent failure, want 1", n)
		}
	})
	t.Run("429 is transient and Retry-After is honoured", func(t *testing.T) {
		tg := s.New(t)
		tg.Fake.FailNext(1, 429, "", map[string]string{"Retry-After": "7"})
		check(t, sendError(t, tg, s.Sends[0]), false, s.RateLimited, 7*time.Second)
	})
	t.Run("5xx is transient", func(t *testing.T) {
		tg := s.New(t)
		tg.Fake.FailNext(1, 500, "", nil)
		check(t, sendError(t, tg, s.Sends[0]), false, s.ServerError, 0)
	})
	t.Run("a timeout is transient", func(t *testing.T) { testTimeout(t, s) })
	t.Run("another channel is refused before sending", func(t *testing.T) {
		tg := s.New(t)
		send := s.Sends[0]
		send.Channel = s.OtherChannel
		if _, err := tg.Sender.Send(t.Context(), send); !errors.Is(err, outbox.ErrPermanent) {
			t.Fatalf("channel %q: err = %v, want permanent", s.OtherChannel, err)
		}
		if n := tg.Fake.Received(); n != 0 {
			t.Errorf("%d requests reached the provider", n)
		}
	})
	t.Run("a bad configuration is refused", func(t *testing.T) {
		for name, build := range s.BadConfigs {
			if err := build(); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}

func testSuccess(t *testing.T, s Suite) {
	for _, send := range s.Sends {
		t.Run(send.Channel, func(t *testing.T) {
			tg := s.New(t)
			res, err := tg.Sender.Send(t.Context(), send)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res.ProviderMessageID == "" || res.ProviderMessageID != tg.LastID() || tg.Fake.Accepted() != 1 {
				t.Errorf("ProviderMessageID %q, the fake accepted %d, its last id %q", res.ProviderMessageID, tg.Fake.Accepted(), tg.LastID())
			}
		})
	}
}

func testTimeout(t *testing.T, s Suite) {
	for _, send := range s.Sends {
		t.Run(send.Channel, func(t *testing.T) {
			tg := s.New(t)
			tg.Fake.Hang(10 * time.Second)
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := tg.Sender.Send(ctx, send)
			var se *outbox.SendError
			if !errors.As(err, &se) || se.Permanent || errors.Is(err, outbox.ErrPermanent) || se.HTTPStatus != 0 {
				t.Fatalf("err = %#v, want a transient transport error", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Send took %v: the context deadline was not honoured", d)
			}
			if tg.Fake.Accepted() != 0 {
				t.Errorf("the fake accepted a message")
			}
		})
	}
}

// sendError sends and returns the SendError the send must fail with.
func sendError(t *testing.T, tg Target, send outbox.Send) *outbox.SendError {
	t.Helper()
	_, err := tg.Sender.Send(t.Context(), send)
	var se *outbox.SendError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *outbox.SendError", err)
	}
	if tg.Fake.Accepted() != 0 {
		t.Errorf("the fake accepted %d messages on a failed send", tg.Fake.Accepted())
	}
	return se
}

func check(t *testing.T, se *outbox.SendError, permanent bool, want Expect, retryAfter time.Duration) {
	t.Helper()
	if errors.Is(se, outbox.ErrPermanent) != permanent || se.Permanent != permanent {
		t.Errorf("permanent = %v, want %v (%v)", se.Permanent, permanent, se)
	}
	if se.HTTPStatus != want.Status || se.ProviderCode != want.Code || se.RetryAfter != retryAfter {
		t.Errorf("got status %d code %q retry-after %v, want %d %q %v (%v)",
			se.HTTPStatus, se.ProviderCode, se.RetryAfter, want.Status, want.Code, retryAfter, se)
	}
	if !strings.Contains(se.Message, want.Message) {
		t.Errorf("message %q does not contain %q", se.Message, want.Message)
	}
}
