package core

import "github.com/opengateway/gateway/normalize"

// WithStore returns a copy of the service that works on st: the same
// policy, topics, metrics, media store and event hook. The command consumer
// of gateway.commands.v1 gives it a store that records each command's id in
// the transaction of the command's work, so the service's methods stay as
// the operator API calls them. Call it after OnEvents and SetMedia.
func (s *Service) WithStore(st Store) *Service {
	c := *s
	c.store = st
	return &c
}

// Operator actions that only an admin may take. The operator API gives
// their routes the admin role, and gateway.commands.v1 applies them only
// from the bots named in GATEWAY_COMMAND_ADMIN_BOTS: both take the rule
// from AdminOnly, so an action made admin-only here is admin-only on both.
// An action's name is its command type on gateway.commands.v1.
const (
	ActionConversationDelete = normalize.CommandConversationDelete
	ActionCustomerErase      = normalize.CommandCustomerErase
	ActionCustomerMerge      = normalize.CommandCustomerMerge
)

var adminOnly = map[string]bool{
	ActionConversationDelete: true,
	ActionCustomerErase:      true,
	ActionCustomerMerge:      true,
}

// AdminOnly reports whether only an admin may take an action (an operator
// API route's action or a command type of gateway.commands.v1).
func AdminOnly(action string) bool { return adminOnly[action] }
