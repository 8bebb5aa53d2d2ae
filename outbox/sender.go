// Package outbox sends replies: the dispatcher claims due rows written in the
// same transaction as the message, sends them in order per conversation
// through a Sender per channel, retries what can be retried and records the
// provider's id so status callbacks can find the message. It also consumes
// reply commands from outbound.v1.
//
// It owns the dispatcher, the retry policy, the rate limits, the command
// topic and the Sender interface it consumes. The senders themselves live
// with their providers (connectors/twilio/sender.go, ...), and every one
// runs the contract suite in outbox/outboxtest. It reaches the engine
// through small interfaces it declares, never *core.Service: Queue, its
// port to the dispatch queue (core.DispatchQueue), and Replier. It must not
// import Kafka clients (the provider packages import it), the provider
// packages, nor fiber.
//
// The state machine of one reply reads in two files: Dispatcher.process
// and retryOrFail (dispatcher.go) decide what a send's outcome means, and
// core/dispatch.go records each outcome (Claim, MarkSent, RetryLater,
// MarkFailed, ...) in one transaction with its events.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// Template is a pre-approved message (WhatsApp template, Twilio Content SID).
type Template = normalize.Template

// Send is one outbound message as a Sender sees it: the message's route and
// content as the outbox row stores it.
type Send = core.Outbound

// Result is what the provider answered.
type Result struct {
	// ProviderMessageID is the provider's id of the message (Twilio SID,
	// WhatsApp wamid, Messenger mid, SendGrid X-Message-Id).
	ProviderMessageID string
}

// Sender sends on one channel.
type Sender interface {
	Send(ctx context.Context, s Send) (Result, error)
}

// Splitter is a Sender whose channel carries some replies only as several
// provider messages (Meta: one attachment per message). Split returns the
// sends of s in the order the customer should get them, one when s fits in
// one. The dispatcher sends them in that order as parts of one message
// record, each recorded as the provider takes it, so a retry never sends
// an earlier part again.
type Splitter interface {
	Split(s Send) []Send
}

// ErrPermanent is wrapped by errors that retrying cannot fix.
var ErrPermanent = errors.New("permanent send failure")

// SendError is a failed send as the provider described it.
type SendError struct {
	// Permanent is true for errors that no retry can fix (invalid number,
	// blocked, window closed, bad request); false for 429, 5xx, timeouts.
	Permanent bool
	// HTTPStatus is the provider's HTTP status, 0 for transport errors.
	HTTPStatus int
	// ProviderCode is the provider's own error code (21211, 131047, ...).
	ProviderCode string
	Message      string
	// RetryAfter is the provider's Retry-After, if it sent one.
	RetryAfter time.Duration
}

func (e *SendError) Error() string {
	if e.ProviderCode != "" {
		return fmt.Sprintf("provider error %s (HTTP %d): %s", e.ProviderCode, e.HTTPStatus, e.Message)
	}
	return fmt.Sprintf("send failed (HTTP %d): %s", e.HTTPStatus, e.Message)
}

// RetryDelay is the provider's Retry-After (retry.Delayer): the dispatcher
// waits at least that long.
func (e *SendError) RetryDelay() time.Duration { return e.RetryAfter }

// Is makes errors.Is(err, ErrPermanent) true for permanent send errors.
func (e *SendError) Is(target error) bool { return target == ErrPermanent && e.Permanent }
