package kafkabus

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// decoder decodes a command's data and checks what the operator API checks
// before the service does (a required field, an id no record can have); it
// returns the service call the command means, the one the API's route of
// the same action (core.Actions) makes.
type decoder func(s Core, cmd command, by core.Actor) (func(context.Context) error, error)

// decoders has one decoder for every operator action of core.Actions.
var decoders = map[string]decoder{
	normalize.CommandConversationOpen:          openConversation,
	normalize.CommandConversationAssign:        assign,
	normalize.CommandConversationUnassign:      unassign,
	normalize.CommandConversationSetStatus:     setStatus,
	normalize.CommandConversationSetTopics:     setTopics,
	normalize.CommandConversationSetVisibility: setVisibility,
	normalize.CommandConversationMarkRead:      markRead,
	normalize.CommandConversationHandover:      handover,
	normalize.CommandContactEnd:                endContact,
	normalize.CommandNoteAdd:                   addNote,
	normalize.CommandMessageSend:               sendMessage,
	normalize.CommandMessageRetry:              retryMessage,
	normalize.CommandConversationDelete:        deleteConversation,
	normalize.CommandCustomerCreate:            customerAction,
	normalize.CommandCustomerUpdate:            customerAction,
	normalize.CommandCustomerAddIdentity:       customerAction,
	normalize.CommandCustomerRemoveIdentity:    customerAction,
	normalize.CommandCustomerSetPresets:        setPresets,
	normalize.CommandCustomerMerge:             merge,
	normalize.CommandCustomerErase:             eraseCustomer,
}

// action returns the service call a command means.
func (c *CommandConsumer) action(cmd command, by core.Actor) (func(context.Context) error, error) {
	if cmd.Type == "" {
		return nil, core.Errorf(core.EINVALID, "type is required")
	}
	dec, ok := decoders[cmd.Type]
	if !ok {
		return nil, core.Errorf(core.EINVALID, "type %q is not a command (%s)", clipID(cmd.Type), strings.Join(normalize.CommandTypes, ", "))
	}
	return dec(c.svc, cmd, by)
}

func openConversation(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		CustomerID string              `json:"customer_id"`
		Channel    string              `json:"channel"`
		Text       *string             `json:"text"`
		Template   *normalize.Template `json:"template"`
		Subject    string              `json:"subject"`
	}
	if err := decodeCustomer(cmd.Data, &d, &d.CustomerID); err != nil {
		return nil, err
	}
	if d.Channel != "" && !channels[d.Channel] {
		return nil, core.Errorf(core.EINVALID, "channel must be one of sms, mms, whatsapp, messenger, instagram, email, chat")
	}
	first := core.FirstMessage(d.Text, d.Template, d.Subject)
	if first != nil {
		first.ClientRef = "commands:" + cmd.ID
	}
	return func(ctx context.Context) error {
		f := first
		if f != nil {
			cp := *first
			f = &cp
		}
		_, _, err := s.Conversations.OpenConversation(ctx, d.CustomerID, d.Channel, f, by)
		return err
	}, nil
}

func assign(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string `json:"conversation_id"`
		Agent          string `json:"agent"`
		Inbox          string `json:"inbox"`
	}
	if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	if d.Agent == "" {
		return nil, core.Errorf(core.EINVALID, "agent is required")
	}
	if err := core.CheckName("agent", d.Agent); err != nil {
		return nil, err
	}
	if err := core.CheckName("inbox", d.Inbox); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		_, err := s.Conversations.Assign(ctx, d.ConversationID, d.Agent, d.Inbox, by)
		return err
	}, nil
}

func unassign(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string `json:"conversation_id"`
		Agent          string `json:"agent"`
	}
	if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	if err := core.CheckName("agent", d.Agent); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		_, err := s.Conversations.UnassignAgent(ctx, d.ConversationID, d.Agent, by)
		return err
	}, nil
}

func setStatus(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string `json:"conversation_id"`
		Status         string `json:"status"`
		Reason         string `json:"reason"`
	}
	if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	switch d.Status {
	case core.StatusWaiting, core.StatusClosed, core.StatusOpen:
	case "":
		return nil, core.Errorf(core.EINVALID, "status is required")
	default:
		return nil, core.Errorf(core.EINVALID, "status must be waiting, closed or open")
	}
	if err := core.CheckName("reason", d.Reason); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		_, err := s.Conversations.SetStatus(ctx, d.ConversationID, d.Status, d.Reason, by)
		return err
	}, nil
}

func setTopics(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string    `json:"conversation_id"`
		Topics         *[]string `json:"topics"`
	}
	if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	if d.Topics == nil {
		return nil, core.Errorf(core.EINVALID, "topics is required ([] clears them)")
	}
	return func(ctx context.Context) error {
		_, err := s.Agents.SetTopics(ctx, d.ConversationID, *d.Topics, by)
		return err
	}, nil
}

// setVisibility decodes conversation.set_visibility {conversation_id,
// visible_to}, as PUT /v1/conversations/{id}/visibility.
func setVisibility(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string    `json:"conversation_id"`
		VisibleTo      *[]string `json:"visible_to"`
	}
	if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	if d.VisibleTo == nil {
		return nil, core.Errorf(core.EINVALID, "visible_to is required ([] makes the conversation visible to everyone)")
	}
	return func(ctx context.Context) error {
		_, err := s.Conversations.SetVisibility(ctx, d.ConversationID, *d.VisibleTo, by)
		return err
	}, nil
}

// markRead decodes conversation.mark_read {conversation_id, agent?}: the
// agent's read mark moves to now, as POST /v1/conversations/{id}/read
// with a bot token and X-Agent; without agent, the bot's own mark (as the
// bot's named token without X-Agent).
func markRead(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string `json:"conversation_id"`
		Agent          string `json:"agent"`
	}
	if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	if d.Agent == "" {
		d.Agent = strings.TrimPrefix(string(by), core.ActorBot+":")
	}
	return func(ctx context.Context) error {
		_, err := s.Agents.MarkRead(ctx, d.ConversationID, d.Agent)
		return err
	}, nil
}

// endContact decodes contact.end {conversation_id, contact_id}, as POST
// /v1/conversations/{id}/contacts/{contact_id}/end.
func endContact(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string `json:"conversation_id"`
		ContactID      string `json:"contact_id"`
	}
	if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	switch {
	case d.ContactID == "":
		return nil, core.Errorf(core.EINVALID, "contact_id is required")
	case !validID(d.ContactID):
		return nil, core.Errorf(core.ENOTFOUND, "contact not found")
	}
	return func(ctx context.Context) error {
		_, err := s.Conversations.EndContact(ctx, d.ConversationID, d.ContactID, by)
		return err
	}, nil
}

func addNote(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string `json:"conversation_id"`
		Text           string `json:"text"`
	}
	if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(d.Text) == "" {
		return nil, core.Errorf(core.EINVALID, "text is required")
	}
	if len(d.Text) > maxNote || strings.ContainsRune(d.Text, 0) {
		return nil, core.Errorf(core.EINVALID, "text must be at most %d bytes, without NUL characters", maxNote)
	}
	return func(ctx context.Context) error {
		_, err := s.Conversations.AddNote(ctx, d.ConversationID, d.Text, by)
		return err
	}, nil
}

func sendMessage(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string `json:"conversation_id"`
		core.ReplyRequest
	}
	if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	req := d.ReplyRequest
	req.ClientRef = "commands:" + cmd.ID
	return func(ctx context.Context) error {
		_, err := s.Conversations.Reply(ctx, d.ConversationID, req, by)
		return err
	}, nil
}

// retryMessage decodes message.retry {message_id}, as POST
// /v1/messages/{id}/retry.
func retryMessage(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		MessageID string `json:"message_id"`
	}
	if err := decodeData(cmd.Data, &d); err != nil {
		return nil, err
	}
	switch {
	case d.MessageID == "":
		return nil, core.Errorf(core.EINVALID, "message_id is required")
	case !validID(d.MessageID):
		return nil, core.Errorf(core.ENOTFOUND, "message %q not found", clipID(d.MessageID))
	}
	return func(ctx context.Context) error { _, err := s.Replies.RetryMessage(ctx, d.MessageID, by); return err }, nil
}

func deleteConversation(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string `json:"conversation_id"`
	}
	if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return s.Conversations.DeleteConversation(ctx, d.ConversationID, by) }, nil
}

// setPresets decodes customer.set_presets {customer_id, assignees?,
// inbox?, visible_to?}, as PUT /v1/customers/{id}/presets: it replaces
// them all.
func setPresets(s Core, cmd command, _ core.Actor) (func(context.Context) error, error) {
	var d struct {
		CustomerID string   `json:"customer_id"`
		Assignees  []string `json:"assignees"`
		Inbox      string   `json:"inbox"`
		VisibleTo  []string `json:"visible_to"`
	}
	if err := decodeCustomer(cmd.Data, &d, &d.CustomerID); err != nil {
		return nil, err
	}
	p := core.Presets{Assignees: d.Assignees, Inbox: d.Inbox, VisibleTo: d.VisibleTo}
	return func(ctx context.Context) error { _, err := s.Agents.SetPresets(ctx, d.CustomerID, p); return err }, nil
}

func merge(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		CustomerID string `json:"customer_id"`
		From       string `json:"from"`
	}
	if err := decodeData(cmd.Data, &d); err != nil {
		return nil, err
	}
	switch {
	case d.CustomerID == "":
		return nil, core.Errorf(core.EINVALID, "customer_id is required")
	case d.From == "":
		return nil, core.Errorf(core.EINVALID, "from is required")
	case !validID(d.CustomerID):
		return nil, core.Errorf(core.ENOTFOUND, "customer %q not found", clipID(d.CustomerID))
	case !validID(d.From):
		return nil, core.Errorf(core.ENOTFOUND, "customer %q not found", clipID(d.From))
	}
	return func(ctx context.Context) error {
		_, err := s.Customers.Merge(ctx, d.CustomerID, d.From, by)
		return err
	}, nil
}

func eraseCustomer(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		CustomerID string `json:"customer_id"`
	}
	if err := decodeData(cmd.Data, &d); err != nil {
		return nil, err
	}
	if !validID(d.CustomerID) {
		return nil, core.Errorf(core.ENOTFOUND, "customer %q not found", clipID(d.CustomerID))
	}
	return func(ctx context.Context) error { return s.Customers.EraseCustomer(ctx, d.CustomerID, by) }, nil
}

// customerAction decodes a command that creates or changes a customer; the
// service checks it as it checks the operator API's requests.
func customerAction(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	if cmd.Type == normalize.CommandCustomerCreate {
		var d core.NewCustomer
		if err := decodeData(cmd.Data, &d); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { _, err := s.Customers.CreateCustomer(ctx, d, by); return err }, nil
	}
	var d struct {
		CustomerID string `json:"customer_id"`
		core.CustomerChange
		core.Identity
	}
	if err := decodeCustomer(cmd.Data, &d, &d.CustomerID); err != nil {
		return nil, err
	}
	change := cmd.Type == normalize.CommandCustomerUpdate
	if change && d.Identity != (core.Identity{}) || !change && (d.Name != nil || d.Attributes != nil) {
		return nil, core.Errorf(core.EINVALID, "%s takes customer_id and %s", cmd.Type,
			map[bool]string{true: "name or attributes", false: "kind and address"}[change])
	}
	return func(ctx context.Context) error {
		var err error
		switch cmd.Type {
		case normalize.CommandCustomerUpdate:
			_, err = s.Customers.UpdateCustomer(ctx, d.CustomerID, d.CustomerChange, by)
		case normalize.CommandCustomerAddIdentity:
			_, err = s.Customers.AddIdentity(ctx, d.CustomerID, d.Identity, by)
		default:
			_, err = s.Customers.RemoveIdentity(ctx, d.CustomerID, d.Identity, by)
		}
		return err
	}, nil
}

// handover decodes conversation.handover {conversation_id, to}.
func handover(s Core, cmd command, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string `json:"conversation_id"`
		To             string `json:"to"`
	}
	if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	if d.To == "" {
		return nil, core.Errorf(core.EINVALID, "to is required")
	}
	return func(ctx context.Context) error {
		_, err := s.Conversations.Handover(ctx, d.ConversationID, d.To, by)
		return err
	}, nil
}

// Rules the operator API applies to requests, applied to commands alike.
const maxNote = 64 << 10

var channels = map[string]bool{
	normalize.ChannelSMS: true, normalize.ChannelMMS: true, normalize.ChannelWhatsApp: true, normalize.ChannelMessenger: true,
	normalize.ChannelInstagram: true, normalize.ChannelEmail: true, normalize.ChannelChat: true,
}

// decodeData decodes a command's data, a JSON object without unknown fields.
func decodeData(raw json.RawMessage, v any) error {
	body := bytes.TrimSpace(raw)
	if len(body) == 0 || body[0] != '{' {
		return core.Errorf(core.EINVALID, "data must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return core.Errorf(core.EINVALID, "invalid data: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return core.Errorf(core.EINVALID, "invalid data: data after the object")
	}
	return nil
}

// decodeConversation decodes data naming a conversation: an id no
// conversation can have is not found, as in the operator API's paths.
func decodeConversation(raw json.RawMessage, v any, id *string) error {
	if err := decodeData(raw, v); err != nil {
		return err
	}
	if *id == "" {
		return core.Errorf(core.EINVALID, "conversation_id is required")
	}
	if !validID(*id) {
		return core.Errorf(core.ENOTFOUND, "conversation %q not found", clipID(*id))
	}
	return nil
}

// decodeCustomer decodes data naming a customer, as decodeConversation.
func decodeCustomer(raw json.RawMessage, v any, id *string) error {
	if err := decodeData(raw, v); err != nil {
		return err
	}
	if *id == "" {
		return core.Errorf(core.EINVALID, "customer_id is required")
	}
	if !validID(*id) {
		return core.Errorf(core.ENOTFOUND, "customer %q not found", clipID(*id))
	}
	return nil
}

// validID accepts what a gateway id can look like.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func clipID(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}
