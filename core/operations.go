package core

import (
	"context"
	"strings"
	"time"

	"github.com/opengateway/gateway/normalize"
)

// Actor is who or what does something: "agent:ann", "admin:root",
// "system:auto_close", "customer".
type Actor string

// AgentActor names an agent.
func AgentActor(name string) Actor { return Actor("agent:" + name) }

// SystemActor names an automatic rule.
func SystemActor(rule string) Actor { return Actor("system:" + rule) }

// agentName returns the agent of an agent or admin actor.
func (a Actor) agentName() string {
	if k, n, ok := strings.Cut(string(a), ":"); ok && (k == "agent" || k == "admin") {
		return n
	}
	return ""
}

// withConversation runs fn on a conversation with its customer locked, so an
// operator's change and a customer's message never interleave.
func (s *Service) withConversation(ctx context.Context, id string, fn func(tx Tx, c *Conversation) error) (Conversation, error) {
	return changeLocked(ctx, s, func(tx Tx) (Conversation, error) { return lockedConversation(ctx, tx, id) }, fn)
}

// changeLocked runs fn, in one transaction, on what load read under its
// lock, and wakes the event relay once the change is committed.
func changeLocked[T any](ctx context.Context, s *Service, load func(Tx) (T, error), fn func(Tx, *T) error) (T, error) {
	var out T
	err := s.store.InTx(ctx, func(tx Tx) error {
		v, err := load(tx)
		if err != nil {
			return err
		}
		if err := fn(tx, &v); err != nil {
			return err
		}
		out = v
		return nil
	})
	if err == nil {
		s.notify()
	}
	return out, err
}

// lockedConversation returns a conversation the context's viewer sees,
// read under its customer's lock.
func lockedConversation(ctx context.Context, tx Tx, id string) (Conversation, error) {
	c, err := visibleConversation(ctx, tx.Conversations, id)
	if err != nil {
		return Conversation{}, err
	}
	if err := tx.Customers.LockCustomer(ctx, c.CustomerID); err != nil {
		return Conversation{}, err
	}
	c, _, err = tx.Conversations.ConversationByID(ctx, id) // read again under the lock
	return c, err
}

// Conversation returns one conversation.
func (s *Service) Conversation(ctx context.Context, id string) (Conversation, error) {
	var c Conversation
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if c, err = visibleConversation(ctx, tx.Conversations, id); err != nil {
			return err
		}
		if c.Contacts, err = tx.Query.LatestContacts(ctx, []string{id}, MaxContactsShown); err == nil && c.Contacts == nil {
			c.Contacts = []Contact{}
		}
		return err
	})
	return c, err
}

// ListConversations returns a page of conversations, newest activity first,
// each with its latest contacts (and, with f.UnreadOf, its unread count),
// read in one transaction.
func (s *Service) ListConversations(ctx context.Context, f ConversationFilter) ([]Conversation, error) {
	switch f.Status {
	case "", StatusNew, StatusOpen, StatusWaiting, StatusClosed:
	default:
		return nil, Errorf(EINVALID, "status must be new, open, waiting or closed")
	}
	f.Viewer = viewerOf(ctx)
	f.Contacts = MaxContactsShown
	var out []Conversation
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Query.ListConversations(ctx, f)
		return err
	})
	return out, err
}

// Messages returns a conversation's messages and notes in order.
func (s *Service) Messages(ctx context.Context, conversationID string) ([]StoredMessage, error) {
	var out []StoredMessage
	err := s.store.InTx(ctx, func(tx Tx) error {
		if _, err := visibleConversation(ctx, tx.Conversations, conversationID); err != nil {
			return err
		}
		var err error
		out, err = tx.Query.Messages(ctx, conversationID)
		return err
	})
	return out, err
}

// MaxContactsShown is how many contacts a conversation shows: its latest.
const MaxContactsShown = 50

// Sizes of a page of messages (a conversation's, or a customer's timeline).
const (
	DefaultMessagePage = 100
	MaxMessagePage     = 500
)

// checkMessagePage checks a page size; 0 is the default.
func checkMessagePage(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultMessagePage, nil
	case limit < 1 || limit > MaxMessagePage:
		return 0, Errorf(EINVALID, "limit must be a number from 1 to %d", MaxMessagePage)
	}
	return limit, nil
}

// nextPage cuts a page read with one message more than limit: the extra
// message says there is a next page, which starts after the page's last.
func nextPage(msgs []StoredMessage, limit int) ([]StoredMessage, *MessageCursor) {
	if len(msgs) <= limit {
		if msgs == nil {
			msgs = []StoredMessage{}
		}
		return msgs, nil
	}
	msgs = msgs[:limit]
	last := msgs[limit-1]
	return msgs, &MessageCursor{CreatedAt: last.CreatedAt, ID: last.ID}
}

// MessagePage returns a page of a conversation's messages and notes after
// the cursor (nil: from the first), oldest first, at most limit (0: the
// default), and the cursor of the next page (nil on the last).
func (s *Service) MessagePage(ctx context.Context, conversationID string, after *MessageCursor, limit int) ([]StoredMessage, *MessageCursor, error) {
	limit, err := checkMessagePage(limit)
	if err != nil {
		return nil, nil, err
	}
	var out []StoredMessage
	err = s.store.InTx(ctx, func(tx Tx) error {
		if _, err := visibleConversation(ctx, tx.Conversations, conversationID); err != nil {
			return err
		}
		var err error
		out, err = tx.Query.MessagesAfter(ctx, conversationID, after, limit+1)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	out, next := nextPage(out, limit)
	return out, next, nil
}

// Assign gives a conversation to an agent in an inbox: the agent replaces
// the assignee, or joins the assignees with Policy.MultiAssign. A new
// conversation becomes open.
func (s *Service) Assign(ctx context.Context, id, agent, inbox string, by Actor) (Conversation, error) {
	if agent == "" {
		return Conversation{}, Errorf(EINVALID, "agent is required")
	}
	return s.withConversation(ctx, id, func(tx Tx, c *Conversation) error {
		if c.Status == StatusClosed {
			return Errorf(ECONFLICT, "conversation is closed: reopen it first")
		}
		return s.assign(ctx, tx, c, []string{agent}, inbox, "assigned", by)
	})
}

// Unassign clears every assignee; an open conversation becomes new.
func (s *Service) Unassign(ctx context.Context, id string, by Actor) (Conversation, error) {
	return s.UnassignAgent(ctx, id, "", by)
}

// SetStatus moves a conversation to waiting, closed or open (reopen).
func (s *Service) SetStatus(ctx context.Context, id, status, reason string, by Actor) (Conversation, error) {
	if reason == "" {
		reason = map[string]string{StatusWaiting: "no_reply_needed", StatusClosed: "solved", StatusOpen: "reopened"}[status]
	}
	return s.withConversation(ctx, id, func(tx Tx, c *Conversation) error {
		switch status {
		case StatusWaiting:
			if c.Status == StatusClosed {
				return Errorf(ECONFLICT, "conversation is closed: reopen it first")
			}
			return s.transition(ctx, tx, c, StatusWaiting, reason, string(by))
		case StatusClosed:
			if !by.mayClose(*c) {
				return Errorf(EFORBIDDEN, "only an assignee, an admin or a bot may close a conversation")
			}
			return s.transition(ctx, tx, c, StatusClosed, reason, string(by))
		case StatusOpen:
			if c.Status != StatusClosed && c.Status != StatusWaiting {
				return nil
			}
			if c.Status == StatusClosed {
				if other, ok, err := tx.Conversations.ActiveConversation(ctx, c.CustomerID); err != nil {
					return err
				} else if ok {
					return activeConflict(ctx, other, "the customer has another active conversation")
				}
			}
			reopen := c.Status == StatusClosed
			if err := s.transition(ctx, tx, c, wakeStatus(*c), reason, string(by)); err != nil || !reopen || c.Assignee != "" {
				return err
			}
			return s.applyPresets(ctx, tx, c)
		}
		return Errorf(EINVALID, "status must be waiting, closed or open")
	})
}

// AddNote adds a private note, never sent to the customer.
func (s *Service) AddNote(ctx context.Context, id, text string, by Actor) (StoredMessage, error) {
	if strings.TrimSpace(text) == "" {
		return StoredMessage{}, Errorf(EINVALID, "text is required")
	}
	var note StoredMessage
	_, err := s.withConversation(ctx, id, func(tx Tx, c *Conversation) error {
		now := tx.Now()
		note = StoredMessage{ID: normalize.NewID(), ConversationID: c.ID, CustomerID: c.CustomerID, Kind: KindNote,
			Author: string(by), Text: text, CreatedAt: now,
			Message: normalize.Message{Text: text, ReceivedAt: now}}
		note.Message.MessageID = note.ID
		if _, err := tx.Message.InsertMessage(ctx, note); err != nil {
			return err
		}
		c.UpdatedAt = now
		if err := tx.Conversations.UpdateConversation(ctx, *c); err != nil {
			return err
		}
		return s.emit(ctx, tx, normalize.TypeNoteAdded, EventData{CustomerID: c.CustomerID, ConversationID: c.ID, EntryPoint: c.EntryPoint,
			MessageID: note.ID, Actor: string(by), Note: &note})
	})
	return note, err
}

// FirstMessage is the first message of a proactive conversation: nil
// without a text or a template. A customer who never wrote gets SMS and
// email as text (an email needs a subject), WhatsApp only as a template.
func FirstMessage(text *string, t *normalize.Template, subject string) *ReplyRequest {
	if text == nil && t == nil {
		return nil
	}
	r := &ReplyRequest{Template: t, Subject: subject}
	if text != nil {
		r.Text = *text
	}
	return r
}

// openingEntryPoint is the entry point of a conversation the business opens
// on channel: that of the channel's sender, "" without a channel.
func (s *Service) openingEntryPoint(channel string) string {
	if channel == "" {
		return ""
	}
	return EntryPointOf(s.policy.Senders[channel].Provider, channel)
}

// OpenConversation starts a conversation for a customer proactively (the
// business writes first); an agent who opens it is its assignee. With a
// first message, the conversation and the queued message are written in one
// transaction: if the message breaks a channel rule, nothing is created.
func (s *Service) OpenConversation(ctx context.Context, customerID, channel string, first *ReplyRequest, by Actor) (Conversation, *StoredMessage, error) {
	if first != nil {
		if err := checkReply(*first); err != nil {
			return Conversation{}, nil, err
		}
		if first.Channel == "" {
			first.Channel = channel
		}
	}
	var conv Conversation
	var msg *StoredMessage
	err := s.store.InTx(ctx, func(tx Tx) error {
		if _, ok, err := tx.Customers.CustomerByID(ctx, customerID); err != nil || !ok {
			if err == nil {
				err = Errorf(ENOTFOUND, "customer %s not found", customerID)
			}
			return err
		}
		if err := tx.Customers.LockCustomer(ctx, customerID); err != nil {
			return err
		}
		if other, ok, err := tx.Conversations.ActiveConversation(ctx, customerID); err != nil {
			return err
		} else if ok {
			return activeConflict(ctx, other, "the customer already has an active conversation")
		}
		var err error
		entry := s.openingEntryPoint(channel)
		if first != nil && first.EntryPoint != "" {
			if _, _, err := s.entryPointFrom(first.EntryPoint, first.Channel); err != nil {
				return err
			}
			entry = first.EntryPoint
		}
		if conv, err = s.createConversation(ctx, tx, customerID, channel, entry, "proactive", string(by)); err != nil {
			return err
		}
		if agent := by.agentName(); agent != "" {
			if err := s.letSee(ctx, tx, &conv, agent, by); err != nil {
				return err
			}
			if err := s.assign(ctx, tx, &conv, []string{agent}, conv.Inbox, "proactive", by); err != nil {
				return err
			}
		}
		if first != nil {
			m, err := s.reply(ctx, tx, &conv, *first, by)
			if err != nil {
				return err
			}
			msg = &m
		}
		return nil
	})
	if err == nil {
		s.notify()
	}
	return conv, msg, err
}

// DeleteConversation erases a conversation, its messages and their stored
// files.
func (s *Service) DeleteConversation(ctx context.Context, id string, by Actor) error {
	files := map[string]bool{}
	_, err := s.withConversation(ctx, id, func(tx Tx, c *Conversation) error {
		if err := s.conversationFiles(ctx, tx, c.ID, files); err != nil {
			return err
		}
		if err := tx.Conversations.DeleteConversation(ctx, c.ID); err != nil {
			return err
		}
		return s.emit(ctx, tx, normalize.TypeConversationDeleted, EventData{CustomerID: c.CustomerID, ConversationID: c.ID, EntryPoint: c.EntryPoint,
			Reason: "deleted", Actor: string(by)})
	})
	if err != nil {
		return err
	}
	s.forgetFiles(ctx, files, "conversation_id", id)
	return nil
}

// FindCustomer finds a customer by any identity: a phone number in any
// common notation, an email address, or a Meta or chat id.
func (c *Customers) FindCustomer(ctx context.Context, address string) (Customer, error) {
	s := c.s
	address = strings.TrimSpace(address)
	if address == "" {
		return Customer{}, Errorf(EINVALID, "address is required")
	}
	var candidates []Identity
	if p, err := normalize.CanonicalPhone(address); err == nil {
		candidates = append(candidates, Identity{normalize.KindPhone, p})
	}
	if e, _, err := normalize.CanonicalEmail(address); err == nil {
		candidates = append(candidates, Identity{normalize.KindEmail, e})
	}
	for _, k := range []string{normalize.KindMessenger, normalize.KindInstagram, normalize.KindChat, normalize.KindWhatsApp} {
		candidates = append(candidates, Identity{k, address})
	}
	var out Customer
	err := s.store.InTx(ctx, func(tx Tx) error {
		for _, id := range candidates {
			c, ok, err := tx.Customers.CustomerByIdentity(ctx, id)
			if err != nil {
				return err
			}
			if ok {
				out, _, err = tx.Customers.CustomerByID(ctx, c.ID)
				return err
			}
		}
		return Errorf(ENOTFOUND, "no customer has that address")
	})
	return out, err
}

// Customer returns a customer with its identities.
func (c *Customers) Customer(ctx context.Context, id string) (Customer, error) {
	s := c.s
	var out Customer
	err := s.store.InTx(ctx, func(tx Tx) error {
		c, ok, err := tx.Customers.CustomerByID(ctx, id)
		if err == nil && !ok {
			err = Errorf(ENOTFOUND, "customer %s not found", id)
		}
		out = c
		return err
	})
	return out, err
}

// Timeline is a page of a customer's history across channels: messages
// and notes of every conversation the viewer sees, oldest first, grouped by
// conversation in the order of each one's first message on the page.
type Timeline struct {
	Customer      Customer               `json:"customer"`
	Conversations []TimelineConversation `json:"conversations"`
	// Next is the cursor of the next page; nil on the last.
	Next *MessageCursor `json:"-"`
}

// TimelineConversation is one conversation of a timeline with its messages
// on the page.
type TimelineConversation struct {
	Conversation
	Messages []StoredMessage `json:"messages"`
}

// Timeline returns a page of a customer's history: at most limit (0: the
// default) messages and notes after the cursor (nil: from the first).
func (c *Customers) Timeline(ctx context.Context, id string, after *MessageCursor, limit int) (Timeline, error) {
	s := c.s
	limit, err := checkMessagePage(limit)
	if err != nil {
		return Timeline{}, err
	}
	var out Timeline
	err = s.store.InTx(ctx, func(tx Tx) error {
		c, ok, err := tx.Customers.CustomerByID(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(ENOTFOUND, "customer %s not found", id)
		}
		out.Customer = c
		msgs, err := tx.Query.CustomerMessages(ctx, id, viewerOf(ctx), after, limit+1)
		if err != nil {
			return err
		}
		msgs, out.Next = nextPage(msgs, limit)
		out.Conversations, err = groupByConversation(ctx, tx, msgs)
		return err
	})
	return out, err
}

// groupByConversation groups a page of messages by conversation, in the
// order of each conversation's first message.
func groupByConversation(ctx context.Context, tx Tx, msgs []StoredMessage) ([]TimelineConversation, error) {
	out := []TimelineConversation{}
	at := map[string]int{}
	var ids []string
	for _, m := range msgs {
		i, ok := at[m.ConversationID]
		if !ok {
			i = len(out)
			at[m.ConversationID] = i
			ids = append(ids, m.ConversationID)
			out = append(out, TimelineConversation{Conversation: Conversation{ID: m.ConversationID}})
		}
		out[i].Messages = append(out[i].Messages, m)
	}
	convs, err := tx.Query.ConversationsByID(ctx, ids)
	for _, c := range convs {
		out[at[c.ID]].Conversation = c
	}
	return out, err
}

// Merge merges customer from into customer into: from's active conversation
// is closed with reason "merged", its identities, conversations and
// messages move to into, and customer.merged is emitted.
func (c *Customers) Merge(ctx context.Context, into, from string, by Actor) (Customer, error) {
	s := c.s
	if into == from {
		return Customer{}, Errorf(EINVALID, "a customer cannot be merged into itself")
	}
	var out Customer
	err := s.store.InTx(ctx, func(tx Tx) error {
		for _, id := range []string{into, from} {
			if _, ok, err := tx.Customers.CustomerByID(ctx, id); err != nil || !ok {
				if err == nil {
					err = Errorf(ENOTFOUND, "customer %s not found", id)
				}
				return err
			}
		}
		// Lock in a fixed order so two opposite merges cannot deadlock.
		first, second := into, from
		if second < first {
			first, second = second, first
		}
		for _, id := range []string{first, second} {
			if err := tx.Customers.LockCustomer(ctx, id); err != nil {
				return err
			}
		}
		if active, ok, err := tx.Conversations.ActiveConversation(ctx, from); err != nil {
			return err
		} else if ok {
			if err := s.transition(ctx, tx, &active, StatusClosed, "merged", string(by)); err != nil {
				return err
			}
		}
		if err := tx.CustomerAdmin.MergeCustomer(ctx, from, into); err != nil {
			return err
		}
		c, _, err := tx.Customers.CustomerByID(ctx, into)
		if err != nil {
			return err
		}
		out = c
		return s.emit(ctx, tx, normalize.TypeCustomerMerged, EventData{CustomerID: into, MergedFrom: from, Actor: string(by), Customer: &c})
	})
	if err == nil {
		s.notify()
	}
	return out, err
}

// EraseCustomer removes everything the gateway keeps about a customer and
// emits customer.erased so downstream systems erase their copies.
func (c *Customers) EraseCustomer(ctx context.Context, id string, by Actor) error {
	s := c.s
	var files map[string]bool
	err := s.store.InTx(ctx, func(tx Tx) error {
		if _, ok, err := tx.Customers.CustomerByID(ctx, id); err != nil || !ok {
			if err == nil {
				err = Errorf(ENOTFOUND, "customer %s not found", id)
			}
			return err
		}
		if err := tx.Customers.LockCustomer(ctx, id); err != nil {
			return err
		}
		var err error
		if files, err = s.customerFiles(ctx, tx, id); err != nil {
			return err
		}
		if err := tx.CustomerAdmin.EraseCustomer(ctx, id); err != nil {
			return err
		}
		return s.emit(ctx, tx, normalize.TypeCustomerErased, EventData{CustomerID: id, Reason: "erasure", Actor: string(by)})
	})
	if err != nil {
		return err
	}
	s.notify()
	s.forgetFiles(ctx, files, "customer_id", id)
	return nil
}

// forgetFiles deletes stored files once the rows that point at them are
// gone; a failure is logged under the owner's id (kind, id).
func (s *Service) forgetFiles(ctx context.Context, files map[string]bool, kind, id string) {
	for key := range files {
		if err := s.media.Forget(ctx, key); err != nil {
			s.log.Warn("core: erase media file", kind, id, "error", err)
		}
	}
}

// customerFiles are the store keys of a customer's files: the stored
// attachments of the messages that came from a provider. Files enter the
// store only with those (copied by the core, or kept at ingest); an
// operator's reply may point at one of them but never owns one, so a reply's
// attachments are never counted (one recorded by an older version could name
// another customer's file).
func (s *Service) customerFiles(ctx context.Context, tx Tx, customerID string) (map[string]bool, error) {
	files := map[string]bool{}
	if s.media == nil {
		return files, nil
	}
	convs, err := tx.Query.CustomerConversations(ctx, customerID)
	if err != nil {
		return nil, err
	}
	for _, c := range convs {
		if err := s.conversationFiles(ctx, tx, c.ID, files); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// conversationFiles adds the store keys of a conversation's files to files,
// by the rule of customerFiles.
func (s *Service) conversationFiles(ctx context.Context, tx Tx, conversationID string, files map[string]bool) error {
	if s.media == nil {
		return nil
	}
	msgs, err := tx.Query.Messages(ctx, conversationID)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Kind != KindMessage || m.Author != "" {
			continue // a note, or an operator's reply
		}
		s.messageFiles(m.Message, files)
	}
	return nil
}

// messageFiles adds the store keys of a message's stored attachments to files.
func (s *Service) messageFiles(m normalize.Message, files map[string]bool) {
	for _, a := range m.Attachments {
		if key, ok := s.media.Key(a.URL); ok && a.Status == "stored" {
			files[key] = true
		}
	}
}

// Stats returns the dashboard figures, with the agent's own when named,
// of the conversations of inbox ("": of every inbox).
func (a *Agents) Stats(ctx context.Context, agent, inbox string) (Stats, error) {
	return a.StatsWithMine(ctx, agent, inbox, "")
}

// StatsWithMine returns the dashboard figures as Stats does and, for a
// named caller me, the caller's own figures (Mine), in one transaction.
func (a *Agents) StatsWithMine(ctx context.Context, agent, inbox, me string) (Stats, error) {
	s := a.s
	var st Stats
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		if st, err = tx.Query.Stats(ctx, agent, inbox, viewerOf(ctx)); err != nil || me == "" {
			return err
		}
		mine, err := tx.Reads.AgentFigures(ctx, me, inbox)
		st.Mine = &mine
		return err
	})
	return st, err
}

// AutoClose closes waiting conversations that have waited longer than the
// policy allows: their entry point's auto_close_after, else the global.
// Safe with several instances: each conversation is re-read under its
// customer's lock and closed only if it is still due.
func (s *Service) AutoClose(ctx context.Context) (int, error) {
	closed := 0
	for {
		var due []Conversation
		err := s.store.InTx(ctx, func(tx Tx) error {
			var err error
			due, err = tx.Query.DueWaiting(ctx, s.waitingCutoffs(tx.Now()), 100)
			return err
		})
		if err != nil || len(due) == 0 {
			return closed, err
		}
		for _, c := range due {
			_, err := s.withConversation(ctx, c.ID, func(tx Tx, c *Conversation) error {
				if c.Status != StatusWaiting || c.WaitingSince == nil || c.WaitingSince.After(tx.Now().Add(-s.policy.AutoCloseAfterFor(c.EntryPoint))) {
					return nil
				}
				closed++
				return s.transition(ctx, tx, c, StatusClosed, "auto_close", string(SystemActor("auto_close")))
			})
			if err != nil && ErrorCode(err) != ENOTFOUND {
				return closed, err
			}
		}
		if len(due) < 100 {
			return closed, nil
		}
	}
}

// waitingCutoffs are, at now, when the waiting conversations of each entry
// point with its own auto_close_after, and of the others, are due to close.
func (s *Service) waitingCutoffs(now time.Time) WaitingCutoffs {
	due := WaitingCutoffs{Before: now.Add(-s.policy.AutoCloseAfter), ByEntryPoint: map[string]time.Time{}}
	for ep, d := range s.policy.AutoCloseAfterByEntryPoint {
		due.ByEntryPoint[ep] = now.Add(-d)
	}
	return due
}

// RunAutoClose runs EndIdleContacts and AutoClose every interval until ctx ends.
func (s *Service) RunAutoClose(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.EndIdleContacts(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("core: end idle contacts", "error", err)
		} else if n > 0 {
			s.log.Info("core: ended idle contacts", "count", n)
		}
		if n, err := s.AutoClose(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("core: auto close", "error", err)
		} else if n > 0 {
			s.log.Info("core: auto closed conversations", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
