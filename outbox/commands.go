package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/retry"
	"github.com/opengateway/gateway/normalize"
)

// Command is a reply command on outbound.v1, sent by a downstream system.
// It may be a CloudEvent (type "message.send", the command in data, the
// event id as the command id) or the plain JSON object.
type Command struct {
	ID             string                 `json:"id"`
	ConversationID string                 `json:"conversation_id"`
	Text           string                 `json:"text,omitempty"`
	Channel        string                 `json:"channel,omitempty"`
	Attachments    []normalize.Attachment `json:"attachments,omitempty"`
	Template       *normalize.Template    `json:"template,omitempty"`
	Tag            string                 `json:"tag,omitempty"`
	Subject        string                 `json:"subject,omitempty"`
	// Actor names who sent it, for the conversation history (default the topic).
	Actor string `json:"actor,omitempty"`
}

// DecodeCommand parses a record of outbound.v1.
func DecodeCommand(b []byte) (Command, error) {
	var probe struct {
		SpecVersion string          `json:"specversion"`
		ID          string          `json:"id"`
		Type        string          `json:"type"`
		Data        json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return Command{}, fmt.Errorf("%w: %v", normalize.ErrEvent, err)
	}
	body := b
	if probe.SpecVersion != "" {
		if probe.Type != "message.send" {
			return Command{}, fmt.Errorf("%w: type %q, want message.send", normalize.ErrEvent, probe.Type)
		}
		body = probe.Data
	}
	var c Command
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&c); err != nil {
		return Command{}, fmt.Errorf("%w: command: %v", normalize.ErrEvent, err)
	}
	if probe.SpecVersion != "" && c.ID == "" {
		c.ID = probe.ID
	}
	if c.ID == "" || c.ConversationID == "" {
		return Command{}, fmt.Errorf("%w: id and conversation_id are required", normalize.ErrEvent)
	}
	return c, nil
}

// Replier queues a reply under the channel rules (core.Service).
type Replier interface {
	Reply(ctx context.Context, conversationID string, r core.ReplyRequest, by core.Actor) (core.StoredMessage, error)
}

var _ Replier = (*core.Service)(nil)

// Commands queues the replies of outbound.v1. The command id is the
// idempotency key: a redelivered command never queues a second message.
// It knows nothing of Kafka: cmd/gateway runs it in a consume loop
// (kafkabus.Records), which dead-letters a refused command with the reason
// and commits the offset only after the reply is stored.
type Commands struct {
	svc Replier
	log *slog.Logger
}

// NewCommands returns the handler of outbound.v1 records.
func NewCommands(svc Replier, log *slog.Logger) *Commands {
	return &Commands{svc: svc, log: log}
}

// Apply queues the reply one record asks for, retrying transient failures
// until ctx ends. It returns ("", nil) once the reply is stored; the reason
// and the cause when the command breaks a rule or cannot be read (unknown
// or closed conversation, closed window: it can never be queued); and
// ("", ctx's error) when ctx ended first.
func (c *Commands) Apply(ctx context.Context, value []byte) (refused string, err error) {
	cmd, err := DecodeCommand(value)
	if err != nil {
		return "undecodable", err
	}
	actor := core.Actor("system:outbound.v1")
	if cmd.Actor != "" {
		actor = core.Actor(cmd.Actor)
	}
	req := core.ReplyRequest{Text: cmd.Text, Channel: cmd.Channel, Attachments: cmd.Attachments, Template: cmd.Template,
		Tag: cmd.Tag, Subject: cmd.Subject, ClientRef: "outbound.v1:" + cmd.ID}
	transient := retry.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second,
		Retryable: func(err error) bool { return errors.Is(err, core.ErrTransient) },
		OnRetry: func(err error, _ time.Duration) {
			c.log.Warn("outbox: command will be retried", "command_id", cmd.ID, "error", err)
		}}
	err = retry.Do(ctx, transient, func() error { _, err := c.svc.Reply(ctx, cmd.ConversationID, req, actor); return err })
	switch {
	case err == nil:
		return "", nil
	case ctx.Err() != nil:
		return "", ctx.Err()
	default:
		return core.ErrorCode(err), err
	}
}
