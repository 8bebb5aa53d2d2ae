package core

import (
	"context"
	"fmt"
	"time"

	"github.com/opengateway/gateway/normalize"
)

// Results of handling an inbound message.
const (
	ResultCreated   = "created"   // a new conversation was started
	ResultAttached  = "attached"  // added to the active conversation
	ResultReopened  = "reopened"  // a recently closed conversation was reopened
	ResultDuplicate = "duplicate" // already stored: dropped
	ResultStatus    = "status"    // a delivery status was applied
	ResultIgnored   = "ignored"   // nothing to do (status or update for an unknown message)
	ResultUpdated   = "updated"   // a stored message was changed (a call's outcome, recording, transcription)
	ResultNoise     = "noise"     // noise kept on the latest conversation, which it left as it was
)

// CloseReasonNoise is the close reason of a conversation that started
// closed, made to keep the noise (normalize.Message.Noise) of a customer who
// had no conversation.
const CloseReasonNoise = "noise"

// Inbound is one decoded record of inbound.v1.
type Inbound struct {
	Event   normalize.Event
	Message *normalize.Message // message.received
	Status  *normalize.Status  // message.status
	Update  *normalize.Update  // message.updated
	// ReceivedAt is when the gateway accepted the webhook (the inbound.v1
	// record's timestamp, set by the ingest as it hands the event to
	// Kafka); zero: when the core applies it. Conversation times count from
	// it, never from the provider's own timestamp (Message.ReceivedAt),
	// which a delayed or replayed webhook carries from long ago.
	ReceivedAt time.Time
}

// Files returns the message whose pending attachments are copied into the
// media store before the record is applied: the message itself, or for an
// update one that shares the update's attachments (so copying it fills
// them), named by the event's id so a retried batch copies to the same key.
// Nil when there is nothing to copy.
func (in *Inbound) Files() *normalize.Message {
	switch {
	case in.Message != nil:
		return in.Message
	case in.Update != nil && len(in.Update.Attachments) > 0:
		return &normalize.Message{MessageID: in.Event.ID, Provider: in.Update.Provider, ReceivedAt: in.Update.At,
			Attachments: in.Update.Attachments}
	}
	return nil
}

// DecodeInbound decodes one record value of inbound.v1: a message.received
// message.status or message.updated CloudEvent. An error wraps normalize.ErrEvent or the
// codec's error; such a record can never be applied.
func DecodeInbound(b []byte) (Inbound, error) {
	ev, err := normalize.DecodeEvent(b)
	if err != nil {
		return Inbound{}, err
	}
	in := Inbound{Event: ev}
	switch ev.Type {
	case normalize.TypeMessageReceived:
		m, err := ev.DecodeMessage()
		if err != nil {
			return Inbound{}, err
		}
		in.Message = &m
	case normalize.TypeMessageStatus:
		s, err := ev.DecodeStatus()
		if err != nil {
			return Inbound{}, err
		}
		in.Status = &s
	case normalize.TypeMessageUpdated:
		u, err := ev.DecodeUpdate()
		if err != nil {
			return Inbound{}, err
		}
		in.Update = &u
	default:
		return Inbound{}, fmt.Errorf("%w: unknown type %q", normalize.ErrEvent, ev.Type)
	}
	return in, nil
}

// HandleInbound applies a batch of inbound events in one transaction, in
// order, and returns the result of each. A returned error means nothing of
// the batch was committed. The database work is done per batch: customers,
// stored provider ids and active conversations are read in bulk (the
// customers locked in id order), messages and conversation updates are
// written in bulk at the end.
func (s *Service) HandleInbound(ctx context.Context, batch []Inbound) ([]string, error) {
	results := make([]string, len(batch))
	err := s.store.InTx(ctx, func(tx Tx) error {
		st, err := s.prefetch(ctx, tx, batch)
		if err != nil {
			return err
		}
		for i, in := range batch {
			switch {
			case in.Message != nil:
				results[i], err = s.receive(ctx, tx, st, *in.Message, receiptTime(in.ReceivedAt, tx.Now()))
			case in.Status != nil:
				results[i], err = s.applyStatus(ctx, tx, *in.Status)
			case in.Update != nil:
				results[i], err = s.applyUpdate(ctx, tx, st, *in.Update)
			default:
				err = Errorf(EINVALID, "event %s has no message, status or update", in.Event.ID)
			}
			if err != nil {
				return fmt.Errorf("core: %s %s: %w", in.Event.Type, in.Event.ID, err)
			}
		}
		return st.flush(ctx, tx.Batch)
	})
	if err != nil {
		return nil, err
	}
	s.metrics.Batch(len(batch))
	for i, r := range results {
		if r != ResultStatus && r != ResultIgnored {
			s.metrics.Message(r, inboundEntryPoint(batch[i]))
		}
	}
	s.notify()
	for i, in := range batch {
		if results[i] == ResultDuplicate && in.Message != nil { // a repeated update brings no files of its own
			s.dropDuplicateFiles(ctx, *in.Message)
		}
	}
	return results, nil
}

// inboundEntryPoint is the entry point an inbound message came in at; for
// an update the one derived from its provider and channel (it names none);
// "" for a status.
func inboundEntryPoint(in Inbound) string {
	switch {
	case in.Message != nil:
		return MessageEntryPoint(in.Message)
	case in.Update != nil:
		return EntryPointOf(in.Update.Provider, in.Update.Channel)
	}
	return ""
}

// dropDuplicateFiles deletes the files a dropped duplicate brought that the
// message kept does not point at, so that no copy outlives erasure. Files
// are keyed by the provider's message (media.FileKey), so a redelivery
// rewrites the kept message's own files and nothing is deleted; what
// differs is an email sent again under the same Message-ID with other
// files, or a copy made under another key by an older version. A failure
// is logged: the message is handled either way.
func (s *Service) dropDuplicateFiles(ctx context.Context, m normalize.Message) {
	if s.media == nil {
		return
	}
	files := map[string]bool{}
	s.messageFiles(m, files)
	if len(files) == 0 {
		return
	}
	err := s.store.InTx(ctx, func(tx Tx) error {
		kept, ok, err := tx.Message.MessageByProviderID(ctx, m.Provider, m.ProviderMessageID)
		if err == nil && ok {
			for _, a := range kept.Message.Attachments {
				if key, ok := s.media.Key(a.URL); ok {
					delete(files, key)
				}
			}
		}
		return err
	})
	if err != nil {
		s.log.Warn("core: files of a duplicate message", "provider", m.Provider, "error", err)
		return
	}
	s.forgetFiles(ctx, files, "provider", m.Provider)
}

// batchState is what a batch's transaction knows and has yet to write.
type batchState struct {
	customers map[Identity]Customer
	locked    map[string]bool
	fresh     map[string]bool // customers made in this transaction
	// known are the customers whose last closed conversation (in closed,
	// if any) was read in bulk or made here; noPresets those known to
	// have no presets.
	known     map[string]bool
	noPresets map[string]bool
	announce  map[Identity]bool
	stored    map[ProviderKey]bool
	active    map[string]*Conversation // by customer id
	closed    map[string]*Conversation // by customer id: the last closed one, once read
	dirty     []*Conversation
	isDirty   map[*Conversation]bool
	// made are the conversations the batch started, inserted as they end
	// when it is flushed (isMade by id).
	made     []*Conversation
	isMade   map[string]bool
	messages []StoredMessage
	contacts *contactBatch
}

func newBatchState() *batchState {
	return &batchState{locked: map[string]bool{}, fresh: map[string]bool{}, known: map[string]bool{}, noPresets: map[string]bool{},
		announce: map[Identity]bool{},
		active:   map[string]*Conversation{}, isDirty: map[*Conversation]bool{}, closed: map[string]*Conversation{},
		isMade: map[string]bool{}, contacts: newContactBatch()}
}

// prefetch reads in bulk what the batch's messages need, after locking the
// known customers (so no other transaction changes them meanwhile), and
// creates the customers of the identities nobody owns.
func (s *Service) prefetch(ctx context.Context, tx Tx, batch []Inbound) (*batchState, error) {
	st := newBatchState()
	var ids []Identity
	var keys []ProviderKey
	names := map[Identity]string{}
	for _, in := range batch {
		if m := in.Message; m != nil {
			id := s.contactIdentity(m)
			if _, ok := names[id]; !ok {
				names[id] = m.Contact().Name // a new customer is named by its first message
			}
			ids = append(ids, id)
			if m.ProviderMessageID != "" {
				keys = append(keys, ProviderKey{m.Provider, m.ProviderMessageID})
			}
		}
	}
	var err error
	if st.customers, err = tx.Batch.CustomersByIdentities(ctx, ids); err != nil {
		return nil, err
	}
	var custIDs []string
	for _, c := range st.customers {
		if !st.locked[c.ID] {
			st.locked[c.ID] = true
			custIDs = append(custIDs, c.ID)
		}
	}
	if err := tx.Batch.LockCustomers(ctx, custIDs); err != nil {
		return nil, err
	}
	if err := st.createCustomers(ctx, tx, ids, names); err != nil {
		return nil, err
	}
	if st.stored, err = tx.Batch.StoredProviderIDs(ctx, keys); err != nil {
		return nil, err
	}
	return st, st.loadActive(ctx, tx.Batch, custIDs)
}

// createCustomers creates, in bulk, a customer for each identity of ids
// that has none, named by names. Their customer.created is emitted with
// their first message (announce). An identity another transaction took
// meanwhile gets its owner, not locked: receive locks it.
func (st *batchState) createCustomers(ctx context.Context, tx Tx, ids []Identity, names map[Identity]string) error {
	var cs []Customer
	var need []Identity
	for _, id := range ids {
		if _, ok := st.customers[id]; ok || st.announce[id] {
			continue
		}
		st.announce[id] = true
		need = append(need, id)
		cs = append(cs, Customer{ID: normalize.NewID(), Name: names[id], CreatedAt: tx.Now()})
	}
	if len(need) == 0 {
		return nil
	}
	taken, err := tx.Batch.CreateCustomers(ctx, cs, need)
	if err != nil {
		return err
	}
	for i, id := range need {
		if other, ok := taken[id]; ok {
			st.customers[id] = other
			delete(st.announce, id)
			continue
		}
		c := cs[i]
		c.Identities = []Identity{id}
		st.customers[id] = c
		// Nobody else sees it before this transaction commits: it needs no
		// lock, and has no conversation and no stored message.
		st.locked[c.ID], st.fresh[c.ID], st.known[c.ID], st.noPresets[c.ID] = true, true, true, true
	}
	return nil
}

// loadActive reads the active conversations of locked customers; of
// those that have none, the last closed one and whether they have
// presets; and the open contacts of all these conversations.
func (st *batchState) loadActive(ctx context.Context, tx BatchTx, customerIDs []string) error {
	active, err := tx.ActiveConversations(ctx, customerIDs)
	if err != nil {
		return err
	}
	convIDs := make([]string, 0, len(active))
	for id, c := range active {
		st.active[id] = &c
		convIDs = append(convIDs, c.ID)
	}
	var idle []string
	for _, id := range customerIDs {
		if active[id].ID == "" {
			idle = append(idle, id)
		}
	}
	closed, err := tx.LastClosedConversations(ctx, idle)
	if err != nil {
		return err
	}
	presets, err := tx.CustomersWithPresets(ctx, idle)
	if err != nil {
		return err
	}
	for _, id := range idle {
		st.known[id], st.noPresets[id] = true, !presets[id]
		if c, ok := closed[id]; ok {
			st.closed[id] = &c
			convIDs = append(convIDs, c.ID)
		}
	}
	open, err := tx.OpenContacts(ctx, convIDs)
	if err != nil {
		return err
	}
	st.contacts.load(convIDs, open)
	return nil
}

func (st *batchState) touch(c *Conversation) {
	if !st.isDirty[c] {
		st.isDirty[c] = true
		st.dirty = append(st.dirty, c)
	}
}

// make keeps a conversation started in the batch (with no presets to
// apply), inserted when the batch is flushed: it has no contacts yet.
func (st *batchState) make(c *Conversation) {
	st.made = append(st.made, c)
	st.isMade[c.ID] = true
	st.contacts.loaded[c.ID] = true
}

// write is how the batch writes a conversation's change now: not at all,
// for every conversation a message joins is written (or, made here,
// inserted) as it ends when the batch is flushed.
func (st *batchState) write(c *Conversation) func(context.Context, Conversation) error {
	st.touch(c)
	return func(context.Context, Conversation) error { return nil }
}

// flush writes the batch's conversations, messages and contacts: each
// conversation once (inserted or updated), its counts with it.
func (st *batchState) flush(ctx context.Context, tx BatchTx) error {
	made := make([]Conversation, len(st.made))
	for i, c := range st.made {
		made[i] = *c
	}
	changed := make([]Conversation, 0, len(st.dirty))
	for _, c := range st.dirty {
		if !st.isMade[c.ID] {
			changed = append(changed, *c)
		}
	}
	nc, nm, err := tx.WriteBatch(ctx, made, changed, st.messages)
	switch {
	case err != nil:
		return err
	case nc != len(made):
		// The customers are new, so this only happens if the store does
		// not lock: it is a conflict worth retrying.
		return fmt.Errorf("core: %d of %d new customers already have an active conversation: %w", len(made)-nc, len(made), ErrTransient)
	case nm != len(st.messages):
		// Another transaction stored one of these provider ids meanwhile:
		// retry the batch, which will see it as a duplicate.
		return fmt.Errorf("core: %d of %d messages were stored concurrently: %w", len(st.messages)-nm, len(st.messages), ErrTransient)
	}
	return st.contacts.flush(ctx, tx)
}

// KindEmailUnverified is the identity kind of inbound email whose sender
// was not authenticated, under Policy.EmailUnverified = EmailSeparate: the
// address's unverified mail gathers on a customer of its own, apart from
// the customer its verified mail (kind email) reaches.
const KindEmailUnverified = "email_unverified"

// contactIdentity is the identity a message is matched to a customer by:
// its contact's, except for unauthenticated inbound email under
// EmailSeparate. Only an explicit sender_verified false counts as
// unauthenticated.
func (s *Service) contactIdentity(m *normalize.Message) Identity {
	c := m.Contact()
	id := Identity{Kind: c.Kind, Address: c.Address}
	if s.policy.EmailUnverified == EmailSeparate && m.Direction == normalize.Inbound && c.Kind == normalize.KindEmail &&
		m.SenderVerified != nil && !*m.SenderVerified {
		id.Kind = KindEmailUnverified
	}
	return id
}

// receiptTime is when the gateway received a message: at, unless it is
// unknown or ahead of the core's clock (now).
func receiptTime(at, now time.Time) time.Time {
	if at.IsZero() || at.After(now) {
		return now
	}
	return at
}

// receive attaches an inbound message, received by the gateway at
// receivedAt, to the customer's single active conversation: the active
// one, else the last closed one if it closed within the reopen window, else
// a new one.
func (s *Service) receive(ctx context.Context, tx Tx, st *batchState, m normalize.Message, receivedAt time.Time) (string, error) {
	contact := m.Contact()
	id := s.contactIdentity(&m)
	cust := st.customers[id] // prefetch found or made every message's customer
	if st.announce[id] {
		delete(st.announce, id)
		c := cust
		if err := s.emit(ctx, tx, normalize.TypeCustomerCreated, EventData{CustomerID: c.ID, Customer: &c}); err != nil {
			return "", err
		}
	}
	if err := st.lockLate(ctx, tx, cust.ID, &m); err != nil {
		return "", err
	}
	key := ProviderKey{m.Provider, m.ProviderMessageID}
	if m.ProviderMessageID != "" && st.stored[key] {
		return ResultDuplicate, nil
	}
	if m.Noise() {
		return s.receiveNoise(ctx, tx, st, cust.ID, m)
	}
	fromCustomer := m.Direction == normalize.Inbound && !m.Echo
	result := ResultAttached
	conv := st.active[cust.ID]
	if conv == nil {
		c, r, err := s.conversationFor(ctx, tx, st, cust.ID, &m, fromCustomer)
		if err != nil {
			return "", err
		}
		conv, result = c, r
		st.active[cust.ID] = conv
		if r == ResultCreated {
			st.contacts.loaded[c.ID] = true // a new conversation has no contacts yet
		}
	} else if conv.Status == StatusWaiting && fromCustomer {
		if err := s.move(ctx, tx, st.write(conv), conv, wakeStatus(*conv), "customer_message", "customer"); err != nil {
			return "", err
		}
	}
	now := tx.Now()
	stored := StoredMessage{ID: m.MessageID, ConversationID: conv.ID, CustomerID: cust.ID, Kind: KindMessage,
		Direction: m.Direction, Channel: m.Channel, Text: m.Text, Message: m, CreatedAt: now}
	if m.Direction == normalize.Outbound {
		stored.Status = normalize.StatusSent
	}
	st.messages = append(st.messages, stored)
	if m.ProviderMessageID != "" {
		st.stored[key] = true
	}
	conv.MessageCount++
	conv.LastActivityAt = now
	conv.UpdatedAt = now
	switch {
	case fromCustomer:
		if m.AwaitsReply() {
			conv.Unreplied++
		}
		conv.Channel, conv.ContactAddress, conv.BusinessAddress = m.Channel, contact.Address, m.To.Address
		at := receivedAt
		conv.LastInboundAt = &at
		if conv.FirstInboundAt == nil {
			conv.FirstInboundAt = &at
		}
	case m.Echo:
		// A person answered from the provider's own app (Meta's inbox,
		// the WhatsApp Business app): a human reply.
		s.answered(conv, receivedAt)
	}
	st.touch(conv)
	if err := s.emit(ctx, tx, normalize.TypeMessageReceived, EventData{CustomerID: cust.ID,
		ConversationID: conv.ID, EntryPoint: conv.EntryPoint, Channel: m.Channel, MessageID: m.MessageID, Message: &m}); err != nil {
		return "", err
	}
	starter := "customer"
	if !fromCustomer {
		starter = "business"
	}
	return result, s.noteContact(ctx, tx, st.contacts, conv, m.Channel, starter)
}

// lockLate locks a customer the prefetch did not (another transaction
// made it meanwhile) and reads what the prefetch could not, now that the
// customer is locked.
func (st *batchState) lockLate(ctx context.Context, tx Tx, customerID string, m *normalize.Message) error {
	if st.locked[customerID] {
		return nil
	}
	if err := tx.Customers.LockCustomer(ctx, customerID); err != nil {
		return err
	}
	st.locked[customerID] = true
	if c, ok, err := tx.Conversations.ActiveConversation(ctx, customerID); err != nil {
		return err
	} else if ok {
		st.active[customerID] = &c
	}
	if m.ProviderMessageID != "" {
		if _, dup, err := tx.Message.MessageByProviderID(ctx, m.Provider, m.ProviderMessageID); err != nil {
			return err
		} else if dup {
			st.stored[ProviderKey{m.Provider, m.ProviderMessageID}] = true
		}
	}
	return nil
}

// conversationFor returns the conversation a new message of a locked
// customer who has no active one joins: a recently closed one reopened, or a
// new one (at the message's entry point). fromCustomer is false for echoes
// of the business's own messages.
func (s *Service) conversationFor(ctx context.Context, tx Tx, st *batchState, customerID string, m *normalize.Message, fromCustomer bool) (*Conversation, string, error) {
	channel := m.Channel
	last, err := s.lastClosed(ctx, tx, st, customerID)
	if err != nil {
		return nil, "", err
	}
	if last != nil && fromCustomer && last.ClosedAt != nil && last.CloseReason != "merged" &&
		tx.Now().Sub(*last.ClosedAt) < s.policy.ReopenWindowFor(MessageEntryPoint(m), channel) {
		delete(st.closed, customerID)
		err = s.move(ctx, tx, st.write(last), last, wakeStatus(*last), "customer_message", "customer")
		if err == nil && last.Assignee == "" && !st.noPresets[customerID] {
			err = s.applyPresets(ctx, tx, last)
		}
		return last, ResultReopened, err
	}
	entry := MessageEntryPoint(m)
	// Without presets or round-robin routing a new conversation is made
	// in bulk when the batch is flushed.
	if st.noPresets[customerID] && len(s.policy.EntryPointAgents[entry]) == 0 {
		conv := s.newConversation(customerID, channel, entry, tx.Now())
		st.make(&conv)
		return &conv, ResultCreated, s.emitCreated(ctx, tx, &conv, StatusNew, "customer_message", "customer")
	}
	conv, err := s.createConversation(ctx, tx, customerID, channel, entry, "customer_message", "customer")
	return &conv, ResultCreated, err
}

// lastClosed returns the customer's most recently closed conversation, nil
// if none, read once per batch (noise may have changed it since).
func (s *Service) lastClosed(ctx context.Context, tx Tx, st *batchState, customerID string) (*Conversation, error) {
	if c := st.closed[customerID]; c != nil || st.known[customerID] {
		return c, nil
	}
	last, ok, err := tx.Conversations.LastClosedConversation(ctx, customerID)
	if err != nil || !ok {
		return nil, err
	}
	st.closed[customerID] = &last
	return &last, nil
}

// receiveNoise keeps a noise message (normalize.Message.Noise: a reaction,
// a read receipt, a referral without text, a Get Started tap, a system
// notice) on the customer's latest conversation, whatever its status, and
// publishes it, changing nothing else: no reopen or wake, no unreplied and
// no reply, no last activity, no inbound time (nor the 24-hour window), no
// contact. A customer with no conversation at all gets one that starts
// closed (CloseReasonNoise): a first contact made only of noise opens
// nothing, and the customer's first words reopen it within the reopen
// window like any closed conversation, the noise (an ad's referral) above
// them.
func (s *Service) receiveNoise(ctx context.Context, tx Tx, st *batchState, customerID string, m normalize.Message) (string, error) {
	conv := st.active[customerID]
	var err error
	if conv == nil {
		if conv, err = s.lastClosed(ctx, tx, st, customerID); err != nil {
			return "", err
		}
	}
	if conv == nil || conv.CloseReason == "merged" {
		if conv, err = s.createClosedConversation(ctx, tx, st, customerID, m.Channel, MessageEntryPoint(&m)); err != nil {
			return "", err
		}
		st.closed[customerID] = conv
	}
	now := tx.Now()
	stored := StoredMessage{ID: m.MessageID, ConversationID: conv.ID, CustomerID: customerID, Kind: KindMessage,
		Direction: m.Direction, Channel: m.Channel, Text: m.Text, Message: m, CreatedAt: now}
	if m.Direction == normalize.Outbound {
		stored.Status = normalize.StatusSent
	}
	st.messages = append(st.messages, stored)
	if m.ProviderMessageID != "" {
		st.stored[ProviderKey{m.Provider, m.ProviderMessageID}] = true
	}
	conv.MessageCount++
	conv.UpdatedAt = now
	st.touch(conv)
	return ResultNoise, s.emit(ctx, tx, normalize.TypeMessageReceived, EventData{CustomerID: customerID,
		ConversationID: conv.ID, EntryPoint: conv.EntryPoint, Channel: m.Channel, MessageID: m.MessageID, Message: &m})
}

// wakeStatus is the status a conversation returns to when the customer writes.
func wakeStatus(c Conversation) string {
	if c.Assignee != "" {
		return StatusOpen
	}
	return StatusNew
}

// newConversation is a conversation of a customer, status new, started now
// on channel at entryPoint.
func (s *Service) newConversation(customerID, channel, entryPoint string, now time.Time) Conversation {
	handler := s.policy.DefaultHandler
	if handler == "" {
		handler = HandlerHuman
	}
	return Conversation{ID: normalize.NewID(), CustomerID: customerID, Status: StatusNew,
		CreatedAt: now, UpdatedAt: now, LastActivityAt: now, Channel: channel, EntryPoint: entryPoint, Assignees: []string{}, Topics: []string{},
		VisibleTo: []string{}, Handler: handler, Inbox: s.policy.EntryPointInboxes[entryPoint]}
}

// createClosedConversation starts a conversation that is closed from the
// start (CloseReasonNoise), for the noise of a customer who has none: no
// resolution time, no presets; conversation.created says status closed.
// In a batch it is inserted when the batch is flushed.
func (s *Service) createClosedConversation(ctx context.Context, tx Tx, st *batchState, customerID, channel, entryPoint string) (*Conversation, error) {
	now := tx.Now()
	conv := s.newConversation(customerID, channel, entryPoint, now)
	conv.Status, conv.ClosedAt, conv.CloseReason = StatusClosed, &now, CloseReasonNoise
	st.make(&conv)
	return &conv, s.emitCreated(ctx, tx, &conv, StatusClosed, CloseReasonNoise, "customer")
}

// emitCreated emits conversation.created for a new conversation.
func (s *Service) emitCreated(ctx context.Context, tx Tx, conv *Conversation, to, reason, actor string) error {
	return s.emit(ctx, tx, normalize.TypeConversationCreated, EventData{CustomerID: conv.CustomerID,
		ConversationID: conv.ID, Channel: conv.Channel, EntryPoint: conv.EntryPoint, To: to, Reason: reason, Actor: actor,
		Conversation: conv})
}

// createConversation starts a new conversation for a customer that has no
// active one, on channel at entryPoint.
func (s *Service) createConversation(ctx context.Context, tx Tx, customerID, channel, entryPoint, reason, actor string) (Conversation, error) {
	conv := s.newConversation(customerID, channel, entryPoint, tx.Now())
	ok, err := tx.Conversations.InsertConversation(ctx, conv)
	if err != nil {
		return Conversation{}, err
	}
	if !ok {
		// The customer is locked, so this only happens if the store does not
		// lock: it is a conflict worth retrying.
		return Conversation{}, fmt.Errorf("core: customer %s already has an active conversation: %w", customerID, ErrTransient)
	}
	if err := s.emitCreated(ctx, tx, &conv, StatusNew, reason, actor); err != nil {
		return Conversation{}, err
	}
	if err := s.applyPresets(ctx, tx, &conv); err != nil || reason != "customer_message" {
		return conv, err
	}
	return conv, s.routeRoundRobin(ctx, tx, &conv)
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
