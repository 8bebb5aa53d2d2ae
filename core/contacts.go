package core

import (
	"context"
	"time"

	"github.com/opengateway/gateway/normalize"
)

// Contact is one interaction on one channel within a conversation (Gladly:
// a conversation is made of contacts). The first message on a channel with
// no open contact starts one: the customer's, or the business's (an agent's
// reply, a proactive message, an echo of a message sent from the
// provider's app). An agent or a bot ends it, or inactivity does: no
// message on it, either way, for the channel's contact timeout. A chat
// contact uses the same rule: the visitor counts as gone once the chat
// timeout has passed since the last message.
type Contact struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversation_id"`
	Channel        string `json:"channel"`
	// StartedBy is "customer" or the actor who wrote first ("agent:ann",
	// "business" for an echo).
	StartedBy      string    `json:"started_by"`
	StartedAt      time.Time `json:"started_at"`
	LastActivityAt time.Time `json:"last_activity_at"`
	// EndedAt is nil while the contact is open.
	EndedAt *time.Time `json:"ended_at,omitempty"`
	// EndReason is "ended" (by EndedBy) or "inactivity".
	EndReason string `json:"end_reason,omitempty"`
	EndedBy   string `json:"ended_by,omitempty"`
}

// Reasons a contact ends.
const (
	ContactEnded      = "ended"
	ContactInactivity = "inactivity"
)

// ContactTx keeps the contacts of conversations.
type ContactTx interface {
	// OpenContact returns a conversation's open contact on a channel.
	OpenContact(ctx context.Context, conversationID, channel string) (Contact, bool, error)
	// ContactByID returns one contact.
	ContactByID(ctx context.Context, id string) (Contact, bool, error)
	// InsertContact stores a new contact.
	InsertContact(ctx context.Context, c Contact) error
	// UpdateContact writes every field of a contact.
	UpdateContact(ctx context.Context, c Contact) error
	// Contacts returns a conversation's contacts, oldest first.
	Contacts(ctx context.Context, conversationID string) ([]Contact, error)
	// IdleContacts returns open contacts on a channel with no activity
	// since before, oldest activity first.
	IdleContacts(ctx context.Context, channel string, before time.Time, limit int) ([]Contact, error)
}

// contactChannels are the channels the inactivity sweep looks at.
var contactChannels = []string{normalize.ChannelSMS, normalize.ChannelMMS, normalize.ChannelWhatsApp,
	normalize.ChannelMessenger, normalize.ChannelInstagram, normalize.ChannelEmail, normalize.ChannelChat, normalize.ChannelVoice}

// ContactTimeoutFor returns how long a contact on channel stays open
// without a message (0: it never ends by inactivity).
func (p Policy) ContactTimeoutFor(channel string) time.Duration {
	if d, ok := p.ContactTimeoutByChannel[channel]; ok {
		return d
	}
	return p.ContactTimeout
}

// contactBatch is what one batch's transaction knows of open contacts:
// those of the conversations it prefetched (read in one query), those it
// looked up or started since, and the ones whose new activity it has yet to
// write (in one statement, when the batch is flushed).
type contactBatch struct {
	open    map[[2]string]*Contact // by conversation id and channel
	loaded  map[string]bool        // conversations whose open contacts are all in open
	dirty   []*Contact
	isDirty map[*Contact]bool
	// started are the contacts the batch started, inserted as they end
	// when it is flushed.
	started []*Contact
}

func newContactBatch() *contactBatch {
	return &contactBatch{open: map[[2]string]*Contact{}, loaded: map[string]bool{}, isDirty: map[*Contact]bool{}}
}

// load keeps the open contacts of conversations read in bulk.
func (b *contactBatch) load(conversationIDs []string, open []Contact) {
	for _, id := range conversationIDs {
		b.loaded[id] = true
	}
	for i := range open {
		b.open[[2]string{open[i].ConversationID, open[i].Channel}] = &open[i]
	}
}

// flush writes the contacts the batch started and the activity of those
// it extended.
func (b *contactBatch) flush(ctx context.Context, tx BatchTx) error {
	if len(b.started) > 0 {
		cs := make([]Contact, len(b.started))
		for i, c := range b.started {
			cs[i] = *c
		}
		b.started = nil
		if err := tx.InsertContacts(ctx, cs); err != nil {
			return err
		}
	}
	if len(b.dirty) == 0 {
		return nil
	}
	cs := make([]Contact, len(b.dirty))
	for i, c := range b.dirty {
		cs[i] = *c
	}
	b.dirty, b.isDirty = nil, map[*Contact]bool{}
	return tx.UpdateContacts(ctx, cs)
}

// noteContact records a message on a channel of a conversation: it extends
// the open contact there, or starts one (emitting contact.started). In a
// batch (b not nil) the extension is written when the batch is flushed.
func (s *Service) noteContact(ctx context.Context, tx Tx, b *contactBatch, c *Conversation, channel, by string) error {
	if channel == "" {
		return nil
	}
	now := tx.Now()
	key := [2]string{c.ID, channel}
	var ct *Contact
	if b != nil {
		ct = b.open[key]
	}
	if ct == nil {
		open, ok := Contact{}, false
		if b == nil || !b.loaded[c.ID] {
			var err error
			if open, ok, err = tx.Contact.OpenContact(ctx, c.ID, channel); err != nil {
				return err
			}
		}
		if !ok {
			open = Contact{ID: normalize.NewID(), ConversationID: c.ID, Channel: channel, StartedBy: by,
				StartedAt: now, LastActivityAt: now}
			if b != nil {
				// Started now: the batch's later messages find it here and
				// it is inserted when the batch is flushed.
				b.open[key] = &open
				b.started = append(b.started, &open)
				b.isDirty[&open] = true
			} else if err := tx.Contact.InsertContact(ctx, open); err != nil {
				return err
			}
			return s.emit(ctx, tx, normalize.TypeContactStarted, EventData{CustomerID: c.CustomerID,
				ConversationID: c.ID, EntryPoint: c.EntryPoint, Channel: channel, Actor: by, Contact: &open})
		}
		ct = &open
		if b != nil {
			b.open[key] = ct
		}
	}
	if !ct.LastActivityAt.Before(now) {
		return nil
	}
	ct.LastActivityAt = now
	if b == nil {
		return tx.Contact.UpdateContact(ctx, *ct)
	}
	if !b.isDirty[ct] {
		b.isDirty[ct] = true
		b.dirty = append(b.dirty, ct)
	}
	return nil
}

// EndContact ends a contact of a conversation for an agent or a bot, and
// returns the conversation with its contacts. Ending a contact that has
// ended already changes nothing.
func (s *Service) EndContact(ctx context.Context, conversationID, contactID string, by Actor) (Conversation, error) {
	return s.withConversation(ctx, conversationID, func(tx Tx, c *Conversation) error {
		ct, ok, err := tx.Contact.ContactByID(ctx, contactID)
		if err != nil {
			return err
		}
		if !ok || ct.ConversationID != c.ID {
			return Errorf(ENOTFOUND, "contact %s not found in conversation %s", contactID, conversationID)
		}
		if ct.EndedAt == nil {
			if _, err := s.endContact(ctx, tx, c, ct, ContactEnded, string(by)); err != nil {
				return err
			}
		}
		c.Contacts, err = tx.Query.LatestContacts(ctx, []string{c.ID}, MaxContactsShown)
		return err
	})
}

// endContact ends an open contact, emits contact.ended, and moves the
// conversation to waiting when Policy.WaitingWhenEnded says so.
func (s *Service) endContact(ctx context.Context, tx Tx, c *Conversation, ct Contact, reason, by string) (Contact, error) {
	now := tx.Now()
	ct.EndedAt, ct.EndReason, ct.EndedBy = &now, reason, by
	if err := tx.Contact.UpdateContact(ctx, ct); err != nil {
		return ct, err
	}
	if err := s.emit(ctx, tx, normalize.TypeContactEnded, EventData{CustomerID: c.CustomerID, ConversationID: c.ID, EntryPoint: c.EntryPoint,
		Channel: ct.Channel, Reason: reason, Actor: by, Contact: &ct}); err != nil {
		return ct, err
	}
	return ct, s.waitWhenEnded(ctx, tx, c, by)
}

// waitWhenEnded moves a new or open conversation to waiting when
// Policy.WaitingWhenEnded is set, every contact has ended and no customer
// message waits for a reply.
func (s *Service) waitWhenEnded(ctx context.Context, tx Tx, c *Conversation, by string) error {
	if !s.policy.WaitingWhenEnded || (c.Status != StatusNew && c.Status != StatusOpen) || c.Unreplied > 0 {
		return nil
	}
	cts, err := tx.Contact.Contacts(ctx, c.ID)
	if err != nil {
		return err
	}
	for _, ct := range cts {
		if ct.EndedAt == nil {
			return nil
		}
	}
	return s.transition(ctx, tx, c, StatusWaiting, "contacts_ended", by)
}

// EndIdleContacts ends the open contacts that had no message for their
// channel's timeout. Safe with several instances: each contact is re-read
// under its customer's lock and ended only if it is still open and idle.
func (s *Service) EndIdleContacts(ctx context.Context) (int, error) {
	ended := 0
	actor := string(SystemActor("contact_timeout"))
	for _, ch := range contactChannels {
		timeout := s.policy.ContactTimeoutFor(ch)
		if timeout <= 0 {
			continue
		}
		for {
			var due []Contact
			err := s.store.InTx(ctx, func(tx Tx) error {
				var err error
				due, err = tx.Contact.IdleContacts(ctx, ch, tx.Now().Add(-timeout), 100)
				return err
			})
			if err != nil {
				return ended, err
			}
			progress := 0
			for _, d := range due {
				_, err := s.withConversation(ctx, d.ConversationID, func(tx Tx, c *Conversation) error {
					ct, ok, err := tx.Contact.ContactByID(ctx, d.ID)
					if err != nil || !ok || ct.EndedAt != nil || ct.LastActivityAt.After(tx.Now().Add(-timeout)) {
						return err
					}
					progress++
					_, err = s.endContact(ctx, tx, c, ct, ContactInactivity, actor)
					return err
				})
				if err != nil && ErrorCode(err) != ENOTFOUND {
					return ended, err
				}
			}
			ended += progress
			if len(due) < 100 || progress == 0 {
				break
			}
		}
	}
	return ended, nil
}
