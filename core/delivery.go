package core

import (
	"context"

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
		ms, err := tx.Message.OutboundUpTo(ctx, st.Provider, Identity{Kind: normalize.KindOf(st.Channel), Address: user}, at)
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
	m, ok, err := tx.Message.MessageByProviderID(ctx, st.Provider, st.ProviderMessageID)
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
		if m, ok, err = tx.Message.MessageByID(ctx, st.MessageID); err != nil {
			return "", err
		}
		if ok && m.Direction == normalize.Outbound && m.Message.ProviderMessageID == "" && m.Message.Provider == st.Provider {
			if err := tx.Delivery.SetDelivery(ctx, m.ID, m.Status, st.Provider, st.ProviderMessageID, nil); err != nil {
				return "", err
			}
			m.Message.ProviderMessageID = st.ProviderMessageID
		} else {
			ok = false
		}
	}
	if !ok {
		return ResultIgnored, tx.Delivery.AddEarlyStatus(ctx, st)
	}
	return ResultStatus, s.advance(ctx, tx, m, st)
}

func (s *Service) advance(ctx context.Context, tx Tx, m StoredMessage, st normalize.Status) error {
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
	if err := tx.Delivery.SetDelivery(ctx, m.ID, st.Status, "", "", derr); err != nil {
		return err
	}
	d := EventData{CustomerID: m.CustomerID, ConversationID: m.ConversationID,
		Channel: m.Channel, MessageID: m.ID, Status: st.Status, Error: derr, Message: &m.Message}
	if st.Status == normalize.StatusSent {
		d.Actor = m.Author // who wrote the reply: the web chat shows the agent's name
	}
	return s.emit(ctx, tx, statusEvent[st.Status], d)
}

// Delivery is what SetDelivery writes of a message, as several calls end
// up: the last status, the last provider and provider's id given, and the
// last error given (nil: the message keeps its own).
type Delivery struct {
	ID, Status, Provider, ProviderMessageID string
	Error                                   *DeliveryError
}

// deliveryBatch is a transaction's deliveries whose SetDelivery calls are
// gathered, a Delivery per message, for SetDeliveries to write at once.
type deliveryBatch struct {
	DeliveryTx
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

// senderOn refuses a reply on a channel whose provider's sender is off
// (Policy.SendersOff): it could never be sent.
func (s *Service) senderOn(channel, provider string) error {
	if why, off := s.policy.SendersOff[provider]; off {
		return Errorf(ECHANNELUNAVAILABLE, "%s replies cannot be sent: the %s sender is off (%s)", channel, provider, why)
	}
	return nil
}
