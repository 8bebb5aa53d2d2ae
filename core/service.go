package core

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/opengateway/gateway/normalize"
)

// Policy holds the conversation rules that are configuration.
type Policy struct {
	// ReopenWindow is how long after closing a customer's message reopens
	// the conversation instead of starting a new one.
	ReopenWindow time.Duration
	// ReopenWindowByChannel overrides ReopenWindow for the channel of the
	// customer's new message (live chat 0, social messaging up to 28 days).
	ReopenWindowByChannel map[string]time.Duration
	// ReopenWindowByEntryPoint overrides the channel's and the global
	// window for a message that came in at the entry point (its
	// reopen_window in GATEWAY_ENTRY_POINTS).
	ReopenWindowByEntryPoint map[string]time.Duration
	// AutoCloseAfter closes a waiting conversation after this long.
	AutoCloseAfter time.Duration
	// AutoCloseAfterByEntryPoint overrides AutoCloseAfter for the
	// conversations that started at the entry point (its auto_close_after).
	AutoCloseAfterByEntryPoint map[string]time.Duration
	// Senders are the business addresses of proactive messages, by channel
	// (TWILIO_FROM_NUMBER, WHATSAPP_PHONE_NUMBER_ID, SENDGRID_FROM_EMAIL).
	Senders map[string]BusinessAddress
	// SendersOff are the providers whose sender is off (its credentials
	// are not set), with why: a reply on them is refused as
	// channel_unavailable, never queued.
	SendersOff map[string]string
	// EmailUnverified is what inbound email whose sender was not
	// authenticated (sender_verified false) does: EmailMark ("" too) joins
	// the address's customer like any mail, the message marked;
	// EmailSeparate matches it by a KindEmailUnverified identity instead,
	// so it never joins the verified customer (GATEWAY_EMAIL_UNVERIFIED).
	EmailUnverified string
	// MultiAssign lets a conversation have several assignees (Converso);
	// by default it has one (Gladly).
	MultiAssign bool
	// ContactTimeout ends a contact after this long without a message on
	// it (0: never); ContactTimeoutByChannel overrides it per channel.
	ContactTimeout          time.Duration
	ContactTimeoutByChannel map[string]time.Duration
	// WaitingWhenEnded moves a conversation to waiting once all its
	// contacts have ended and no customer message waits for a reply.
	WaitingWhenEnded bool
	// DefaultHandler is the handler of each new conversation: HandlerHuman
	// ("" too) or "bot:<name>" (GATEWAY_DEFAULT_HANDLER).
	DefaultHandler string
	// EntryPointInboxes are, by entry point id, the inboxes conversations
	// that start there go to (GATEWAY_ENTRY_POINTS); presets win.
	EntryPointInboxes map[string]string
	// EntryPointAgents are, by entry point id, the agents a conversation a
	// customer starts there is assigned to in turn (routing round_robin),
	// unless presets assigned it.
	EntryPointAgents map[string][]string
	// EntryPointSenders are, by entry point id, the business address a
	// message leaves from when a request names the entry point
	// (ReplyRequest.EntryPoint).
	EntryPointSenders map[string]EntryPointSender
}

// Values of Policy.EmailUnverified.
const (
	EmailMark     = "mark"
	EmailSeparate = "separate"
)

// ReopenWindowFor returns the reopen window for a message that came in at
// entryPoint on channel: the entry point's, else the channel's, else the
// global one.
func (p Policy) ReopenWindowFor(entryPoint, channel string) time.Duration {
	if d, ok := p.ReopenWindowByEntryPoint[entryPoint]; ok {
		return d
	}
	if d, ok := p.ReopenWindowByChannel[channel]; ok {
		return d
	}
	return p.ReopenWindow
}

// AutoCloseAfterFor returns how long a waiting conversation that started
// at entryPoint waits before it closes: the entry point's, else the global.
func (p Policy) AutoCloseAfterFor(entryPoint string) time.Duration {
	if d, ok := p.AutoCloseAfterByEntryPoint[entryPoint]; ok {
		return d
	}
	return p.AutoCloseAfter
}

// Service is the conversation engine.
type Service struct {
	store   Store
	policy  Policy
	topics  EventTopics
	log     *slog.Logger
	metrics Metrics
	// notify is called after a transaction that added events commits.
	notify func()
	media  MediaCopier
}

// MediaCopier copies a message's pending attachments into the media store
// and knows its links (media.Copier).
type MediaCopier interface {
	Copy(ctx context.Context, m *normalize.Message) error
	// Key returns the store key of a gateway media link, authenticated by
	// the link's signature, expired or not; ok is false for any other URL.
	Key(link string) (key string, ok bool)
	// SignedURL returns a fresh link to a stored file.
	SignedURL(key string) string
	// AllowsLink reports whether an operator may attach a URL that is not
	// a gateway media link (its host is in GATEWAY_MEDIA_ALLOWED_HOSTS).
	AllowsLink(link string) bool
	// Forget deletes a stored file by its key (erasure).
	Forget(ctx context.Context, key string) error
}

// SetMedia makes the core copy attachments before a message is stored and
// published.
func (s *Service) SetMedia(m MediaCopier) { s.media = m }

// CopyMedia copies a message's pending attachments into the media store
// before the message is handled; it does nothing when there are none or no
// media store is set. Files are copied before the transaction, never inside it.
func (s *Service) CopyMedia(ctx context.Context, m *normalize.Message) error {
	if !s.hasPendingMedia(m) {
		return nil
	}
	return s.media.Copy(ctx, m)
}

// EventTopics names the topics the core writes to.
type EventTopics struct {
	Events string
	DLQ    string
}

// NewService returns the conversation engine.
// m may be nil (nothing is counted).
func NewService(store Store, policy Policy, topics EventTopics, log *slog.Logger, m Metrics) *Service {
	return &Service{store: store, policy: policy, topics: topics, log: log, metrics: NewMetrics(m), notify: func() {}}
}

// OnEvents sets the function called after events were committed (to wake the relay).
func (s *Service) OnEvents(fn func()) { s.notify = fn }

// Store returns the service's store.
func (s *Service) Store() Store { return s.store }

// EventData is the data of every event on events.v1. Message events carry
// the whole normalized message; transitions carry from, to, reason and actor.
type EventData struct {
	CustomerID     string             `json:"customer_id"`
	ConversationID string             `json:"conversation_id,omitempty"`
	Channel        string             `json:"channel,omitempty"`
	EntryPoint     string             `json:"entry_point,omitempty"`
	MessageID      string             `json:"message_id,omitempty"`
	From           string             `json:"from,omitempty"`
	To             string             `json:"to,omitempty"`
	Reason         string             `json:"reason,omitempty"`
	Actor          string             `json:"actor,omitempty"`
	Message        *normalize.Message `json:"message,omitempty"`
	Status         string             `json:"status,omitempty"`
	Error          *DeliveryError     `json:"error,omitempty"`
	Conversation   *Conversation      `json:"conversation,omitempty"`
	Customer       *Customer          `json:"customer,omitempty"`
	MergedFrom     string             `json:"merged_from,omitempty"`
	Assignee       string             `json:"assignee,omitempty"`
	Inbox          string             `json:"inbox,omitempty"`
	PreviousAgent  string             `json:"previous_assignee,omitempty"`
	Assignees      []string           `json:"assignees,omitzero"`
	Topics         []string           `json:"topics,omitzero"`
	PreviousTopics []string           `json:"previous_topics,omitzero"`
	VisibleTo      []string           `json:"visible_to,omitzero"`
	PrevVisibleTo  []string           `json:"previous_visible_to,omitzero"`
	Note           *StoredMessage     `json:"note,omitempty"`
	Contact        *Contact           `json:"contact,omitempty"`
	// Identity is the identity a customer.identity_added or _removed names.
	Identity *Identity `json:"identity,omitempty"`
	// Changed names the fields customer.updated changed.
	Changed []string `json:"changed,omitzero"`
}

// eventSource is the CloudEvents source of the core's events.
const eventSource = "/gateway/core"

// emit adds one event to the transaction's event outbox, keyed by customer id.
// An event about a conversation carries the conversation's entry point:
// the caller's, else its Conversation's, else the stored one's.
func (s *Service) emit(ctx context.Context, tx EventTx, typ string, d EventData) error {
	if d.EntryPoint == "" && d.Conversation != nil {
		d.EntryPoint = d.Conversation.EntryPoint
	}
	if d.EntryPoint == "" && d.ConversationID != "" {
		var err error
		if d.EntryPoint, _, err = tx.ConversationEntryPoint(ctx, d.ConversationID); err != nil {
			return err
		}
	}
	subject := d.ConversationID
	if subject == "" {
		subject = d.CustomerID
	}
	ev, err := normalize.NewEvent(eventSource, typ, subject, tx.Now(), d)
	if err != nil {
		return err
	}
	raw, err := ev.Encode()
	if err != nil {
		return fmt.Errorf("core: encode %s: %w", typ, err)
	}
	s.metrics.Event(typ)
	return tx.AddEvents(ctx, OutboxEvent{Topic: s.topics.Events, Key: d.CustomerID, Value: raw})
}

// transition moves a conversation to another status and emits the event
// the move means.
func (s *Service) transition(ctx context.Context, tx Tx, c *Conversation, to, reason, actor string) error {
	return s.move(ctx, tx, tx.Conversations.UpdateConversation, c, to, reason, actor)
}

// move is transition with the conversation written by write.
func (s *Service) move(ctx context.Context, tx EventTx, write func(context.Context, Conversation) error, c *Conversation, to, reason, actor string) error {
	from := c.Status
	if from == to {
		return nil
	}
	now := tx.Now()
	c.Status = to
	c.UpdatedAt = now
	c.WaitingSince = nil
	switch to {
	case StatusClosed:
		c.ClosedAt = &now
		c.CloseReason = reason
		// Resolution counts from the creation, or from the last reopen:
		// each close records the time of its own spell once.
		start := c.CreatedAt
		if c.ReopenedAt != nil {
			start = *c.ReopenedAt
		}
		d := now.Sub(start).Seconds()
		c.ResolutionSeconds = &d
		s.metrics.Resolution(d)
	case StatusWaiting:
		c.WaitingSince = &now
	}
	if from == StatusClosed {
		c.ClosedAt = nil
		c.CloseReason = ""
		c.ResolutionSeconds = nil
		c.ReopenedAt = &now
	}
	if err := write(ctx, *c); err != nil {
		return err
	}
	d := EventData{CustomerID: c.CustomerID, ConversationID: c.ID, EntryPoint: c.EntryPoint, From: from, To: to, Reason: reason, Actor: actor, Conversation: c}
	if err := s.emit(ctx, tx, TypeStatusChanged, d); err != nil {
		return err
	}
	switch {
	case to == StatusClosed:
		return s.emit(ctx, tx, normalize.TypeConversationClosed, d)
	case from == StatusClosed:
		return s.emit(ctx, tx, normalize.TypeConversationReopened, d)
	}
	return nil
}

// TypeStatusChanged is emitted for every status transition.
const TypeStatusChanged = normalize.TypeConversationStatusChanged
