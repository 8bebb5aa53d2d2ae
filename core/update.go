package core

import (
	"context"

	"github.com/opengateway/gateway/normalize"
)

// applyUpdate changes a stored message by a provider's update (a call's
// outcome and duration, its recording, its transcription) and publishes
// message.updated with the whole message. The message may still be waiting
// in this batch to be written. An update of a message the gateway does not
// have is ignored; one that changes nothing (a repeated callback) is a
// duplicate. A call that turns missed or voicemail counts as unreplied in
// its conversation, if that conversation is still active.
func (s *Service) applyUpdate(ctx context.Context, tx Tx, st *batchState, u normalize.Update) (string, error) {
	stored, pending, ok, err := st.findMessage(ctx, tx, u.Provider, u.ProviderMessageID)
	if err != nil || !ok {
		return ResultIgnored, err
	}
	if !st.locked[stored.CustomerID] {
		if err := tx.Customers.LockCustomer(ctx, stored.CustomerID); err != nil {
			return "", err
		}
		st.locked[stored.CustomerID] = true
		if c, ok, err := tx.Conversations.ActiveConversation(ctx, stored.CustomerID); err != nil {
			return "", err
		} else if ok {
			st.active[stored.CustomerID] = &c
		}
	}
	m := stored.Message
	m.Attachments = append([]normalize.Attachment(nil), m.Attachments...)
	if m.Call != nil {
		c := *m.Call
		m.Call = &c
	}
	awaited := m.AwaitsReply()
	if !u.Apply(&m) {
		return ResultDuplicate, nil
	}
	if pending != nil {
		pending.Message, pending.Text = m, m.Text
	} else if err := tx.Message.UpdateMessage(ctx, stored.ID, m); err != nil {
		return "", err
	}
	if conv := st.active[stored.CustomerID]; conv != nil && conv.ID == stored.ConversationID && m.Direction == normalize.Inbound &&
		!awaited && m.AwaitsReply() {
		conv.Unreplied++
		conv.UpdatedAt = tx.Now()
		st.touch(conv)
	}
	entry := st.entryPointOf(stored.CustomerID, stored.ConversationID)
	return ResultUpdated, s.emit(ctx, tx, normalize.TypeMessageUpdated, EventData{CustomerID: stored.CustomerID,
		ConversationID: stored.ConversationID, EntryPoint: entry, Channel: stored.Channel, MessageID: stored.ID, Message: &m})
}

// entryPointOf is the entry point of a customer's conversation this batch
// holds (the active one, the last closed one or one it started); "" when it
// holds none, for emit to read it.
func (st *batchState) entryPointOf(customerID, conversationID string) string {
	for _, c := range []*Conversation{st.active[customerID], st.closed[customerID]} {
		if c != nil && c.ID == conversationID {
			return c.EntryPoint
		}
	}
	for _, c := range st.made {
		if c.ID == conversationID {
			return c.EntryPoint
		}
	}
	return ""
}

// findMessage returns the message a provider id names: one this batch has
// yet to write (pending points at it), or a stored one.
func (st *batchState) findMessage(ctx context.Context, tx Tx, provider, id string) (m StoredMessage, pending *StoredMessage, ok bool, err error) {
	for i := len(st.messages) - 1; i >= 0; i-- {
		if p := &st.messages[i]; p.Message.Provider == provider && p.Message.ProviderMessageID == id {
			return *p, p, true, nil
		}
	}
	m, ok, err = tx.Message.MessageByProviderID(ctx, provider, id)
	return m, nil, ok, err
}
