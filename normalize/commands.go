package normalize

import (
	"fmt"
	"strings"
)

// Command types of gateway.commands.v1: every operator action, sent by a
// bot or an automation as a CloudEvent.
const (
	CommandConversationOpen       = "conversation.open"
	CommandConversationAssign     = "conversation.assign"
	CommandConversationUnassign   = "conversation.unassign"
	CommandConversationSetStatus  = "conversation.set_status"
	CommandConversationSetTopics  = "conversation.set_topics"
	CommandNoteAdd                = "note.add"
	CommandMessageSend            = "message.send"
	CommandCustomerMerge          = "customer.merge"
	CommandCustomerCreate         = "customer.create"
	CommandCustomerUpdate         = "customer.update"
	CommandCustomerAddIdentity    = "customer.add_identity"
	CommandCustomerRemoveIdentity = "customer.remove_identity"
	CommandConversationDelete     = "conversation.delete"
	CommandCustomerErase          = "customer.erase"
	CommandConversationHandover   = "conversation.handover"
	// The conversation's visible_to (PUT /v1/conversations/{id}/visibility).
	CommandConversationSetVisibility = "conversation.set_visibility"
	// An agent's read mark (POST /v1/conversations/{id}/read).
	CommandConversationMarkRead = "conversation.mark_read"
	// A contact ends (POST /v1/conversations/{id}/contacts/{contact_id}/end).
	CommandContactEnd = "contact.end"
	// A failed reply is queued again (POST /v1/messages/{id}/retry).
	CommandMessageRetry = "message.retry"
	// A customer's presets (PUT /v1/customers/{id}/presets).
	CommandCustomerSetPresets = "customer.set_presets"
)

// CommandTypes lists every command type of gateway.commands.v1.
var CommandTypes = []string{
	CommandConversationOpen, CommandConversationAssign, CommandConversationUnassign, CommandConversationSetStatus,
	CommandConversationSetTopics, CommandNoteAdd, CommandMessageSend, CommandCustomerMerge,
	CommandCustomerCreate, CommandCustomerUpdate, CommandCustomerAddIdentity, CommandCustomerRemoveIdentity,
	CommandConversationDelete, CommandCustomerErase,
	CommandConversationHandover, CommandConversationSetVisibility, CommandConversationMarkRead, CommandContactEnd,
	CommandMessageRetry, CommandCustomerSetPresets,
}

// TypeCommandFailed is emitted on events.v1 for a command of
// gateway.commands.v1 that was refused.
const TypeCommandFailed = "command.failed"

// BotSourcePrefix starts the CloudEvents source of every command.
const BotSourcePrefix = "/bots/"

// BotName returns the bot a command's CloudEvents source names: the source
// must be "/bots/<name>", name 1 to 64 characters of a-z, A-Z, 0-9, '-',
// '_' or '.' ("/bots/triage" is the bot "triage", whose actor is
// "bot:triage"). Any other source names nothing and is refused.
func BotName(source string) (string, error) {
	name, ok := strings.CutPrefix(source, BotSourcePrefix)
	if !ok || name == "" || len(name) > 64 {
		return "", fmt.Errorf("source %q must be %s<name>", clip(source), BotSourcePrefix)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return "", fmt.Errorf("source %q: a bot name has only letters, digits, '-', '_' and '.'", clip(source))
		}
	}
	return name, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
