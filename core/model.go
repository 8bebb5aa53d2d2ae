package core

import (
	"time"

	"github.com/opengateway/gateway/normalize"
)

// Conversation states.
const (
	StatusNew     = "new"     // not assigned
	StatusOpen    = "open"    // assigned to one agent in one inbox
	StatusWaiting = "waiting" // no reply needed, nothing pending
	StatusClosed  = "closed"  // solved
)

// Customer is a person the business talks with, on any number of identities.
type Customer struct {
	ID         string     `json:"id"`
	Name       string     `json:"name,omitempty"`
	Identities []Identity `json:"identities,omitempty"`
	// Attributes are an operator's flat string fields (absent when none).
	Attributes map[string]string `json:"attributes,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
}

// Identity is one address of a customer (a phone shared by SMS, MMS and
// WhatsApp; an email; a Messenger PSID; an Instagram id; a chat visitor).
type Identity struct {
	Kind    string `json:"kind"`
	Address string `json:"address"`
}

// Conversation is the customer's thread across every channel. At most one
// per customer is not closed.
type Conversation struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	Status     string `json:"status"`
	// Assignee is the first of Assignees ("" when nobody is assigned).
	Assignee string `json:"assignee,omitempty"`
	// Assignees has one agent (Gladly), or several with Policy.MultiAssign
	// (Converso).
	Assignees []string `json:"assignees"`
	Inbox     string   `json:"inbox,omitempty"`
	// EntryPoint is the entry point the conversation started at (EntryPointOf
	// its first message, or of the channel it was opened on); "" when not
	// known. A reopen keeps it.
	EntryPoint     string     `json:"entry_point"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	LastActivityAt time.Time  `json:"last_activity_at"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
	CloseReason    string     `json:"close_reason,omitempty"`
	WaitingSince   *time.Time `json:"waiting_since,omitempty"`
	// Channel, ContactAddress and BusinessAddress are where the customer
	// last wrote: the default route of a reply.
	Channel         string `json:"channel,omitempty"`
	ContactAddress  string `json:"contact_address,omitempty"`
	BusinessAddress string `json:"business_address,omitempty"`
	// LastInboundAt is when the customer last wrote (24-hour windows).
	LastInboundAt *time.Time `json:"last_inbound_at,omitempty"`
	// Handler is who answers the customer: HandlerHuman, or "bot:<name>"
	// (an AI agent). A conversation a bot handles is left out of the
	// unreplied figures until it is handed over to a human.
	Handler string `json:"handler"`
	// ReopenedAt is when a closed conversation was last reopened: its
	// resolution time counts from then (from CreatedAt before any reopen).
	ReopenedAt *time.Time `json:"reopened_at,omitempty"`
	// Counters. Unreplied counts the customer's messages since the last
	// reply by a human (an agent's or admin's, or an echo of one sent from
	// the provider's own app); FirstInboundAt is when the gateway received
	// the customer's first message, and FirstResponseSeconds runs from it to
	// the first human reply.
	Unreplied            int        `json:"unreplied"`
	MessageCount         int        `json:"message_count"`
	FirstInboundAt       *time.Time `json:"first_inbound_at,omitempty"`
	FirstResponseSeconds *float64   `json:"first_response_seconds,omitempty"`
	ResolutionSeconds    *float64   `json:"resolution_seconds,omitempty"`
	// Topics are free labels (MaxTopics of at most MaxTopicLen bytes).
	Topics []string `json:"topics"`
	// VisibleTo are the agents who may see the conversation besides admins
	// and bots; empty: everyone.
	VisibleTo []string `json:"visible_to"`
	// Unread counts the customer's messages since the viewing agent's read
	// mark; nil when nobody in particular views it.
	Unread *int `json:"unread,omitempty"`
	// Contacts are the conversation's latest MaxContactsShown contacts,
	// oldest first (filled by Service.Conversation and
	// Service.ListConversations).
	Contacts []Contact `json:"contacts,omitzero"`
}

// HandlerHuman is the handler of a conversation people answer.
const HandlerHuman = "human"

// Presets are what each new conversation of a customer starts with
// (Converso's auto-assignment per contact).
type Presets struct {
	Assignees []string  `json:"assignees"`
	Inbox     string    `json:"inbox"`
	VisibleTo []string  `json:"visible_to"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Message kinds stored in a conversation.
const (
	KindMessage = "message"
	KindNote    = "note"
)

// StoredMessage is a message or note as kept in a conversation.
type StoredMessage struct {
	ID             string            `json:"id"`
	ConversationID string            `json:"conversation_id"`
	CustomerID     string            `json:"customer_id"`
	Kind           string            `json:"kind"`
	Direction      string            `json:"direction,omitempty"`
	Channel        string            `json:"channel,omitempty"`
	Status         string            `json:"status,omitempty"` // delivery state of an outbound message
	Error          *DeliveryError    `json:"error,omitempty"`
	Author         string            `json:"author,omitempty"` // agent of a note or reply
	Text           string            `json:"text,omitempty"`
	Message        normalize.Message `json:"message"`
	CreatedAt      time.Time         `json:"created_at"`

	// Attempts, LastError and NextAttemptAt show a reply's sending while
	// the dispatch queue holds it: the sends tried so far (in the current round; a
	// retry starts a new one), why the last one failed, and when the next
	// is due (only while it waits to be sent). Nil for anything but a reply.
	Attempts      *int           `json:"attempts,omitempty"`
	LastError     *DeliveryError `json:"last_error,omitempty"`
	NextAttemptAt *time.Time     `json:"next_attempt_at,omitempty"`
}

// DeliveryError says why an outbound message failed.
type DeliveryError struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	ProviderCode string `json:"provider_code,omitempty"`
}

// OutboxEvent is an event written in a database transaction and published to
// Kafka after it commits.
type OutboxEvent struct {
	Topic string
	Key   string
	Value []byte
	// DeadLetter, when set, makes the record a dead letter: it carries the
	// dlq-* headers with this reason and error.
	DeadLetter *DeadLetter
}

// DeadLetter is why a record went to the dead-letter topic.
type DeadLetter struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
}
