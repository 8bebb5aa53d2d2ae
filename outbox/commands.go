package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/kafkabus"
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
// A command that breaks a rule (unknown or closed conversation, closed
// window) is dead-lettered with the reason; the offset is committed only
// after the reply is stored.
type Commands struct {
	svc  Replier
	src  kafkabus.Source
	dlq  kafkabus.DeadLetters
	log  *slog.Logger
	wake func()
}

// NewCommands returns the outbound.v1 consumer; wake is called after replies are queued.
func NewCommands(svc Replier, src kafkabus.Source, dlq kafkabus.DeadLetters, log *slog.Logger, wake func()) *Commands {
	return &Commands{svc: svc, src: src, dlq: dlq, log: log, wake: wake}
}

// kafkaPolicy retries Kafka commits and dead letters every second until
// they pass or ctx ends.
var kafkaPolicy = retry.Policy{Base: time.Second, Max: time.Second}

// Run consumes until ctx ends.
func (c *Commands) Run(ctx context.Context) error {
	for {
		batch, err := c.src.FetchBatch(ctx, 200)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			c.log.Error("outbox: fetch commands", "error", err)
			retry.Sleep(ctx, time.Second)
			continue
		}
		for _, m := range batch {
			if err := c.apply(ctx, m); err != nil {
				return nil // ctx ended
			}
		}
		c.wake()
		commit := func() error { return c.src.Commit(context.WithoutCancel(ctx), batch...) }
		if err := retry.Do(ctx, kafkaPolicy, commit); err != nil {
			return nil // ctx ended: the batch is redelivered, its commands are idempotent
		}
	}
}

// apply queues one command, retrying transient failures until ctx ends.
func (c *Commands) apply(ctx context.Context, m kafka.Message) error {
	cmd, err := DecodeCommand(m.Value)
	if err != nil {
		return c.dead(ctx, m, "undecodable", err)
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
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return c.dead(ctx, m, core.ErrorCode(err), err)
	}
}

func (c *Commands) dead(ctx context.Context, m kafka.Message, reason string, err error) error {
	c.log.Warn("outbox: command refused", "offset", m.Offset, "partition", m.Partition, "reason", reason, "error", err)
	if e := retry.Do(ctx, kafkaPolicy, func() error { return c.dlq.ProduceDLQ(ctx, m, reason, err) }); e != nil {
		return ctx.Err()
	}
	return nil
}
