package core

import (
	"cmp"
	"context"
	"encoding/json"
	"time"

	"github.com/opengateway/gateway/normalize"
)

// DispatchQueue is the queue of replies waiting for their provider (the
// dispatch queue, table outbox): the state machine of one reply, in this
// file. Reply and OpenConversation queue a reply (pending, message.queued);
// the dispatcher (package outbox) claims it (Claim: sending, under a
// lease), sends it and records what the send came to, each in one
// transaction with the events and conversation changes it makes:
//
//	MarkSent, MarkSentBatch    done, message.sent (and statuses that came first)
//	MarkPartSent               one part of a split reply; the last one is MarkSent
//	RetryLater                 pending again, at a later time, with the last error
//	MarkFailed                 failed, message.failed and a dead letter on dlq.v1
//	RetryMessage               an operator queues a failed reply again
//
// What a send's outcome means (retry or fail) is decided in one place, the
// dispatcher's retryOrFail.
type DispatchQueue struct{ s *Service }

// DispatchQueue returns the queue of the engine's replies.
func (s *Service) DispatchQueue() *DispatchQueue { return &DispatchQueue{s: s} }

// DecodeOutbound returns what a job sends.
func DecodeOutbound(j DispatchJob) (Outbound, error) {
	var ob Outbound
	if err := json.Unmarshal(j.Payload, &ob); err != nil {
		return ob, Errorf(EINVALID, "outbox row %s: %v", j.MessageID, err)
	}
	return ob, nil
}

// Sent is a reply the provider accepted, under its id.
type Sent struct {
	Job               DispatchJob
	Provider          string
	ProviderMessageID string
}

// SentAlready reports whether a reply that is about to be sent again (its
// dispatcher died) is known to the provider already: a status callback
// carrying the gateway's id recorded the provider's id meanwhile.
func (q *DispatchQueue) SentAlready(ctx context.Context, j DispatchJob) (provider, providerMessageID string, ok bool, err error) {
	s := q.s
	err = s.store.InTx(ctx, func(tx Tx) error {
		m, found, err := tx.Message.MessageByID(ctx, j.MessageID)
		if err != nil || !found {
			return err
		}
		provider, providerMessageID = m.Message.Provider, m.Message.ProviderMessageID
		ok = providerMessageID != ""
		return nil
	})
	return provider, providerMessageID, ok, err
}

// MarkSent records that the provider accepted a reply, under its id, and
// applies any status that arrived first.
func (q *DispatchQueue) MarkSent(ctx context.Context, j DispatchJob, provider, providerMessageID string) error {
	return q.MarkSentBatch(ctx, []Sent{{Job: j, Provider: provider, ProviderMessageID: providerMessageID}})
}

// MarkSentBatch records many accepted replies in one transaction, a few
// statements for the whole group: the messages and the early statuses of
// their sends are read, and the dispatch queue rows and the messages' delivery
// written, each in bulk. The events are those MarkSent emits for each, in
// order.
func (q *DispatchQueue) MarkSentBatch(ctx context.Context, sent []Sent) error {
	s := q.s
	err := s.store.InTx(ctx, func(tx Tx) error { return s.markSent(ctx, tx, sent) })
	if err == nil {
		s.notify()
	}
	return err
}

func (s *Service) markSent(ctx context.Context, tx Tx, sent []Sent) error {
	ids := make([]string, len(sent))
	for i, x := range sent {
		ids[i] = x.Job.MessageID
	}
	ms, err := tx.Message.MessagesByID(ctx, ids)
	if err != nil {
		return err
	}
	var keys []ProviderKey
	for _, x := range sent {
		if _, ok := ms[x.Job.MessageID]; ok {
			keys = append(keys, ProviderKey{x.Provider, x.ProviderMessageID})
		}
	}
	early, err := tx.Delivery.TakeEarlyStatusesOf(ctx, keys)
	if err != nil {
		return err
	}
	known, err := entryPointsOf(ctx, tx, ms)
	if err != nil {
		return err
	}
	b := &deliveryBatch{DeliveryTx: tx.Delivery, at: map[string]int{}}
	bt := tx
	bt.Delivery = b
	bt.Events = known
	var done []DispatchUpdate
	for _, x := range sent {
		m, ok := ms[x.Job.MessageID]
		if !ok {
			continue // deleted meanwhile: nothing to record
		}
		done = append(done, DispatchUpdate{MessageID: m.ID, State: DispatchDone, Attempts: x.Job.Attempts + 1, Next: tx.Now()})
		if err := s.sentOne(ctx, bt, m, x, early[ProviderKey{x.Provider, x.ProviderMessageID}]); err != nil {
			return err
		}
	}
	if err := tx.Dispatch.UpdateDispatches(ctx, done); err != nil {
		return err
	}
	return tx.Delivery.SetDeliveries(ctx, b.list)
}

// knownEntryPoints answers the entry points of the conversations read in
// bulk before a batch's events, and asks the store for any other.
type knownEntryPoints struct {
	EventTx
	known map[string]string
}

func (k knownEntryPoints) ConversationEntryPoint(ctx context.Context, conversationID string) (string, bool, error) {
	if ep, ok := k.known[conversationID]; ok {
		return ep, true, nil
	}
	return k.EventTx.ConversationEntryPoint(ctx, conversationID)
}

// entryPointsOf reads the entry points of the messages' conversations in
// bulk, for their events: one statement for a batch rather than one per
// event.
func entryPointsOf(ctx context.Context, tx Tx, ms map[string]StoredMessage) (knownEntryPoints, error) {
	seen := map[string]bool{}
	var ids []string
	for _, m := range ms {
		if !seen[m.ConversationID] {
			seen[m.ConversationID] = true
			ids = append(ids, m.ConversationID)
		}
	}
	k := knownEntryPoints{EventTx: tx.Events, known: make(map[string]string, len(ids))}
	convs, err := tx.Query.ConversationsByID(ctx, ids)
	for _, c := range convs {
		k.known[c.ID] = c.EntryPoint
	}
	return k, err
}

// sentOne records one accepted reply in tx, whose deliveries are
// gathered (deliveryBatch): its provider's id, sent, and
// the statuses that arrived before the send was recorded.
func (s *Service) sentOne(ctx context.Context, tx Tx, m StoredMessage, x Sent, early []normalize.Status) error {
	if err := tx.Delivery.SetDelivery(ctx, m.ID, m.Status, x.Provider, x.ProviderMessageID, nil); err != nil {
		return err
	}
	m.Message.Provider, m.Message.ProviderMessageID = x.Provider, x.ProviderMessageID
	if err := s.advance(ctx, tx, m, normalize.Status{Status: normalize.StatusSent}); err != nil {
		return err
	}
	if normalize.Advances(m.Status, normalize.StatusSent) {
		m.Status = normalize.StatusSent
	}
	for _, st := range early {
		if err := s.advance(ctx, tx, m, st); err != nil {
			return err
		}
		if normalize.Advances(m.Status, st.Status) {
			m.Status = st.Status
		}
	}
	return nil
}

// SentParts returns the parts of a split reply the provider took, in order.
func (q *DispatchQueue) SentParts(ctx context.Context, messageID string) ([]MessagePart, error) {
	s := q.s
	var out []MessagePart
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Part.Parts(ctx, messageID)
		return err
	})
	return out, err
}

// MarkPartSent records that the provider took part (of parts) of a reply,
// under its id, and applies any status of it that arrived first. A part
// recorded already is not recorded again. The last part completes the
// reply: its dispatch queue row is done and it moves to sent, then on to the worst
// state of its parts.
func (q *DispatchQueue) MarkPartSent(ctx context.Context, j DispatchJob, part, parts int, provider, providerMessageID string) error {
	s := q.s
	err := s.store.InTx(ctx, func(tx Tx) error {
		m, ok, err := tx.Message.MessageByID(ctx, j.MessageID)
		if err != nil || !ok {
			return err // deleted meanwhile: nothing to record
		}
		p := MessagePart{MessageID: m.ID, Part: part, Provider: provider, ProviderMessageID: providerMessageID, Status: normalize.StatusSent}
		inserted, err := tx.Part.InsertPart(ctx, p)
		if err != nil {
			return err
		}
		if inserted {
			early, err := tx.Delivery.TakeEarlyStatuses(ctx, provider, providerMessageID)
			if err != nil {
				return err
			}
			for _, st := range early {
				if err := s.advancePart(ctx, tx, &m, &p, st); err != nil {
					return err
				}
			}
		}
		if part < parts-1 {
			return nil
		}
		return s.completeParts(ctx, tx, j, m, provider)
	})
	if err == nil {
		s.notify()
	}
	return err
}

// completeParts records that every part of a reply was sent.
func (s *Service) completeParts(ctx context.Context, tx Tx, j DispatchJob, m StoredMessage, provider string) error {
	if err := tx.Dispatch.UpdateDispatch(ctx, m.ID, DispatchDone, j.Attempts+1, tx.Now(), nil); err != nil {
		return err
	}
	if err := tx.Delivery.SetDelivery(ctx, m.ID, m.Status, provider, "", nil); err != nil {
		return err
	}
	m.Message.Provider = provider
	if err := s.advance(ctx, tx, m, normalize.Status{Status: normalize.StatusSent}); err != nil {
		return err
	}
	if normalize.Advances(m.Status, normalize.StatusSent) {
		m.Status = normalize.StatusSent
	}
	parts, err := tx.Part.Parts(ctx, m.ID)
	if err != nil {
		return err
	}
	return s.advance(ctx, tx, m, normalize.Status{Status: worstOf(parts)})
}

// RetryLater puts a reply back to wait until at; derr is why the send
// failed, shown as the reply's last_error.
func (q *DispatchQueue) RetryLater(ctx context.Context, j DispatchJob, at time.Time, derr DeliveryError) error {
	s := q.s
	return s.store.InTx(ctx, func(tx Tx) error {
		return tx.Dispatch.UpdateDispatch(ctx, j.MessageID, DispatchPending, j.Attempts+1, at, &derr)
	})
}

// MarkFailed fails a reply for good: message.failed with the provider's
// code, and a dead letter on dlq.v1 whose dlq-reason is the error's code.
// Later replies are not held back.
func (q *DispatchQueue) MarkFailed(ctx context.Context, j DispatchJob, derr DeliveryError) error {
	s := q.s
	err := s.store.InTx(ctx, func(tx Tx) error {
		m, ok, err := tx.Message.MessageByID(ctx, j.MessageID)
		if err != nil || !ok {
			return err
		}
		if err := tx.Dispatch.UpdateDispatch(ctx, j.MessageID, DispatchFailed, j.Attempts+1, tx.Now(), &derr); err != nil {
			return err
		}
		if err := tx.Delivery.SetDelivery(ctx, m.ID, normalize.StatusFailed, "", "", &derr); err != nil {
			return err
		}
		if err := s.emit(ctx, tx, normalize.TypeMessageFailed, EventData{CustomerID: m.CustomerID, ConversationID: m.ConversationID,
			Channel: m.Channel, MessageID: m.ID, Status: normalize.StatusFailed, Error: &derr, Message: &m.Message}); err != nil {
			return err
		}
		dead, err := json.Marshal(map[string]any{"message_id": m.ID, "conversation_id": m.ConversationID, "attempts": j.Attempts + 1,
			"error": derr, "outbound": json.RawMessage(j.Payload)})
		if err != nil {
			return err
		}
		s.metrics.DeadLetter("send_failed")
		return tx.AddEvents(ctx, OutboxEvent{Topic: s.topics.DLQ, Key: m.ConversationID, Value: dead,
			DeadLetter: &DeadLetter{Reason: derr.Code, Error: truncate(derr.Message, 1000)}})
	})
	if err == nil {
		s.notify()
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// RetryMessage queues a failed reply again: a new round of sends of the
// same message (attempts count from 0 again, GATEWAY_OUTBOX_MAX_AGE from
// now), with message.queued. A reply that is not failed, or whose
// conversation is closed, is a conflict; one on a channel whose sender is
// off is channel_unavailable; anything but a reply, or a reply the caller
// does not see, is not found.
func (q *DispatchQueue) RetryMessage(ctx context.Context, id string, by Actor) (StoredMessage, error) {
	s := q.s
	notFound := Errorf(ENOTFOUND, "message %s not found", id)
	var out StoredMessage
	// One transaction: a command of gateway.commands.v1 records its id in
	// each transaction of its work, so a second one would be skipped.
	err := s.store.InTx(ctx, func(tx Tx) error {
		m, ok, err := tx.Message.MessageByID(ctx, id)
		if err == nil && (!ok || m.Kind != KindMessage || m.Direction != normalize.Outbound) {
			return notFound
		}
		if err != nil {
			return err
		}
		c, err := lockedConversation(ctx, tx, m.ConversationID)
		if err != nil {
			return err
		}
		if m, ok, err = tx.Message.MessageByID(ctx, id); err != nil || !ok { // again, under the customer's lock
			return cmp.Or[error](err, notFound)
		}
		out, err = s.requeue(ctx, tx, c, m, by)
		return err
	})
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return StoredMessage{}, notFound
	case err == nil:
		s.notify()
	}
	return out, err
}

// requeue queues a failed reply of a conversation again, with
// message.queued.
func (s *Service) requeue(ctx context.Context, tx Tx, c Conversation, m StoredMessage, by Actor) (StoredMessage, error) {
	switch {
	case m.Status != normalize.StatusFailed:
		return m, Errorf(ECONFLICT, "message %s is %s: only a failed reply can be sent again", m.ID, m.Status)
	case c.Status == StatusClosed:
		return m, Errorf(ECONFLICT, "conversation is closed: reopen it first")
	}
	if err := s.senderOn(m.Channel, m.Message.Provider); err != nil {
		return m, err
	}
	if ok, err := tx.Dispatch.Requeue(ctx, m.ID); err != nil || !ok {
		return m, cmp.Or[error](err, Errorf(ECONFLICT, "message %s was not sent through the outbox and cannot be sent again", m.ID))
	}
	out, ok, err := tx.Message.MessageByID(ctx, m.ID)
	if err != nil || !ok {
		return out, err
	}
	return out, s.emit(ctx, tx, normalize.TypeMessageQueued, EventData{CustomerID: m.CustomerID, ConversationID: m.ConversationID,
		EntryPoint: c.EntryPoint, Channel: m.Channel, MessageID: m.ID, Status: normalize.StatusQueued, Actor: string(by), Message: &out.Message})
}

// PendingChat returns the web chat replies sent to a visitor (by party
// address) that their browser has not confirmed yet, oldest first.
func (q *DispatchQueue) PendingChat(ctx context.Context, address string) ([]StoredMessage, error) {
	s := q.s
	var out []StoredMessage
	err := s.store.InTx(ctx, func(tx Tx) error {
		ms, err := tx.Message.OutboundUpTo(ctx, "webchat", chatIdentity(address), tx.Now())
		for _, m := range ms {
			if m.Status == normalize.StatusSent && m.Channel == normalize.ChannelChat {
				out = append(out, m)
			}
		}
		return err
	})
	return out, err
}

// Claim leases due replies to a dispatcher.
func (q *DispatchQueue) Claim(ctx context.Context, lease time.Duration, limit int) ([]DispatchJob, error) {
	s := q.s
	return s.store.ClaimDispatch(ctx, lease, limit)
}
