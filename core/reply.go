package core

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opengateway/gateway/normalize"
)

// ReplyRequest is a reply an operator, bot or downstream system asks to send.
type ReplyRequest struct {
	Text        string                 `json:"text"`
	Channel     string                 `json:"channel,omitempty"`
	Attachments []normalize.Attachment `json:"attachments,omitempty"`
	Template    *normalize.Template    `json:"template,omitempty"`
	// Tag is a Messenger/Instagram message tag for sends outside the window.
	Tag string `json:"tag,omitempty"`
	// Subject overrides an email reply's subject.
	Subject string `json:"subject,omitempty"`
	HTML    string `json:"html,omitempty"`
	// EntryPoint names the entry point the message leaves from (its business
	// address and credentials) instead of the one the customer wrote to, or
	// the channel's configured sender for a customer who never wrote.
	EntryPoint string `json:"entry_point,omitempty"`
	// ClientRef makes the request idempotent: a second request with the same
	// ref returns the first message (outbound.v1 uses the command id).
	ClientRef string `json:"-"`
}

// Outbound is one outbound message: what the dispatch queue row stores and what a
// provider's sender sends (outbox.Send is this type).
type Outbound struct {
	// MessageID is the gateway's id; senders use it as the idempotency key
	// where the provider has one.
	MessageID string `json:"message_id"`
	Channel   string `json:"channel"`
	// Provider names the Sender that sends it.
	Provider string `json:"provider"`
	// From is the business address the customer wrote to (or the configured
	// sender); To is the customer's address on the channel.
	From normalize.Party `json:"from"`
	To   normalize.Party `json:"to"`
	Text string          `json:"text,omitempty"`
	// Email only.
	Subject string            `json:"subject,omitempty"`
	HTML    string            `json:"html,omitempty"`
	Thread  *normalize.Thread `json:"thread,omitempty"`
	// Attachments are sent by URL.
	Attachments []normalize.Attachment `json:"attachments,omitempty"`
	Template    *normalize.Template    `json:"template,omitempty"`
	// Messenger/Instagram: messaging_type (RESPONSE, UPDATE, MESSAGE_TAG) and tag.
	MessagingType string `json:"messaging_type,omitempty"`
	Tag           string `json:"tag,omitempty"`
	// StatusCallback is where the provider reports delivery (Twilio); it is
	// never stored.
	StatusCallback string `json:"-"`
}

// Channel limits on text length, in characters.
var maxText = map[string]int{
	normalize.ChannelSMS: 1600, normalize.ChannelMMS: 1600, normalize.ChannelWhatsApp: 4096,
	normalize.ChannelMessenger: 2000, normalize.ChannelInstagram: 1000, normalize.ChannelChat: 10000,
	normalize.ChannelEmail: 1 << 20,
}

// windowChannels are the channels where the business may answer freely only
// within 24 hours of the customer's last message.
var windowChannels = map[string]bool{normalize.ChannelWhatsApp: true, normalize.ChannelMessenger: true, normalize.ChannelInstagram: true}

// ServiceWindow is the customer-service window of WhatsApp, Messenger and Instagram.
const ServiceWindow = 24 * time.Hour

// Reply checks the channel rules and queues a reply: the message, its
// dispatch queue row and message.queued are written in one transaction.
func (s *Service) Reply(ctx context.Context, conversationID string, r ReplyRequest, by Actor) (StoredMessage, error) {
	if err := checkReply(r); err != nil {
		return StoredMessage{}, err
	}
	var out StoredMessage
	_, err := s.withConversation(ctx, conversationID, func(tx Tx, c *Conversation) error {
		var err error
		out, err = s.reply(ctx, tx, c, r, by)
		return err
	})
	return out, err
}

func checkReply(r ReplyRequest) error {
	if r.EntryPoint != "" {
		if err := CheckEntryPoint(r.EntryPoint); err != nil {
			return err
		}
	}
	if strings.TrimSpace(r.Text) == "" && len(r.Attachments) == 0 && r.Template == nil {
		return Errorf(EINVALID, "text, attachments or template is required")
	}
	for _, a := range r.Attachments {
		if a.URL == "" {
			return Errorf(EINVALID, "every attachment needs a url")
		}
	}
	return nil
}

// reply queues a reply in the caller's transaction, the customer locked.
func (s *Service) reply(ctx context.Context, tx Tx, c *Conversation, r ReplyRequest, by Actor) (StoredMessage, error) {
	var out StoredMessage
	if r.ClientRef != "" {
		if prior, ok, err := tx.Dispatch.QueuedByClientRef(ctx, r.ClientRef); err != nil || ok {
			return prior, err
		}
	}
	if c.Status == StatusClosed {
		return out, Errorf(ECONFLICT, "conversation is closed: reopen it or open a new one first")
	}
	atts, err := s.replyAttachments(ctx, tx, c.CustomerID, r.Attachments)
	if err != nil {
		return out, err
	}
	r.Attachments = atts
	ob, err := s.route(ctx, tx, c, r)
	if err != nil {
		return out, err
	}
	if err := s.senderOn(ob.Channel, ob.Provider); err != nil {
		return out, err
	}
	now := tx.Now()
	ob.MessageID = normalize.NewID()
	msg := normalize.Message{MessageID: ob.MessageID, Channel: ob.Channel, Provider: ob.Provider, Direction: normalize.Outbound,
		From: ob.From, To: ob.To, Text: ob.Text, Subject: ob.Subject, HTML: ob.HTML, Thread: ob.Thread,
		Attachments: ob.Attachments, ReceivedAt: now}
	if r.Template != nil {
		msg.Extra = map[string]any{"template": r.Template}
	}
	out = StoredMessage{ID: ob.MessageID, ConversationID: c.ID, CustomerID: c.CustomerID, Kind: KindMessage,
		Direction: normalize.Outbound, Channel: ob.Channel, Status: normalize.StatusQueued, Author: string(by),
		Text: ob.Text, Message: msg, CreatedAt: now}
	if _, err := tx.Message.InsertMessage(ctx, out); err != nil {
		return out, err
	}
	payload, err := json.Marshal(ob)
	if err != nil {
		return out, fmt.Errorf("core: encode outbound: %w", err)
	}
	if err := tx.Dispatch.Enqueue(ctx, DispatchJob{MessageID: ob.MessageID, ConversationID: c.ID, Channel: ob.Channel,
		ClientRef: r.ClientRef, Payload: payload, CreatedAt: now}); err != nil {
		return out, err
	}
	c.MessageCount++
	c.LastActivityAt, c.UpdatedAt = now, now
	if by.human() {
		s.answered(c, now)
		// The writer has read what they answered.
		if err := tx.Reads.MarkRead(ctx, c.ID, by.agentName(), now); err != nil {
			return out, err
		}
	}
	if err := tx.Conversations.UpdateConversation(ctx, *c); err != nil {
		return out, err
	}
	if err := s.emit(ctx, tx, normalize.TypeMessageQueued, EventData{CustomerID: c.CustomerID, ConversationID: c.ID, EntryPoint: c.EntryPoint,
		Channel: ob.Channel, MessageID: ob.MessageID, Status: normalize.StatusQueued, Actor: string(by), Message: &msg}); err != nil {
		return out, err
	}
	return out, s.noteContact(ctx, tx, nil, c, ob.Channel, string(by))
}

// answered records a human reply at t: it answers everything the customer
// wrote so far, and the first one sets the first response time. Replies by
// bots and auto-responders do neither (Converso: those messages still need
// a human's follow-up).
func (s *Service) answered(c *Conversation, t time.Time) {
	c.Unreplied = 0
	if c.FirstResponseSeconds == nil && c.FirstInboundAt != nil {
		d := max(t.Sub(*c.FirstInboundAt).Seconds(), 0)
		c.FirstResponseSeconds = &d
		s.metrics.FirstResponse(d)
	}
}

// replyAttachments checks the attachments of an operator's reply. The
// gateway fetches none of them (the provider does) and records none as a
// stored file of the customer. A gateway media link must be one of this
// customer's own files, and is signed afresh so that the provider can fetch
// it; any other URL must be on a host of GATEWAY_MEDIA_ALLOWED_HOSTS.
// Anything else is refused (422). Only the URL, content type, file name and
// size given are kept.
func (s *Service) replyAttachments(ctx context.Context, tx Tx, customerID string, in []normalize.Attachment) ([]normalize.Attachment, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if s.media == nil {
		return nil, Errorf(EUNPROCESSABLE, "attachments need the media store")
	}
	var files map[string]bool
	out := make([]normalize.Attachment, len(in))
	for i, a := range in {
		out[i] = normalize.Attachment{URL: a.URL, ContentType: a.ContentType, Filename: a.Filename, Size: a.Size}
		key, ours := s.media.Key(a.URL)
		switch {
		case ours:
			if files == nil {
				var err error
				if files, err = s.customerFiles(ctx, tx, customerID); err != nil {
					return nil, err
				}
			}
			if !files[key] {
				return nil, Errorf(EUNPROCESSABLE, "attachment %d is a gateway media link that is not one of this customer's files", i+1)
			}
			out[i].URL = s.media.SignedURL(key)
		case !s.media.AllowsLink(a.URL):
			return nil, Errorf(EUNPROCESSABLE, "attachment %d: only this customer's media links, or URLs on the hosts of GATEWAY_MEDIA_ALLOWED_HOSTS, may be attached", i+1)
		}
	}
	return out, nil
}

// route chooses channel, addresses and provider of a reply and checks the
// channel's rules: the channel the customer last wrote on unless one is
// given, to the address they used, from the business address they wrote to.
func (s *Service) route(ctx context.Context, tx Tx, c *Conversation, r ReplyRequest) (Outbound, error) {
	channel := r.Channel
	if channel == "" {
		channel = c.Channel
	}
	if channel == "" {
		return Outbound{}, Errorf(EUNPROCESSABLE, "the customer has not written yet: name the channel")
	}
	// A call is answered by SMS, from the number the customer called.
	answersCall := channel == normalize.ChannelVoice
	if answersCall {
		channel = normalize.ChannelSMS
	}
	limit, known := maxText[channel]
	if !known {
		return Outbound{}, Errorf(EINVALID, "unknown channel %q", channel)
	}
	if n := utf8.RuneCountInString(r.Text); n > limit {
		return Outbound{}, Errorf(EUNPROCESSABLE, "text is %d characters; %s allows %d", n, channel, limit)
	}
	ob := Outbound{Channel: channel, Text: r.Text, Attachments: r.Attachments, Template: r.Template, Tag: r.Tag, HTML: r.HTML}
	last, wrote, err := s.lastInbound(ctx, tx, c, channel, answersCall)
	if err != nil {
		return Outbound{}, err
	}
	if wrote {
		ob.To, ob.From, ob.Provider = last.Message.From, last.Message.To, last.Message.Provider
	} else if ob.To, ob.From, ob.Provider, err = s.firstAddress(ctx, tx, c, channel, r.EntryPoint); err != nil {
		return Outbound{}, err
	}
	if wrote && r.EntryPoint != "" {
		if ob.From, ob.Provider, err = s.entryPointFrom(r.EntryPoint, channel); err != nil {
			return Outbound{}, err
		}
	}
	if err := checkWindow(&ob, r, wrote && tx.Now().Sub(last.Message.ReceivedAt) < ServiceWindow, wrote); err != nil {
		return Outbound{}, err
	}
	if channel == normalize.ChannelEmail {
		ob.Subject = r.Subject
		if wrote {
			if ob.Subject == "" {
				ob.Subject = replySubject(last.Message.Subject)
			}
			if t := last.Message.Thread; t != nil && t.MessageID != "" {
				refs := append(append([]string{}, t.References...), t.MessageID)
				ob.Thread = &normalize.Thread{InReplyTo: t.MessageID, References: refs}
			}
		}
		if ob.Subject == "" {
			return Outbound{}, Errorf(EINVALID, "subject is required for a new email")
		}
	}
	return ob, nil
}

// firstAddress is where a message to a customer who has not written on
// channel goes: their identity of the channel's kind, from the entry point
// named (entryPoint) or else the channel's configured sender.
func (s *Service) firstAddress(ctx context.Context, tx Tx, c *Conversation, channel, entryPoint string) (to, from normalize.Party, provider string, err error) {
	cust, _, err := tx.Customers.CustomerByID(ctx, c.CustomerID)
	if err != nil {
		return to, from, "", err
	}
	kind := normalize.KindOf(channel)
	for _, id := range cust.Identities {
		if id.Kind == kind {
			to = normalize.Party{Kind: id.Kind, Address: id.Address}
			break
		}
	}
	if to.Address == "" {
		return to, from, "", Errorf(EUNPROCESSABLE, "the customer has never used %s", channel)
	}
	if entryPoint != "" {
		from, provider, err = s.entryPointFrom(entryPoint, channel)
		return to, from, provider, err
	}
	sender, ok := s.policy.Senders[channel]
	if !ok {
		return to, from, "", Errorf(EUNPROCESSABLE, "no sender is configured for %s", channel)
	}
	return to, sender.Party, sender.Provider, nil
}

// checkWindow applies the 24-hour rule of Meta's channels to ob: inside the
// window (open) a response; outside, a WhatsApp template or a Messenger
// message tag, or an error naming what to send. wrote says whether the
// customer ever wrote on the channel.
func checkWindow(ob *Outbound, r ReplyRequest, open, wrote bool) error {
	channel := ob.Channel
	if windowChannels[channel] {
		switch {
		case open:
			ob.MessagingType = "RESPONSE"
		case channel == normalize.ChannelWhatsApp && r.Template != nil:
		case channel != normalize.ChannelWhatsApp && r.Tag != "":
			ob.MessagingType = "MESSAGE_TAG"
		case channel == normalize.ChannelWhatsApp && !wrote:
			return Errorf(ETEMPLATEREQUIRED, "the customer has not written on WhatsApp: a first message must be a template")
		case channel == normalize.ChannelWhatsApp:
			return Errorf(ETEMPLATEREQUIRED, "the 24-hour WhatsApp window is closed: send a template")
		default:
			return Errorf(EUNPROCESSABLE, "the 24-hour %s window is closed: send with a message tag", channel)
		}
	} else if r.Template != nil && ob.Provider != "twilio" {
		return Errorf(EUNPROCESSABLE, "templates are for WhatsApp (and Twilio Content SIDs)")
	}
	return nil
}

// lastInbound returns the customer's message a reply on channel answers. For
// a call (answersCall) it is their last call; an SMS to a customer who only
// called answers their last call. Otherwise it is their last message on
// channel in the conversation; on a 24-hour-window channel, their last one
// from that address in any conversation if it is later (the window is the
// provider's, whichever conversation the message joined), or their last one
// on the channel anywhere when they never wrote on it here.
func (s *Service) lastInbound(ctx context.Context, tx Tx, c *Conversation, channel string, answersCall bool) (StoredMessage, bool, error) {
	if answersCall {
		return lastCall(ctx, tx, c.ID)
	}
	last, wrote, err := tx.Message.LastInbound(ctx, c.ID, channel)
	if err != nil {
		return last, wrote, err
	}
	if !wrote && channel == normalize.ChannelSMS {
		if call, ok, err := lastCall(ctx, tx, c.ID); err != nil || ok {
			return call, ok, err
		}
	}
	if !windowChannels[channel] {
		return last, wrote, nil
	}
	latest, ok, err := tx.Message.CustomerLastInbound(ctx, c.CustomerID, channel)
	if err != nil || !ok {
		return last, wrote, err
	}
	if !wrote || (latest.Message.From.Address == last.Message.From.Address && latest.CreatedAt.After(last.CreatedAt)) {
		return latest, true, nil
	}
	return last, true, nil
}

// lastCall returns the customer's last call in a conversation, if it came
// through Twilio (only Twilio's numbers are known to take SMS).
func lastCall(ctx context.Context, tx Tx, conversationID string) (StoredMessage, bool, error) {
	last, ok, err := tx.Message.LastInbound(ctx, conversationID, normalize.ChannelVoice)
	if ok && last.Message.Provider != "twilio" {
		ok = false
	}
	return last, ok, err
}

func replySubject(s string) string {
	if s == "" {
		return ""
	}
	if len(s) >= 3 && strings.EqualFold(s[:3], "re:") {
		return s
	}
	return "Re: " + s
}

// entryPointFrom is the business address and provider a message on channel
// leaves from at the entry point id (Policy.EntryPointSenders).
func (s *Service) entryPointFrom(id, channel string) (normalize.Party, string, error) {
	ep, ok := s.policy.EntryPointSenders[id]
	if !ok {
		return normalize.Party{}, "", Errorf(EUNPROCESSABLE, "entry point %q does not send messages: it is not in GATEWAY_ENTRY_POINTS, or it is a domain, a chat site or voice", id)
	}
	if !slices.Contains(ep.Channels, channel) {
		return normalize.Party{}, "", Errorf(EUNPROCESSABLE, "entry point %q sends on %s, not %s", id, strings.Join(ep.Channels, ", "), channel)
	}
	return ep.Party, ep.Provider, nil
}

// EntryPointSender is what an entry point sends from: its business address,
// on its channels, through its provider's sender (which picks the entry
// point's credentials by the address).
type EntryPointSender struct {
	BusinessAddress
	Channels []string
}

// BusinessAddress is the configured address of a channel for messages to a
// customer who never wrote on it.
type BusinessAddress struct {
	Party    normalize.Party
	Provider string
}
