package httpapi

import (
	"context"

	"github.com/opengateway/gateway/core"
)

// The API reaches the core through these interfaces, each the methods of
// one core type it calls; cmd/gateway wires them (Core).

// Conversations is the conversation engine (core.Service).
type Conversations interface {
	AddNote(ctx context.Context, id, text string, by core.Actor) (core.StoredMessage, error)
	Assign(ctx context.Context, id, agent, inbox string, by core.Actor) (core.Conversation, error)
	Conversation(ctx context.Context, id string) (core.Conversation, error)
	DeleteConversation(ctx context.Context, id string, by core.Actor) error
	EndContact(ctx context.Context, conversationID, contactID string, by core.Actor) (core.Conversation, error)
	EntryPoints(ctx context.Context, eps []core.EntryPoint) ([]core.EntryPoint, error)
	HandleInbound(ctx context.Context, batch []core.Inbound) ([]string, error)
	Handover(ctx context.Context, id, to string, by core.Actor) (core.Conversation, error)
	ListConversations(ctx context.Context, f core.ConversationFilter) ([]core.Conversation, error)
	MessagePage(ctx context.Context, conversationID string, after *core.MessageCursor, limit int) ([]core.StoredMessage, *core.MessageCursor, error)
	Messages(ctx context.Context, conversationID string) ([]core.StoredMessage, error)
	OpenConversation(ctx context.Context, customerID, channel string, first *core.ReplyRequest, by core.Actor) (core.Conversation, *core.StoredMessage, error)
	Reply(ctx context.Context, conversationID string, r core.ReplyRequest, by core.Actor) (core.StoredMessage, error)
	SetStatus(ctx context.Context, id, status, reason string, by core.Actor) (core.Conversation, error)
	SetVisibility(ctx context.Context, id string, visibleTo []string, by core.Actor) (core.Conversation, error)
	UnassignAgent(ctx context.Context, id, agent string, by core.Actor) (core.Conversation, error)
}

// Customers is the customers directory (core.Customers).
type Customers interface {
	AddIdentity(ctx context.Context, customerID string, id core.Identity, by core.Actor) (core.Customer, error)
	CreateCustomer(ctx context.Context, n core.NewCustomer, by core.Actor) (core.Customer, error)
	Customer(ctx context.Context, id string) (core.Customer, error)
	EraseCustomer(ctx context.Context, id string, by core.Actor) error
	FindCustomer(ctx context.Context, address string) (core.Customer, error)
	Merge(ctx context.Context, into, from string, by core.Actor) (core.Customer, error)
	RemoveIdentity(ctx context.Context, customerID string, id core.Identity, by core.Actor) (core.Customer, error)
	Timeline(ctx context.Context, id string, after *core.MessageCursor, limit int) (core.Timeline, error)
	UpdateCustomer(ctx context.Context, id string, ch core.CustomerChange, by core.Actor) (core.Customer, error)
}

// Agents is the agents' side: read marks, topics, presets, figures
// (core.Agents).
type Agents interface {
	MarkRead(ctx context.Context, id, agent string) (core.Conversation, error)
	Presets(ctx context.Context, customerID string) (core.Presets, error)
	SetPresets(ctx context.Context, customerID string, p core.Presets) (core.Presets, error)
	SetTopics(ctx context.Context, id string, topics []string, by core.Actor) (core.Conversation, error)
	ShowUnread(ctx context.Context, agent string, convs []core.Conversation) error
	StatsWithMine(ctx context.Context, agent, inbox, me string) (core.Stats, error)
}

// Replies sends a failed reply again (core.DispatchQueue).
type Replies interface {
	RetryMessage(ctx context.Context, id string, by core.Actor) (core.StoredMessage, error)
}

// Core is what the API drives, by role.
type Core struct {
	Conversations Conversations
	Customers     Customers
	Agents        Agents
	Replies       Replies
}

var (
	_ Conversations = (*core.Service)(nil)
	_ Customers     = (*core.Customers)(nil)
	_ Agents        = (*core.Agents)(nil)
	_ Replies       = (*core.DispatchQueue)(nil)
)
