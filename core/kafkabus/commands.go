package kafkabus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/retry"
	"github.com/opengateway/gateway/normalize"
)

// CommandRecorder records in a transaction that a command was handled;
// false when it was recorded already. The sqlstore transaction implements it.
type CommandRecorder interface {
	RecordCommand(ctx context.Context, id, typ, result string) (bool, error)
}

// Results of a recorded command.
const (
	commandDone   = "done"
	commandFailed = "failed"
)

// errApplied says a command's id was recorded already: a redelivery.
var errApplied = errors.New("command handled already")

// commandKey carries the command whose work a transaction does.
type commandKey struct{}

type commandRef struct{ id, typ string }

// commandStore records the id of the command in ctx in every transaction
// of the command's work: the record and the work commit together, and a
// redelivered command finds the record and rolls back (errApplied).
type commandStore struct{ core.Store }

func (s commandStore) InTx(ctx context.Context, fn func(core.Tx) error) error {
	cmd, ok := ctx.Value(commandKey{}).(commandRef)
	if !ok {
		return s.Store.InTx(ctx, fn)
	}
	return s.Store.InTx(ctx, func(tx core.Tx) error {
		r, ok := tx.(CommandRecorder)
		if !ok {
			return errors.New("kafkabus: the store cannot record commands")
		}
		fresh, err := r.RecordCommand(ctx, cmd.id, cmd.typ, commandDone)
		if err != nil {
			return err
		}
		if !fresh {
			return errApplied
		}
		return fn(tx)
	})
}

// CommandConsumer applies the commands of gateway.commands.v1: every
// operator action, as a CloudEvent from a bot. Each command calls the
// core.Service method the operator API calls, with the same rules and
// errors, as the actor "bot:<name>" its source names (normalize.BotName).
// The event id is the idempotency key: it is recorded in the transaction
// of the command's work, so a redelivered command never acts twice. A
// refused command goes to the dead-letter topic with the reason and emits
// command.failed on events.v1. An admin-only action (core.AdminOnly) is
// applied only from the bots SetAdminBots names and refused as forbidden
// from any other. Offsets are committed only after the database commits.
type CommandConsumer struct {
	svc    *core.Service
	admins map[string]bool
	store  core.Store
	src    Source
	dlq    DeadLetters
	events string
	log    *slog.Logger
	wake   func()
}

// NewCommandConsumer returns the gateway.commands.v1 consumer. events is the
// topic of command.failed; wake is called after command.failed events are
// written (the relay's Wake). Call it after svc.OnEvents and svc.SetMedia.
func NewCommandConsumer(svc *core.Service, src Source, dlq DeadLetters, events string, log *slog.Logger, wake func()) *CommandConsumer {
	st := commandStore{Store: svc.Store()}
	return &CommandConsumer{svc: svc.WithStore(st), store: svc.Store(), src: src, dlq: dlq, events: events, log: log, wake: wake}
}

// SetAdminBots names the bots whose commands may take admin-only actions
// (GATEWAY_COMMAND_ADMIN_BOTS); by default none may. Call it before Run.
func (c *CommandConsumer) SetAdminBots(names []string) {
	c.admins = make(map[string]bool, len(names))
	for _, n := range names {
		c.admins[n] = true
	}
}

// Run consumes until ctx ends. A batch cut short by ctx is not committed:
// it is redelivered, and its commands are idempotent.
func (c *CommandConsumer) Run(ctx context.Context) error {
	for {
		batch, err := c.src.FetchBatch(ctx, 100)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Error("commands: fetch", "error", err)
			if !retry.Sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		for _, m := range batch {
			if err := c.apply(ctx, m); err != nil {
				return nil // ctx ended
			}
		}
		commit := func() error { return c.src.Commit(context.WithoutCancel(ctx), batch...) }
		if err := retry.Do(ctx, commitPolicy, commit); err != nil {
			return nil
		}
	}
}

// commitPolicy retries Kafka commits and dead letters every second until
// they pass or ctx ends.
var commitPolicy = retry.Policy{Base: time.Second, Max: time.Second}

// command is a decoded record of gateway.commands.v1.
type command struct {
	ID     string          `json:"id"`
	Source string          `json:"source"`
	Type   string          `json:"type"`
	Data   json.RawMessage `json:"data"`
}

// apply handles one record; it returns an error only when ctx ended.
func (c *CommandConsumer) apply(ctx context.Context, m kafka.Message) error {
	var cmd command
	if err := json.Unmarshal(m.Value, &cmd); err != nil || cmd.ID == "" {
		if err == nil {
			err = errors.New("id is required")
		}
		return c.dead(ctx, m, "undecodable", fmt.Errorf("%w: %v", normalize.ErrEvent, err))
	}
	bot, err := normalize.BotName(cmd.Source)
	if err != nil {
		return c.refuse(ctx, m, cmd, core.Errorf(core.EINVALID, "%s", err.Error()))
	}
	// As the operator API checks a token's role before the request.
	if core.AdminOnly(cmd.Type) && !c.admins[bot] {
		return c.refuse(ctx, m, cmd, core.Errorf(core.EFORBIDDEN,
			"%s is admin-only: bot %q is not in GATEWAY_COMMAND_ADMIN_BOTS", cmd.Type, bot))
	}
	act, err := c.action(cmd, core.BotActor(bot))
	if err != nil {
		return c.refuse(ctx, m, cmd, err)
	}
	work := context.WithValue(ctx, commandKey{}, commandRef{id: cmd.ID, typ: cmd.Type})
	transient := retry.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second,
		Retryable: func(err error) bool { return errors.Is(err, core.ErrTransient) },
		OnRetry: func(err error, _ time.Duration) {
			c.log.Warn("commands: command will be retried", "command_id", cmd.ID, "error", err)
		}}
	err = retry.Do(ctx, transient, func() error { return act(work) })
	switch {
	case err == nil, errors.Is(err, errApplied):
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return c.refuse(ctx, m, cmd, err)
	}
}

// action decodes a command's data and checks it as the operator API checks
// a request; it returns the service call the command means.
func (c *CommandConsumer) action(cmd command, by core.Actor) (func(context.Context) error, error) {
	s := c.svc
	switch cmd.Type {
	case normalize.CommandConversationOpen:
		var d struct {
			CustomerID string              `json:"customer_id"`
			Channel    string              `json:"channel"`
			Text       *string             `json:"text"`
			Template   *normalize.Template `json:"template"`
			Subject    string              `json:"subject"`
		}
		if err := decodeData(cmd.Data, &d); err != nil {
			return nil, err
		}
		if d.CustomerID == "" {
			return nil, core.Errorf(core.EINVALID, "customer_id is required")
		}
		if !validID(d.CustomerID) {
			return nil, core.Errorf(core.ENOTFOUND, "customer %q not found", clipID(d.CustomerID))
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
			_, _, err := s.OpenConversation(ctx, d.CustomerID, d.Channel, f, by)
			return err
		}, nil
	case normalize.CommandConversationAssign:
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
		if err := checkName("agent", d.Agent); err != nil {
			return nil, err
		}
		if err := checkName("inbox", d.Inbox); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			_, err := s.Assign(ctx, d.ConversationID, d.Agent, d.Inbox, by)
			return err
		}, nil
	case normalize.CommandConversationUnassign:
		var d struct {
			ConversationID string `json:"conversation_id"`
			Agent          string `json:"agent"`
		}
		if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
			return nil, err
		}
		if err := checkName("agent", d.Agent); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			_, err := s.UnassignAgent(ctx, d.ConversationID, d.Agent, by)
			return err
		}, nil
	case normalize.CommandConversationSetStatus:
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
		if err := checkName("reason", d.Reason); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			_, err := s.SetStatus(ctx, d.ConversationID, d.Status, d.Reason, by)
			return err
		}, nil
	case normalize.CommandConversationSetTopics:
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
			_, err := s.SetTopics(ctx, d.ConversationID, *d.Topics, by)
			return err
		}, nil
	case normalize.CommandNoteAdd:
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
		return func(ctx context.Context) error { _, err := s.AddNote(ctx, d.ConversationID, d.Text, by); return err }, nil
	case normalize.CommandMessageSend:
		var d struct {
			ConversationID string `json:"conversation_id"`
			core.ReplyRequest
		}
		if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
			return nil, err
		}
		req := d.ReplyRequest
		req.ClientRef = "commands:" + cmd.ID
		return func(ctx context.Context) error { _, err := s.Reply(ctx, d.ConversationID, req, by); return err }, nil
	case normalize.CommandCustomerMerge:
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
		return func(ctx context.Context) error { _, err := s.Merge(ctx, d.CustomerID, d.From, by); return err }, nil
	case normalize.CommandCustomerCreate, normalize.CommandCustomerUpdate, normalize.CommandCustomerAddIdentity,
		normalize.CommandCustomerRemoveIdentity:
		return customerAction(s, cmd, by)
	case normalize.CommandConversationDelete:
		var d struct {
			ConversationID string `json:"conversation_id"`
		}
		if err := decodeConversation(cmd.Data, &d, &d.ConversationID); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return s.DeleteConversation(ctx, d.ConversationID, by) }, nil
	case normalize.CommandCustomerErase:
		var d struct {
			CustomerID string `json:"customer_id"`
		}
		if err := decodeData(cmd.Data, &d); err != nil {
			return nil, err
		}
		if !validID(d.CustomerID) {
			return nil, core.Errorf(core.ENOTFOUND, "customer %q not found", clipID(d.CustomerID))
		}
		return func(ctx context.Context) error { return s.EraseCustomer(ctx, d.CustomerID, by) }, nil
	case normalize.CommandConversationHandover:
		return handover(s, cmd.Data, by)
	case "":
		return nil, core.Errorf(core.EINVALID, "type is required")
	}
	return nil, core.Errorf(core.EINVALID, "type %q is not a command (%s)", clipID(cmd.Type), strings.Join(normalize.CommandTypes, ", "))
}

// customerAction decodes a command that creates or changes a customer; the
// service checks it as it checks the operator API's requests.
func customerAction(s *core.Service, cmd command, by core.Actor) (func(context.Context) error, error) {
	if cmd.Type == normalize.CommandCustomerCreate {
		var d core.NewCustomer
		if err := decodeData(cmd.Data, &d); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { _, err := s.CreateCustomer(ctx, d, by); return err }, nil
	}
	var d struct {
		CustomerID string `json:"customer_id"`
		core.CustomerChange
		core.Identity
	}
	if err := decodeData(cmd.Data, &d); err != nil {
		return nil, err
	}
	switch {
	case d.CustomerID == "":
		return nil, core.Errorf(core.EINVALID, "customer_id is required")
	case !validID(d.CustomerID):
		return nil, core.Errorf(core.ENOTFOUND, "customer %q not found", clipID(d.CustomerID))
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
			_, err = s.UpdateCustomer(ctx, d.CustomerID, d.CustomerChange, by)
		case normalize.CommandCustomerAddIdentity:
			_, err = s.AddIdentity(ctx, d.CustomerID, d.Identity, by)
		default:
			_, err = s.RemoveIdentity(ctx, d.CustomerID, d.Identity, by)
		}
		return err
	}, nil
}

// handover decodes conversation.handover {conversation_id, to}.
func handover(s *core.Service, data json.RawMessage, by core.Actor) (func(context.Context) error, error) {
	var d struct {
		ConversationID string `json:"conversation_id"`
		To             string `json:"to"`
	}
	if err := decodeConversation(data, &d, &d.ConversationID); err != nil {
		return nil, err
	}
	if d.To == "" {
		return nil, core.Errorf(core.EINVALID, "to is required")
	}
	if err := core.CheckHandler(d.To); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { _, err := s.Handover(ctx, d.ConversationID, d.To, by); return err }, nil
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

// checkName checks a short text (an agent, inbox, reason): UTF-8, no
// control characters, at most 320 bytes.
func checkName(field, v string) error {
	if len(v) > 320 || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return core.Errorf(core.EINVALID, "%s must be printable text of at most 320 bytes", field)
	}
	return nil
}

// CommandFailed is the data of command.failed.
type CommandFailed struct {
	CommandID   string `json:"command_id"`
	CommandType string `json:"command_type,omitempty"`
	Source      string `json:"source,omitempty"`
	Code        string `json:"code"`
	Message     string `json:"message"`
}

// refuse dead-letters a refused command, then records it with its
// command.failed event in one transaction (once per command id).
func (c *CommandConsumer) refuse(ctx context.Context, m kafka.Message, cmd command, cause error) error {
	code := core.ErrorCode(cause)
	if err := c.dead(ctx, m, code, cause); err != nil {
		return err
	}
	failed := CommandFailed{CommandID: cmd.ID, CommandType: clipID(cmd.Type), Source: clipID(cmd.Source),
		Code: code, Message: core.ErrorMessage(cause)}
	record := func() error {
		return c.store.InTx(ctx, func(tx core.Tx) error {
			r, ok := tx.(CommandRecorder)
			if !ok {
				return errors.New("kafkabus: the store cannot record commands")
			}
			if fresh, err := r.RecordCommand(ctx, cmd.ID, clipID(cmd.Type), commandFailed); err != nil || !fresh {
				return err
			}
			ev, err := normalize.NewEvent("/gateway/commands", normalize.TypeCommandFailed, string(m.Key), tx.Now(), failed)
			if err != nil {
				return err
			}
			raw, err := ev.Encode()
			if err != nil {
				return fmt.Errorf("kafkabus: encode command.failed: %w", err)
			}
			return tx.AddEvents(ctx, core.OutboxEvent{Topic: c.events, Key: string(m.Key), Value: raw})
		})
	}
	policy := retry.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second,
		Retryable: func(err error) bool { return errors.Is(err, core.ErrTransient) }}
	if err := retry.Do(ctx, policy, record); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The command is dead-lettered already; its command.failed is lost.
		c.log.Error("commands: record a refused command", "command_id", cmd.ID, "error", err)
		return nil
	}
	c.wake()
	return nil
}

func (c *CommandConsumer) dead(ctx context.Context, m kafka.Message, reason string, err error) error {
	c.log.Warn("commands: command refused", "offset", m.Offset, "partition", m.Partition, "reason", reason, "error", err)
	if e := retry.Do(ctx, commitPolicy, func() error { return c.dlq.ProduceDLQ(ctx, m, reason, err) }); e != nil {
		return ctx.Err()
	}
	return nil
}
