package kafkabus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

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
		r, ok := tx.Self.(CommandRecorder)
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
// core method the operator API calls, with the same rules and
// errors, as the actor "bot:<name>" its source names (normalize.BotName).
// The event id is the idempotency key: it is recorded in the transaction
// of the command's work, so a redelivered command never acts twice. A
// refused command goes to the dead-letter topic with the reason and emits
// command.failed on events.v1. An admin-only action (core.AdminOnly) is
// applied only from the bots SetAdminBots names and refused as forbidden
// from any other. It is the Handler of a consume loop, which commits the
// offsets only after the database commits.
type CommandConsumer struct {
	svc    Core
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
// written (the relay's Wake). store is the engine's store; bind returns the
// core working on another store (core.Service.WithStore). Call it after the
// engine's OnEvents and SetMedia.
func NewCommandConsumer(store core.Store, bind Bind, src Source, dlq DeadLetters, events string, log *slog.Logger, wake func()) *CommandConsumer {
	return &CommandConsumer{svc: bind(commandStore{Store: store}), store: store, src: src, dlq: dlq, events: events, log: log, wake: wake}
}

// SetAdminBots names the bots whose commands may take admin-only actions
// (GATEWAY_COMMAND_ADMIN_BOTS); by default none may. Call it before Run.
func (c *CommandConsumer) SetAdminBots(names []string) {
	c.admins = make(map[string]bool, len(names))
	for _, n := range names {
		c.admins[n] = true
	}
}

// Run consumes commands.v1 with the consume loop (Loop) until ctx ends.
func (c *CommandConsumer) Run(ctx context.Context) error {
	return Loop{Name: "commands", Source: c.src, Handler: c, MaxBatch: 100, Log: c.log}.Run(ctx)
}

var _ Handler = (*CommandConsumer)(nil)

// Handle applies the commands of a batch in order; it returns an error only
// when ctx ended (the batch is not committed and comes again, and its
// commands are idempotent).
func (c *CommandConsumer) Handle(ctx context.Context, batch []kafka.Message) error {
	for _, m := range batch {
		if err := c.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// commitPolicy retries dead letters every second until they pass or ctx
// ends (the command consumer, Records).
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
			r, ok := tx.Self.(CommandRecorder)
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
