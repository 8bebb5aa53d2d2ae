// Package core is the conversation engine: customers and their identities,
// the one-active-conversation rule, messages, replies and their delivery
// states, and the conversation events it writes to a transactional event
// outbox. It owns the domain types, the error codes and the interfaces it
// consumes (Store, the roles of Tx, Metrics, MediaCopier).
//
// Service is the engine: conversations, messages, notes, replies,
// inbound batches. Beside it, sharing its store and events, are types for
// other users: Customers (the customers directory), Agents (read marks,
// unread counts, figures, topics, presets) and DispatchQueue (the queue of
// replies the dispatcher works; dispatch.go holds the state machine of one
// reply: claim, sent, retry later, failed, retried).
//
// core imports only normalize of the gateway and nothing of Kafka, HTTP,
// fiber or Prometheus (TestCoreImportsOnlyNormalize checks): the adapters
// import core, never the reverse — core/sqlstore (the database),
// core/kafkabus (the inbound consumer and the event relay), core/media,
// core/coremetrics, the operator API and cmd.
package core

import (
	"errors"
	"fmt"
)

// Error codes of the domain. The HTTP layer maps them to statuses in one place.
const (
	EINVALID       = "invalid"       // malformed request: 400
	EUNAUTHORIZED  = "unauthorized"  // no or bad credentials: 401
	EFORBIDDEN     = "forbidden"     // role not allowed: 403
	ENOTFOUND      = "not_found"     // 404
	ECONFLICT      = "conflict"      // state conflict: 409
	EUNPROCESSABLE = "unprocessable" // a rule is broken: 422
	EINTERNAL      = "internal"      // 500
	// ECHANNELUNAVAILABLE: a reply on a channel whose sender is off (its
	// credentials are not set) could never be sent: 422.
	ECHANNELUNAVAILABLE = "channel_unavailable"

	// Codes that name the broken rule, for a client to act on.
	EIDENTITYTAKEN    = "identity_taken"    // the identity is another customer's: 409
	ETEMPLATEREQUIRED = "template_required" // WhatsApp without an open window takes only a template: 422
)

// Error is a domain error with a code and a message fit for a user.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns a domain error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of a domain error, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of a domain error, or a
// generic one for internal errors (whose details stay in the logs).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrTransient marks an error worth retrying (a database that is down, a
// serialization failure); anything else is permanent.
var ErrTransient = errors.New("transient")
