package core

import (
	"context"
	"time"

	"github.com/opengateway/gateway/normalize"
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
	// ClaimDispatch leases due replies to one dispatcher: for each
	// conversation only its oldest unsent reply, skipping rows another
	// dispatcher holds, for lease by the store's clock. Rows whose lease ran
	// out (a dispatcher died) are due again.
	ClaimDispatch(ctx context.Context, lease time.Duration, limit int) ([]DispatchJob, error)
	Close() error
}

// Dispatch queue row states.
const (
	DispatchPending = "pending"
	DispatchSending = "sending"
	DispatchDone    = "done"
	DispatchFailed  = "failed"
)

// DispatchUpdate is the state of a reply's sending (DispatchTx.UpdateDispatch).
type DispatchUpdate struct {
	MessageID, State string
	Attempts         int
	Next             time.Time
	LastError        *DeliveryError
}

// DispatchJob is a reply waiting to be sent.
type DispatchJob struct {
	MessageID      string
	ConversationID string
	Channel        string
	State          string
	Attempts       int
	ClientRef      string
	Payload        []byte
	CreatedAt      time.Time
	// QueuedAt is when the current round of sends began: when the reply
	// was queued, or retried (GATEWAY_OUTBOX_MAX_AGE counts from it).
	QueuedAt time.Time
	// Resend is true when an earlier dispatcher took the row and died: the
	// provider may have the message already.
	Resend bool
}

// Tx is the work a transaction can do, one field per role: code reaches a
// role by its field (tx.Message.MessageByID) and a function that needs one
// role takes its small interface. The store fills every field with the
// same transaction; the clock and the events are the transaction's own
// (Now, AddEvents).
type Tx struct {
	Customers      CustomerTx
	CustomerWrites CustomerWriteTx
	CustomerAdmin  CustomerAdminTx
	Conversations  ConversationTx
	Batch          BatchTx
	Message        MessageTx
	Query          QueryTx
	Delivery       DeliveryTx
	Dispatch       DispatchTx
	Events         EventTx
	Presets        PresetTx
	Reads          ReadTx
	Chat           ChatTx
	Part           PartTx
	Visibility     VisibilityTx
	Contact        ContactTx
	Routing        RoutingTx
	// Self is the store's transaction itself, for what one store does
	// beyond these roles (sqlstore records command ids,
	// kafkabus.CommandRecorder).
	Self any
}

// Now is the clock of the transaction.
func (tx Tx) Now() time.Time { return tx.Events.Now() }

// AddEvents appends events to the event outbox, published after commit.
func (tx Tx) AddEvents(ctx context.Context, evs ...OutboxEvent) error {
	return tx.Events.AddEvents(ctx, evs...)
}

// ConversationEntryPoint returns the entry point a stored conversation
// started at (EventTx).
func (tx Tx) ConversationEntryPoint(ctx context.Context, conversationID string) (string, bool, error) {
	return tx.Events.ConversationEntryPoint(ctx, conversationID)
}

// RoutingTx keeps the round robin turns of the entry points.
type RoutingTx interface {
	// NextTurn returns the entry point's turn (0 the first time) and
	// counts one more; the count is shared by every instance and held by
	// the transaction until it ends.
	NextTurn(ctx context.Context, entryPoint string) (int64, error)
}

// VisibilityTx keeps who may see each conversation.
type VisibilityTx interface {
	// SetVisibleTo replaces a conversation's visible_to (UpdateConversation
	// leaves it as it is).
	SetVisibleTo(ctx context.Context, conversationID string, visibleTo []string, updatedAt time.Time) error
}

// PresetTx keeps the presets of customers.
type PresetTx interface {
	// CustomerPresets returns a customer's presets; false when none are set.
	CustomerPresets(ctx context.Context, customerID string) (Presets, bool, error)
	// SetCustomerPresets replaces a customer's presets.
	SetCustomerPresets(ctx context.Context, customerID string, p Presets) error
}

// ReadTx keeps how far each agent has read each conversation.
type ReadTx interface {
	// MarkRead records that agent read a conversation up to at.
	MarkRead(ctx context.Context, conversationID, agent string, at time.Time) error
	// Unread counts, for each of the conversations, the customer's messages
	// agent has not read (conversations without any are absent).
	Unread(ctx context.Context, agent string, conversationIDs []string) (map[string]int, error)
	// AgentFigures returns an agent's own dashboard figures, over the
	// conversations visible to them, of inbox ("": of every inbox).
	AgentFigures(ctx context.Context, agent, inbox string) (AgentFigures, error)
}

// CustomerTx finds and creates customers one at a time.
type CustomerTx interface {
	// CustomerByIdentity returns the customer owning an identity.
	CustomerByIdentity(ctx context.Context, id Identity) (Customer, bool, error)
	// CreateCustomer creates a customer with one identity; if another
	// transaction took the identity first, it returns that customer and false.
	CreateCustomer(ctx context.Context, c Customer, id Identity) (Customer, bool, error)
	// LockCustomer serializes work on one customer until the transaction ends.
	LockCustomer(ctx context.Context, customerID string) error
	// CustomerByID returns a customer with its identities; a customer merged
	// into another is not found.
	CustomerByID(ctx context.Context, id string) (Customer, bool, error)
}

// CustomerWriteTx writes customers an operator creates and changes.
type CustomerWriteTx interface {
	// InsertCustomer inserts a customer without identities.
	InsertCustomer(ctx context.Context, c Customer) error
	// UpdateCustomer writes a customer's name and attributes.
	UpdateCustomer(ctx context.Context, c Customer) error
	// AddIdentity gives a customer an identity; false if a customer has it.
	AddIdentity(ctx context.Context, customerID string, id Identity, at time.Time) (bool, error)
	// RemoveIdentity takes an identity from a customer.
	RemoveIdentity(ctx context.Context, customerID string, id Identity) error
}

// CustomerAdminTx merges and erases customers.
type CustomerAdminTx interface {
	// MergeCustomer moves every identity, conversation and message of from
	// to into, and leaves from as a tombstone pointing at into.
	MergeCustomer(ctx context.Context, from, into string) error
	// EraseCustomer deletes everything kept about a customer.
	EraseCustomer(ctx context.Context, id string) error
}

// ConversationTx reads and writes one conversation.
type ConversationTx interface {
	// ActiveConversation returns the customer's conversation that is not closed.
	ActiveConversation(ctx context.Context, customerID string) (Conversation, bool, error)
	// LastClosedConversation returns the customer's most recently closed conversation.
	LastClosedConversation(ctx context.Context, customerID string) (Conversation, bool, error)
	// InsertConversation inserts c; false if the customer already has an
	// active conversation.
	InsertConversation(ctx context.Context, c Conversation) (bool, error)
	// UpdateConversation writes every field of c.
	UpdateConversation(ctx context.Context, c Conversation) error
	// ConversationByID returns one conversation.
	ConversationByID(ctx context.Context, id string) (Conversation, bool, error)
	// DeleteConversation deletes a conversation and its messages.
	DeleteConversation(ctx context.Context, id string) error
}

// BatchTx reads and writes what a batch of inbound messages needs, in bulk.
type BatchTx interface {
	// CustomersByIdentities returns the customers owning identities.
	CustomersByIdentities(ctx context.Context, ids []Identity) (map[Identity]Customer, error)
	// LockCustomers locks customers in id order.
	LockCustomers(ctx context.Context, ids []string) error
	// StoredProviderIDs returns which (provider, provider message id) pairs are stored.
	StoredProviderIDs(ctx context.Context, keys []ProviderKey) (map[ProviderKey]bool, error)
	// ActiveConversations returns the active conversation of each customer that has one.
	ActiveConversations(ctx context.Context, customerIDs []string) (map[string]Conversation, error)
	// WriteBatch writes what a batch made and changed: it inserts the
	// conversations made, skipping any whose customer has an active one
	// already (and then stops), writes every field of each conversation
	// changed, and stores the messages ms, skipping stored provider ids. It
	// returns how many conversations and messages were inserted. Each
	// conversation's running counts take its messages of ms.
	WriteBatch(ctx context.Context, made, changed []Conversation, ms []StoredMessage) (conversations, messages int, err error)
	// OpenContacts returns the open contacts of conversations.
	OpenContacts(ctx context.Context, conversationIDs []string) ([]Contact, error)
	// UpdateContacts writes every field of each contact but its identity
	// and start.
	UpdateContacts(ctx context.Context, cs []Contact) error
	// CreateCustomers creates customers, cs[i] with the one identity
	// ids[i]. An identity another transaction took first is returned with
	// the customer owning it (cs[i] is then not created).
	CreateCustomers(ctx context.Context, cs []Customer, ids []Identity) (taken map[Identity]Customer, err error)
	// InsertContacts stores new contacts.
	InsertContacts(ctx context.Context, cs []Contact) error
	// LastClosedConversations returns the most recently closed
	// conversation of each customer that has one.
	LastClosedConversations(ctx context.Context, customerIDs []string) (map[string]Conversation, error)
	// CustomersWithPresets returns which of the customers have presets.
	CustomersWithPresets(ctx context.Context, customerIDs []string) (map[string]bool, error)
}

// MessageTx finds and stores single messages.
type MessageTx interface {
	// MessageByProviderID finds a message by its provider's id.
	MessageByProviderID(ctx context.Context, provider, providerMessageID string) (StoredMessage, bool, error)
	// MessageByID returns one message.
	MessageByID(ctx context.Context, id string) (StoredMessage, bool, error)
	// MessagesByID returns the messages of ids that exist, by id.
	MessagesByID(ctx context.Context, ids []string) (map[string]StoredMessage, error)
	// UpdateMessage replaces the normalized message (text, attachments,
	// call) of a stored message.
	UpdateMessage(ctx context.Context, id string, m normalize.Message) error
	// InsertMessage stores a message or note; false if (provider,
	// provider_message_id) is already stored.
	InsertMessage(ctx context.Context, m StoredMessage) (bool, error)
	// LastInbound returns the customer's last message in a conversation on a
	// channel ("" for any channel).
	LastInbound(ctx context.Context, conversationID, channel string) (StoredMessage, bool, error)
	// CustomerLastInbound returns the customer's last message on a channel,
	// whichever of their conversations it joined.
	CustomerLastInbound(ctx context.Context, customerID, channel string) (StoredMessage, bool, error)
	// OutboundUpTo returns the outbound messages a provider carried to the
	// customer owning an identity, created at or before t, not yet read or failed.
	OutboundUpTo(ctx context.Context, provider string, id Identity, t time.Time) ([]StoredMessage, error)
}

// QueryTx answers the operator's lists and figures.
type QueryTx interface {
	// ListConversations returns conversations by the filter, newest activity first.
	ListConversations(ctx context.Context, f ConversationFilter) ([]Conversation, error)
	// CustomerConversations returns every conversation of a customer, newest first.
	CustomerConversations(ctx context.Context, customerID string) ([]Conversation, error)
	// Messages returns a conversation's messages and notes in order.
	Messages(ctx context.Context, conversationID string) ([]StoredMessage, error)
	// MessagesAfter returns at most limit of a conversation's messages and
	// notes after the cursor (nil: from the first), oldest first.
	MessagesAfter(ctx context.Context, conversationID string, after *MessageCursor, limit int) ([]StoredMessage, error)
	// CustomerMessages returns at most limit messages and notes of the
	// customer's conversations v sees (nil: every one) after the cursor
	// (nil: from the first), oldest first.
	CustomerMessages(ctx context.Context, customerID string, v *Viewer, after *MessageCursor, limit int) ([]StoredMessage, error)
	// ConversationsByID returns the conversations of ids that exist, in no
	// particular order.
	ConversationsByID(ctx context.Context, ids []string) ([]Conversation, error)
	// LatestContacts returns the latest n contacts of each conversation,
	// each conversation's oldest first.
	LatestContacts(ctx context.Context, conversationIDs []string, n int) ([]Contact, error)
	// DueWaiting returns at most limit waiting conversations, longest
	// waiting first, that have waited since before their cutoff in due.
	DueWaiting(ctx context.Context, due WaitingCutoffs, limit int) ([]Conversation, error)
	// Stats returns the dashboard figures of the conversations v sees (nil:
	// every one) of inbox ("": of every inbox); agent may be empty.
	Stats(ctx context.Context, agent, inbox string, v *Viewer) (Stats, error)
	// LastInboundByEntryPoint returns, by entry point, the time of the
	// latest customer message of the conversations that started there.
	LastInboundByEntryPoint(ctx context.Context) (map[string]time.Time, error)
}

// DeliveryTx records delivery states, including those that arrive early.
type DeliveryTx interface {
	// SetDelivery records a message's delivery state, provider id and error.
	SetDelivery(ctx context.Context, id, status, provider, providerMessageID string, derr *DeliveryError) error
	// AddEarlyStatus keeps a status for a message whose send is not recorded yet.
	AddEarlyStatus(ctx context.Context, st normalize.Status) error
	// TakeEarlyStatuses returns and deletes the early statuses of a message.
	TakeEarlyStatuses(ctx context.Context, provider, providerMessageID string) ([]normalize.Status, error)
	// TakeEarlyStatusesOf is TakeEarlyStatuses of many messages at once.
	TakeEarlyStatusesOf(ctx context.Context, keys []ProviderKey) (map[ProviderKey][]normalize.Status, error)
	// SetDeliveries writes what SetDelivery calls came to, of many messages.
	SetDeliveries(ctx context.Context, ds []Delivery) error
}

// DispatchTx queues replies and records their sending.
type DispatchTx interface {
	// Enqueue queues a reply for the dispatcher.
	Enqueue(ctx context.Context, j DispatchJob) error
	// QueuedByClientRef returns the message queued with a client ref.
	QueuedByClientRef(ctx context.Context, ref string) (StoredMessage, bool, error)
	// UpdateDispatch records the state of a reply's sending and why its last
	// send failed (nil: it did not).
	UpdateDispatch(ctx context.Context, messageID, state string, attempts int, next time.Time, lastErr *DeliveryError) error
	// UpdateDispatches is UpdateDispatch of many rows at once.
	UpdateDispatches(ctx context.Context, us []DispatchUpdate) error
	// Requeue queues a failed reply again as a new round of sends
	// from now: no attempts, no error, the message queued. It reports
	// false when the reply has no dispatch queue row.
	Requeue(ctx context.Context, messageID string) (bool, error)
}

// ChatTx reads what a returning web chat visitor is shown.
type ChatTx interface {
	// VisitorHistory returns the last limit messages on a channel that the
	// customer owning an identity sent or was sent, oldest first: never a
	// note, nor a reply that is queued or failed.
	VisitorHistory(ctx context.Context, id Identity, channel string, limit int) ([]StoredMessage, error)
}

// PartTx records the parts of replies sent as several provider messages.
type PartTx interface {
	// InsertPart records a sent part; false if the part is recorded already.
	InsertPart(ctx context.Context, p MessagePart) (bool, error)
	// PartByProviderID finds a part by its provider's id.
	PartByProviderID(ctx context.Context, provider, providerMessageID string) (MessagePart, bool, error)
	// Parts returns the recorded parts of a message in order.
	Parts(ctx context.Context, messageID string) ([]MessagePart, error)
	// SetPartStatus records a part's delivery state.
	SetPartStatus(ctx context.Context, messageID string, part int, status string) error
}

// EventTx writes events, published after the transaction commits.
type EventTx interface {
	// AddEvents appends events to the event outbox, published after commit.
	AddEvents(ctx context.Context, evs ...OutboxEvent) error
	// ConversationEntryPoint returns the entry point a stored conversation
	// started at; false when there is no such conversation.
	ConversationEntryPoint(ctx context.Context, conversationID string) (string, bool, error)
	// Now is the clock of the transaction.
	Now() time.Time
}

// ConversationFilter selects conversations for the operator API.
type ConversationFilter struct {
	Status string
	Inbox  string
	// Assignee selects conversations this agent is one of the assignees of.
	Assignee   string
	Unassigned bool
	// Topic selects conversations carrying this topic.
	Topic      string
	CustomerID string
	// Unreplied selects the active conversations a human handles whose
	// customer waits for a human reply (the unreplied figures' list).
	Unreplied bool
	// UnreadBy selects the conversations with customer messages this agent
	// has not read.
	UnreadBy string
	// Channel selects the conversations whose customer last wrote on this
	// channel (the channel a reply goes to by default).
	Channel string
	// EntryPoint selects the conversations that started at this entry point.
	EntryPoint string
	// Handler selects by handler: HandlerHuman, "bot" (any bot) or "bot:<name>".
	Handler string
	// Active leaves out closed conversations.
	Active bool
	// Viewer keeps the conversations this viewer sees; nil keeps every one.
	Viewer *Viewer
	// After is the cursor: the last conversation of the previous page.
	After *Cursor
	Limit int
	// UnreadOf, when set, is the agent whose unread count (Unread) each
	// listed conversation carries; "" leaves Unread nil.
	UnreadOf string
	// Contacts, when above 0, is how many of its latest contacts each listed
	// conversation carries (Contacts, oldest first, never nil); 0 reads none.
	Contacts int
}

// Cursor is a position in the newest-activity-first order.
type Cursor struct {
	LastActivityAt time.Time
	ID             string
}

// MessageCursor is a position in the oldest-first order of messages: the
// last message of the previous page.
type MessageCursor struct {
	CreatedAt time.Time
	ID        string
}

// Stats are the dashboard figures.
type Stats struct {
	ByStatus                 map[string]int `json:"by_status"`
	Unassigned               int            `json:"unassigned"`
	Unreplied                int            `json:"unreplied"`
	AgentAssigned            *int           `json:"agent_assigned,omitempty"`
	AgentUnreplied           *int           `json:"agent_unreplied,omitempty"`
	FirstResponseSecondsAvg  *float64       `json:"first_response_seconds_avg,omitempty"`
	ResolutionSecondsAvg     *float64       `json:"resolution_seconds_avg,omitempty"`
	ConversationsWithReplies int            `json:"conversations_with_replies"`
	Resolved                 int            `json:"resolved"`
	DispatchPending          int            `json:"outbox_pending"`
	// ByTopic counts conversations by topic: the MaxStatsTopics topics of
	// the most active conversations (then the most closed).
	ByTopic map[string]TopicFigures `json:"by_topic"`
	// Mine are the caller's own figures (the operator API fills them).
	Mine *AgentFigures `json:"mine,omitempty"`
}

// MaxStatsTopics is how many topics the figures count by.
const MaxStatsTopics = 100

// TopicFigures are the figures of one topic.
type TopicFigures struct {
	Active    int `json:"active"` // not closed
	Closed    int `json:"closed"`
	Unreplied int `json:"unreplied"` // in active conversations
}

// AgentFigures are one agent's dashboard tiles (Converso): conversations
// assigned to them and not closed, the customer messages in those waiting
// for a reply, and the customer messages of active conversations they have
// not read (assigned to them or not).
type AgentFigures struct {
	Agent               string `json:"agent"`
	Assigned            int    `json:"assigned"`
	Unreplied           int    `json:"unreplied"`
	Unread              int    `json:"unread"`
	UnreadConversations int    `json:"unread_conversations"`
}

// ProviderKey identifies a message at its provider.
type ProviderKey struct{ Provider, ID string }

// WaitingCutoffs say when a waiting conversation is due to close: when it
// has waited since before ByEntryPoint[its entry point], or Before for an
// entry point not there.
type WaitingCutoffs struct {
	Before       time.Time
	ByEntryPoint map[string]time.Time
}
