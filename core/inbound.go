package core

import (
	"context"
	"fmt"

	"gateway/normalize"
)

// Results of handling an inbound message.
const (
	ResultCreated   = "created"   // a new conversation was started
	ResultAttached  = "attached"  // added to the active conversation
	ResultReopened  = "reopened"  // a recently closed conversation was reopened
	ResultDuplicate = "duplicate" // already stored: dropped
	ResultStatus    = "status"    // a delivery status was applied
	ResultIgnored   = "ignored"   // nothing to do (status for an unknown message)
)

// Inbound is one decoded record of inbound.v1.
type Inbound struct {
	Event   normalize.Event
	Message *normalize.Message // message.received
	Status  *normalize.Status  // message.status
}

// HandleInbound applies a batch of inbound events in one transaction, in
// order, and returns the result of each. A returned error means nothing of
// the batch was committed.
func (s *Service) HandleInbound(ctx context.Context, batch []Inbound) ([]string, error) {
	results := make([]string, len(batch))
	err := s.store.InTx(ctx, func(tx Tx) error {
		for i, in := range batch {
			var err error
			switch {
			case in.Message != nil:
				results[i], err = s.receive(ctx, tx, *in.Message)
			case in.Status != nil:
				results[i], err = s.applyStatus(ctx, tx, *in.Status)
			default:
				err = Errorf(EINVALID, "event %s has no message or status", in.Event.ID)
			}
			if err != nil {
				return fmt.Errorf("core: %s %s: %w", in.Event.Type, in.Event.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.metrics.batch.Observe(float64(len(batch)))
	for _, r := range results {
		if r != ResultStatus && r != ResultIgnored {
			s.metrics.message(r)
		}
	}
	s.notify()
	return results, nil
}

// resolveCustomer returns the customer owning the message's contact,
// creating one (and emitting customer.created) for a new contact.
func (s *Service) resolveCustomer(ctx context.Context, tx Tx, contact normalize.Party) (Customer, error) {
	id := Identity{Kind: contact.Kind, Address: contact.Address}
	c, ok, err := tx.CustomerByIdentity(ctx, id)
	if err != nil || ok {
		return c, err
	}
	c, created, err := tx.CreateCustomer(ctx, Customer{ID: normalize.NewID(), Name: contact.Name, CreatedAt: tx.Now()}, id)
	if err != nil || !created {
		return c, err
	}
	c.Identities = []Identity{id}
	return c, s.emit(ctx, tx, normalize.TypeCustomerCreated, EventData{CustomerID: c.ID, Customer: &c})
}

// receive attaches an inbound message to the customer's single active
// conversation: the active one, else the last closed one if it closed within
// the reopen window, else a new one.
func (s *Service) receive(ctx context.Context, tx Tx, m normalize.Message) (string, error) {
	contact := m.Contact()
	cust, err := s.resolveCustomer(ctx, tx, contact)
	if err != nil {
		return "", err
	}
	if err := tx.LockCustomer(ctx, cust.ID); err != nil {
		return "", err
	}
	if m.ProviderMessageID != "" {
		if _, dup, err := tx.MessageByProviderID(ctx, m.Provider, m.ProviderMessageID); err != nil || dup {
			return ResultDuplicate, err
		}
	}
	now := tx.Now()
	conv, result, err := s.conversationFor(ctx, tx, cust.ID, m.Channel, m.Direction == normalize.Inbound && !m.Echo)
	if err != nil {
		return "", err
	}
	stored := StoredMessage{ID: m.MessageID, ConversationID: conv.ID, CustomerID: cust.ID, Kind: KindMessage,
		Direction: m.Direction, Channel: m.Channel, Text: m.Text, Message: m, CreatedAt: now}
	if m.Direction == normalize.Outbound {
		stored.Status = normalize.StatusSent
	}
	inserted, err := tx.InsertMessage(ctx, stored)
	if err != nil {
		return "", err
	}
	if !inserted {
		return ResultDuplicate, nil
	}
	conv.MessageCount++
	conv.LastActivityAt = now
	conv.UpdatedAt = now
	if m.Direction == normalize.Inbound && !m.Echo {
		conv.Unreplied++
		conv.Channel, conv.ContactAddress, conv.BusinessAddress = m.Channel, contact.Address, m.To.Address
		at := m.ReceivedAt
		if at.IsZero() {
			at = now
		}
		conv.LastInboundAt = &at
		if conv.FirstInboundAt == nil {
			conv.FirstInboundAt = &at
		}
	}
	if err := tx.UpdateConversation(ctx, conv); err != nil {
		return "", err
	}
	return result, s.emit(ctx, tx, normalize.TypeMessageReceived, EventData{CustomerID: cust.ID,
		ConversationID: conv.ID, Channel: m.Channel, MessageID: m.MessageID, Message: &m})
}

// conversationFor returns the conversation a new message of the customer
// joins, waking a waiting one, reopening a recently closed one or creating
// one. fromCustomer is false for echoes of the business's own messages.
func (s *Service) conversationFor(ctx context.Context, tx Tx, customerID, channel string, fromCustomer bool) (Conversation, string, error) {
	conv, ok, err := tx.ActiveConversation(ctx, customerID)
	if err != nil {
		return Conversation{}, "", err
	}
	if ok {
		if conv.Status == StatusWaiting && fromCustomer {
			err = s.transition(ctx, tx, &conv, wakeStatus(conv), "customer_message", "customer")
		}
		return conv, ResultAttached, err
	}
	last, ok, err := tx.LastClosedConversation(ctx, customerID)
	if err != nil {
		return Conversation{}, "", err
	}
	now := tx.Now()
	if ok && fromCustomer && last.ClosedAt != nil && last.CloseReason != "merged" &&
		now.Sub(*last.ClosedAt) < s.policy.ReopenWindowFor(channel) {
		err = s.transition(ctx, tx, &last, wakeStatus(last), "customer_message", "customer")
		return last, ResultReopened, err
	}
	conv, err = s.createConversation(ctx, tx, customerID, channel, "customer_message", "customer")
	return conv, ResultCreated, err
}

// wakeStatus is the status a conversation returns to when the customer writes.
func wakeStatus(c Conversation) string {
	if c.Assignee != "" {
		return StatusOpen
	}
	return StatusNew
}

// createConversation starts a new conversation for a customer that has no
// active one.
func (s *Service) createConversation(ctx context.Context, tx Tx, customerID, channel, reason, actor string) (Conversation, error) {
	now := tx.Now()
	conv := Conversation{ID: normalize.NewID(), CustomerID: customerID, Status: StatusNew,
		CreatedAt: now, UpdatedAt: now, LastActivityAt: now, Channel: channel}
	ok, err := tx.InsertConversation(ctx, conv)
	if err != nil {
		return Conversation{}, err
	}
	if !ok {
		// The customer is locked, so this only happens if the store does not
		// lock: it is a conflict worth retrying.
		return Conversation{}, fmt.Errorf("core: customer %s already has an active conversation: %w", customerID, ErrTransient)
	}
	return conv, s.emit(ctx, tx, normalize.TypeConversationCreated, EventData{CustomerID: customerID,
		ConversationID: conv.ID, Channel: channel, To: StatusNew, Reason: reason, Actor: actor, Conversation: &conv})
}

// hasPendingMedia reports whether a message has attachments to copy and a
// media store to copy them to.
func (s *Service) hasPendingMedia(m *normalize.Message) bool {
	if s.media == nil {
		return false
	}
	for _, a := range m.Attachments {
		if a.Status == "pending" {
			return true
		}
	}
	return false
}
