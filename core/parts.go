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

// advancePart moves a part forward on a status of it, and the reply to the
// worst state of its parts: failed as soon as one part failed, otherwise
// only once every part was sent (before that the reply is queued).
func (s *Service) advancePart(ctx context.Context, tx Tx, m *StoredMessage, p *MessagePart, st normalize.Status) error {
	if !normalize.Advances(p.Status, st.Status) {
		return nil
	}
	p.Status = st.Status
	if err := tx.Part.SetPartStatus(ctx, p.MessageID, p.Part, st.Status); err != nil {
		return err
	}
	if st.Status != normalize.StatusFailed {
		if m.Status == normalize.StatusQueued {
			return nil // parts are still to be sent
		}
		parts, err := tx.Part.Parts(ctx, m.ID)
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
	p, ok, err := tx.Part.PartByProviderID(ctx, st.Provider, st.ProviderMessageID)
	if err != nil {
		return false, err
	}
	if !ok {
		id, part, isPart := parsePartID(st.MessageID)
		if !isPart || st.ProviderMessageID == "" {
			return false, nil
		}
		p = MessagePart{MessageID: id, Part: part, Provider: st.Provider, ProviderMessageID: st.ProviderMessageID, Status: normalize.StatusSent}
		m, found, err := tx.Message.MessageByID(ctx, id)
		if err != nil || !found || m.Direction != normalize.Outbound || m.Message.Provider != st.Provider {
			return false, err
		}
		if ok, err = tx.Part.InsertPart(ctx, p); err != nil || !ok {
			return false, err // the part has another provider id: not this send
		}
	}
	m, found, err := tx.Message.MessageByID(ctx, p.MessageID)
	if err != nil || !found {
		return found, err
	}
	return true, s.advancePart(ctx, tx, &m, &p, st)
}
