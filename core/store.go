package core

import (
	"context"
	"time"
)

// Store keeps customers, conversations, messages and the event outbox.
// sqlstore implements it on SQLite and PostgreSQL.
type Store interface {
	// InTx runs fn in one database transaction, committed if fn returns nil.
	// A conflict between concurrent transactions is returned wrapping ErrTransient.
	InTx(ctx context.Context, fn func(Tx) error) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// ClaimEvents passes the oldest unpublished events (up to limit) to
	// publish, and deletes them once publish returns nil. Only one caller
	// across all instances publishes at a time, so events keep their order;
	// it returns how many were published, 0 with no error if another
	// instance holds the turn.
	ClaimEvents(ctx context.Context, limit int, publish func([]OutboxEvent) error) (int, error)
	Close() error
}

// Tx is the work a transaction can do.
type Tx interface {
	// CustomerByIdentity returns the customer owning an identity.
	CustomerByIdentity(ctx context.Context, id Identity) (Customer, bool, error)
	// CreateCustomer creates a customer with one identity; if another
	// transaction took the identity first, it returns that customer and false.
	CreateCustomer(ctx context.Context, c Customer, id Identity) (Customer, bool, error)
	// LockCustomer serializes work on one customer until the transaction ends.
	LockCustomer(ctx context.Context, customerID string) error

	// ActiveConversation returns the customer's conversation that is not closed.
	ActiveConversation(ctx context.Context, customerID string) (Conversation, bool, error)
	// LastClosedConversation returns the customer's most recently closed conversation.
	LastClosedConversation(ctx context.Context, customerID string) (Conversation, bool, error)
	// InsertConversation inserts c; false if the customer already has an
	// active conversation.
	InsertConversation(ctx context.Context, c Conversation) (bool, error)
	// UpdateConversation writes every field of c.
	UpdateConversation(ctx context.Context, c Conversation) error

	// MessageByProviderID finds a message by its provider's id.
	MessageByProviderID(ctx context.Context, provider, providerMessageID string) (StoredMessage, bool, error)
	// InsertMessage stores a message or note; false if (provider,
	// provider_message_id) is already stored.
	InsertMessage(ctx context.Context, m StoredMessage) (bool, error)

	// AddEvents appends events to the outbox, published after commit.
	AddEvents(ctx context.Context, evs ...OutboxEvent) error
	// Now is the clock of the transaction.
	Now() time.Time
}
