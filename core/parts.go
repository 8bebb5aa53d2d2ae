package core

import (
	"context"
	"strconv"
	"strings"

	"github.com/opengateway/gateway/normalize"
)

// MessagePart is one provider message of a reply that its channel carries
// only as several (Meta takes one attachment per message): the reply is one
// message record, each sent part has the provider's id and its own delivery
// state, and the reply's state is the worst of its parts'.
type MessagePart struct {
	MessageID         string
	Part              int
	Provider          string
	ProviderMessageID string
	Status            string
}

// PartID is the gateway id a part is sent under, where the provider echoes
// one (WhatsApp's biz_opaque_callback_data): the message id and the part's
// index.
func PartID(messageID string, part int) string { return messageID + "." + strconv.Itoa(part) }

// parsePartID splits a PartID; gateway message ids never hold a dot.
func parsePartID(s string) (messageID string, part int, ok bool) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 0 || strconv.Itoa(n) != s[i+1:] {
		return "", 0, false
	}
	return s[:i], n, true
}

// SentParts returns the parts of a split reply the provider took, in order.
func (s *Service) SentParts(ctx context.Context, messageID string) ([]MessagePart, error) {
	var out []MessagePart
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Parts(ctx, messageID)
		return err
	})
	return out, err
}

// MarkPartSent records that the provider took part (of parts) of a reply,
// under its id, and applies any status of it that arrived first. A part
// recorded already is not recorded again. The last part completes the
// reply: its outbox row is done and it moves to sent, then on to the worst
// state of its parts.
func (s *Service) MarkPartSent(ctx context.Context, j OutboxJob, part, parts int, provider, providerMessageID string) error {
	err := s.store.InTx(ctx, func(tx Tx) error {
		m, ok, err := tx.MessageByID(ctx, j.MessageID)
		if err != nil || !ok {
			return err // deleted meanwhile: nothing to record
		}
		p := MessagePart{MessageID: m.ID, Part: part, Provider: provider, ProviderMessageID: providerMessageID, Status: normalize.StatusSent}
		inserted, err := tx.InsertPart(ctx, p)
		if err != nil {
			return err
		}
		if inserted {
			early, err := tx.TakeEarlyStatuses(ctx, provider, providerMessageID)
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
func (s *Service) completeParts(ctx context.Context, tx Tx, j OutboxJob, m StoredMessage, provider string) error {
	if err := tx.UpdateOutbox(ctx, m.ID, OutboxDone, j.Attempts+1, tx.Now(), nil); err != nil {
		return err
	}
	if err := tx.SetDelivery(ctx, m.ID, m.Status, provider, "", nil); err != nil {
		return err
	}
	m.Message.Provider = provider
	if err := s.advance(ctx, tx, m, normalize.Status{Status: normalize.StatusSent}); err != nil {
		return err
	}
	if normalize.Advances(m.Status, normalize.StatusSent) {
		m.Status = normalize.StatusSent
	}
	parts, err := tx.Parts(ctx, m.ID)
	if err != nil {
		return err
	}
	return s.advance(ctx, tx, m, normalize.Status{Status: worstOf(parts)})
}

// advancePart moves a part forward on a status of it, and the reply to the
// worst state of its parts: failed as soon as one part failed, otherwise
// only once every part was sent (before that the reply is queued).
func (s *Service) advancePart(ctx context.Context, tx Tx, m *StoredMessage, p *MessagePart, st normalize.Status) error {
	if !normalize.Advances(p.Status, st.Status) {
		return nil
	}
	p.Status = st.Status
	if err := tx.SetPartStatus(ctx, p.MessageID, p.Part, st.Status); err != nil {
		return err
	}
	if st.Status != normalize.StatusFailed {
		if m.Status == normalize.StatusQueued {
			return nil // parts are still to be sent
		}
		parts, err := tx.Parts(ctx, m.ID)
		if err != nil {
			return err
		}
		st.Status = worstOf(parts)
	}
	if err := s.advance(ctx, tx, *m, st); err != nil {
		return err
	}
	if normalize.Advances(m.Status, st.Status) {
		m.Status = st.Status
	}
	return nil
}

// worstOf is the state of a reply sent in parts: failed if any part
// failed, else the least advanced (queued < sent < delivered < read).
func worstOf(parts []MessagePart) string {
	worst := normalize.StatusRead
	for _, p := range parts {
		if p.Status == normalize.StatusFailed {
			return normalize.StatusFailed
		}
		if normalize.Advances(p.Status, worst) {
			worst = p.Status
		}
	}
	if len(parts) == 0 {
		return normalize.StatusQueued
	}
	return worst
}

// applyPartStatus applies a status to the part it names: found by the
// provider's id, or by the part's gateway id the provider echoed (a send
// whose answer was lost: the part is recorded now, and the dispatcher will
// not send it again). False when the status names no part.
func (s *Service) applyPartStatus(ctx context.Context, tx Tx, st normalize.Status) (bool, error) {
	p, ok, err := tx.PartByProviderID(ctx, st.Provider, st.ProviderMessageID)
	if err != nil {
		return false, err
	}
	if !ok {
		id, part, isPart := parsePartID(st.MessageID)
		if !isPart || st.ProviderMessageID == "" {
			return false, nil
		}
		p = MessagePart{MessageID: id, Part: part, Provider: st.Provider, ProviderMessageID: st.ProviderMessageID, Status: normalize.StatusSent}
		m, found, err := tx.MessageByID(ctx, id)
		if err != nil || !found || m.Direction != normalize.Outbound || m.Message.Provider != st.Provider {
			return false, err
		}
		if ok, err = tx.InsertPart(ctx, p); err != nil || !ok {
			return false, err // the part has another provider id: not this send
		}
	}
	m, found, err := tx.MessageByID(ctx, p.MessageID)
	if err != nil || !found {
		return found, err
	}
	return true, s.advancePart(ctx, tx, &m, &p, st)
}
