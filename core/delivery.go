package core

import (
	"cmp"
	"context"
	"encoding/json"
	"time"

	"github.com/opengateway/gateway/normalize"
)

// statusEvent is the event of each delivery state.
var statusEvent = map[string]string{
	normalize.StatusSent: normalize.TypeMessageSent, normalize.StatusDelivered: normalize.TypeMessageDelivered,
	normalize.StatusRead: normalize.TypeMessageRead, normalize.StatusFailed: normalize.TypeMessageFailed,
}

// applyStatus moves an outbound message forward on a provider's status
// callback. A state never goes backwards; a status for a send that is not
// recorded yet is kept and applied when it is.
func (s *Service) applyStatus(ctx context.Context, tx Tx, st normalize.Status) (string, error) {
	if user, at, ok := normalize.ParseWatermarkID(st.ProviderMessageID); ok {
		// A receipt for everything sent to the user up to a time.
		ms, err := tx.OutboundUpTo(ctx, st.Provider, Identity{Kind: normalize.KindOf(st.Channel), Address: user}, at)
		if err != nil {
			return "", err
		}
		for _, m := range ms {
			if err := s.advance(ctx, tx, m, st); err != nil {
				return "", err
			}
		}
		return ResultStatus, nil
	}
	m, ok, err := tx.MessageByProviderID(ctx, st.Provider, st.ProviderMessageID)
	if err != nil {
		return "", err
	}
	if !ok {
		// A part of a reply sent as several provider messages.
		if found, err := s.applyPartStatus(ctx, tx, st); err != nil || found {
			return ResultStatus, err
		}
	}
	if !ok && st.MessageID != "" {
		// The provider echoed the gateway's id: a send whose answer was lost
		// (the dispatcher died) is linked to the provider's id now, and the
		// dispatcher will not send it again.
		if m, ok, err = tx.MessageByID(ctx, st.MessageID); err != nil {
			return "", err
		}
		if ok && m.Direction == normalize.Outbound && m.Message.ProviderMessageID == "" && m.Message.Provider == st.Provider {
			if err := tx.SetDelivery(ctx, m.ID, m.Status, st.Provider, st.ProviderMessageID, nil); err != nil {
				return "", err
			}
			m.Message.ProviderMessageID = st.ProviderMessageID
		} else {
			ok = false
		}
	}
	if !ok {
		return ResultIgnored, tx.AddEarlyStatus(ctx, st)
	}
	return ResultStatus, s.advance(ctx, tx, m, st)
}

// SentAlready reports whether a reply that is about to be sent again (its
// dispatcher died) is known to the provider already: a status callback
// carrying the gateway's id recorded the provider's id meanwhile.
func (s *Service) SentAlready(ctx context.Context, j OutboxJob) (provider, providerMessageID string, ok bool, err error) {
	err = s.store.InTx(ctx, func(tx Tx) error {
		m, found, err := tx.MessageByID(ctx, j.MessageID)
		if err != nil || !found {
			return err
		}
		provider, providerMessageID = m.Message.Provider, m.Message.ProviderMessageID
		ok = providerMessageID != ""
		return nil
	})
	return provider, providerMessageID, ok, err
}

func (s *Service) advance(ctx context.Context, tx interface {
	DeliveryTx
	EventTx
}, m StoredMessage, st normalize.Status) error {
	if m.Direction != normalize.Outbound || !normalize.Advances(m.Status, st.Status) {
		return nil
	}
	var derr *DeliveryError
	if st.Status == normalize.StatusFailed {
		derr = &DeliveryError{Code: "provider_failed", Message: st.ErrorMessage, ProviderCode: st.ErrorCode}
		if derr.Message == "" {
			derr.Message = "the provider reports the message as " + st.ProviderStatus
		}
	}
	if err := tx.SetDelivery(ctx, m.ID, st.Status, "", "", derr); err != nil {
		return err
	}
	d := EventData{CustomerID: m.CustomerID, ConversationID: m.ConversationID,
		Channel: m.Channel, MessageID: m.ID, Status: st.Status, Error: derr, Message: &m.Message}
	if st.Status == normalize.StatusSent {
		d.Actor = m.Author // who wrote the reply: the web chat shows the agent's name
	}
	return s.emit(ctx, tx, statusEvent[st.Status], d)
}

// ClaimOutbox leases due replies to a dispatcher.
func (s *Service) ClaimOutbox(ctx context.Context, lease time.Duration, limit int) ([]OutboxJob, error) {
	return s.store.ClaimOutbox(ctx, lease, limit)
}

// DecodeOutbound returns what a job sends.
func DecodeOutbound(j OutboxJob) (Outbound, error) {
	var ob Outbound
	if err := json.Unmarshal(j.Payload, &ob); err != nil {
		return ob, Errorf(EINVALID, "outbox row %s: %v", j.MessageID, err)
	}
	return ob, nil
}

// Sent is a reply the provider accepted, under its id.
type Sent struct {
	Job               OutboxJob
	Provider          string
	ProviderMessageID string
}

// MarkSent records that the provider accepted a reply, under its id, and
// applies any status that arrived first.
func (s *Service) MarkSent(ctx context.Context, j OutboxJob, provider, providerMessageID string) error {
	return s.MarkSentBatch(ctx, []Sent{{Job: j, Provider: provider, ProviderMessageID: providerMessageID}})
}

// MarkSentBatch records many accepted replies in one transaction, a few
// statements for the whole group: the messages and the early statuses of
// their sends are read, and the outbox rows and the messages' delivery
// written, each in bulk. The events are those MarkSent emits for each, in
// order.
func (s *Service) MarkSentBatch(ctx context.Context, sent []Sent) error {
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
	ms, err := tx.MessagesByID(ctx, ids)
	if err != nil {
		return err
	}
	var keys []ProviderKey
	for _, x := range sent {
		if _, ok := ms[x.Job.MessageID]; ok {
			keys = append(keys, ProviderKey{x.Provider, x.ProviderMessageID})
		}
	}
	early, err := tx.TakeEarlyStatusesOf(ctx, keys)
	if err != nil {
		return err
	}
	b := &deliveryBatch{Tx: tx, at: map[string]int{}}
	var done []OutboxUpdate
	for _, x := range sent {
		m, ok := ms[x.Job.MessageID]
		if !ok {
			continue // deleted meanwhile: nothing to record
		}
		done = append(done, OutboxUpdate{MessageID: m.ID, State: OutboxDone, Attempts: x.Job.Attempts + 1, Next: tx.Now()})
		if err := s.sentOne(ctx, b, m, x, early[ProviderKey{x.Provider, x.ProviderMessageID}]); err != nil {
			return err
		}
	}
	if err := tx.UpdateOutboxes(ctx, done); err != nil {
		return err
	}
	return tx.SetDeliveries(ctx, b.list)
}

// sentOne records one accepted reply in b: its provider's id, sent, and
// the statuses that arrived before the send was recorded.
func (s *Service) sentOne(ctx context.Context, b *deliveryBatch, m StoredMessage, x Sent, early []normalize.Status) error {
	if err := b.SetDelivery(ctx, m.ID, m.Status, x.Provider, x.ProviderMessageID, nil); err != nil {
		return err
	}
	m.Message.Provider, m.Message.ProviderMessageID = x.Provider, x.ProviderMessageID
	if err := s.advance(ctx, b, m, normalize.Status{Status: normalize.StatusSent}); err != nil {
		return err
	}
	if normalize.Advances(m.Status, normalize.StatusSent) {
		m.Status = normalize.StatusSent
	}
	for _, st := range early {
		if err := s.advance(ctx, b, m, st); err != nil {
			return err
		}
		if normalize.Advances(m.Status, st.Status) {
			m.Status = st.Status
		}
	}
	return nil
}

// Delivery is what SetDelivery writes of a message, as several calls end
// up: the last status, the last provider and provider's id given, and the
// last error given (nil: the message keeps its own).
type Delivery struct {
	ID, Status, Provider, ProviderMessageID string
	Error                                   *DeliveryError
}

// deliveryBatch is a transaction whose SetDelivery calls are gathered, a
// Delivery per message, for SetDeliveries to write at once.
type deliveryBatch struct {
	Tx
	list []Delivery
	at   map[string]int // index in list by message id
}

func (b *deliveryBatch) SetDelivery(_ context.Context, id, status, provider, providerMessageID string, derr *DeliveryError) error {
	i, ok := b.at[id]
	if !ok {
		i = len(b.list)
		b.at[id] = i
		b.list = append(b.list, Delivery{ID: id})
	}
	d := &b.list[i]
	d.Status = status
	if provider != "" {
		d.Provider = provider
	}
	if providerMessageID != "" {
		d.ProviderMessageID = providerMessageID
	}
	if derr != nil {
		d.Error = derr
	}
	return nil
}

// RetryLater puts a reply back to wait until at; derr is why the send
// failed, shown as the reply's last_error.
func (s *Service) RetryLater(ctx context.Context, j OutboxJob, at time.Time, derr DeliveryError) error {
	return s.store.InTx(ctx, func(tx Tx) error {
		return tx.UpdateOutbox(ctx, j.MessageID, OutboxPending, j.Attempts+1, at, &derr)
	})
}

// MarkFailed fails a reply for good: message.failed with the provider's
// code, and a dead letter on dlq.v1 whose dlq-reason is the error's code.
// Later replies are not held back.
func (s *Service) MarkFailed(ctx context.Context, j OutboxJob, derr DeliveryError) error {
	err := s.store.InTx(ctx, func(tx Tx) error {
		m, ok, err := tx.MessageByID(ctx, j.MessageID)
		if err != nil || !ok {
			return err
		}
		if err := tx.UpdateOutbox(ctx, j.MessageID, OutboxFailed, j.Attempts+1, tx.Now(), &derr); err != nil {
			return err
		}
		if err := tx.SetDelivery(ctx, m.ID, normalize.StatusFailed, "", "", &derr); err != nil {
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

// RetryMessage queues a failed reply again: a new round of sends of the
// same message (attempts count from 0 again, GATEWAY_OUTBOX_MAX_AGE from
// now), with message.queued. A reply that is not failed, or whose
// conversation is closed, is a conflict; one on a channel whose sender is
// off is channel_unavailable; anything but a reply, or a reply the caller
// does not see, is not found.
func (s *Service) RetryMessage(ctx context.Context, id string, by Actor) (StoredMessage, error) {
	notFound := Errorf(ENOTFOUND, "message %s not found", id)
	var out StoredMessage
	// One transaction: a command of gateway.commands.v1 records its id in
	// each transaction of its work, so a second one would be skipped.
	err := s.store.InTx(ctx, func(tx Tx) error {
		m, ok, err := tx.MessageByID(ctx, id)
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
		if m, ok, err = tx.MessageByID(ctx, id); err != nil || !ok { // again, under the customer's lock
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
	if ok, err := tx.RequeueOutbox(ctx, m.ID); err != nil || !ok {
		return m, cmp.Or[error](err, Errorf(ECONFLICT, "message %s was not sent through the outbox and cannot be sent again", m.ID))
	}
	out, ok, err := tx.MessageByID(ctx, m.ID)
	if err != nil || !ok {
		return out, err
	}
	return out, s.emit(ctx, tx, normalize.TypeMessageQueued, EventData{CustomerID: m.CustomerID, ConversationID: m.ConversationID,
		EntryPoint: c.EntryPoint, Channel: m.Channel, MessageID: m.ID, Status: normalize.StatusQueued, Actor: string(by), Message: &out.Message})
}

// senderOn refuses a reply on a channel whose provider's sender is off
// (Policy.SendersOff): it could never be sent.
func (s *Service) senderOn(channel, provider string) error {
	if why, off := s.policy.SendersOff[provider]; off {
		return Errorf(ECHANNELUNAVAILABLE, "%s replies cannot be sent: the %s sender is off (%s)", channel, provider, why)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// PendingChat returns the web chat replies sent to a visitor (by party
// address) that their browser has not confirmed yet, oldest first.
func (s *Service) PendingChat(ctx context.Context, address string) ([]StoredMessage, error) {
	var out []StoredMessage
	err := s.store.InTx(ctx, func(tx Tx) error {
		ms, err := tx.OutboundUpTo(ctx, "webchat", chatIdentity(address), tx.Now())
		for _, m := range ms {
			if m.Status == normalize.StatusSent && m.Channel == normalize.ChannelChat {
				out = append(out, m)
			}
		}
		return err
	})
	return out, err
}
