package core

import "github.com/opengateway/gateway/normalize"

// Action is one operator action: what an agent, an admin or a bot may
// change. Each is reached by one route of the operator API and by one
// command type of gateway.commands.v1, and both call the same Service
// method, which checks the action's data: an action validated in one
// place. The operator API builds its mutating routes from this table, and
// the command consumer decodes exactly these types; a test fails when an
// API route that changes something has no action here, or an action lacks
// its route or its command.
type Action struct {
	// Name is the action's command type on gateway.commands.v1.
	Name string
	// Method and Route are its operator API route: an HTTP method and a
	// path relative to /v1 (":id" names a path parameter).
	Method, Route string
	// AdminOnly: the API gives the route the admin role, and the command
	// is applied only from the bots in GATEWAY_COMMAND_ADMIN_BOTS.
	AdminOnly bool
}

// actions is the table of operator actions.
var actions = []Action{
	{normalize.CommandConversationOpen, "POST", "/conversations", false},
	{normalize.CommandConversationAssign, "POST", "/conversations/:id/assign", false},
	{normalize.CommandConversationUnassign, "POST", "/conversations/:id/unassign", false},
	{normalize.CommandConversationSetStatus, "POST", "/conversations/:id/status", false},
	{normalize.CommandConversationSetTopics, "PUT", "/conversations/:id/topics", false},
	{normalize.CommandConversationSetVisibility, "PUT", "/conversations/:id/visibility", false},
	{normalize.CommandConversationMarkRead, "POST", "/conversations/:id/read", false},
	{normalize.CommandConversationHandover, "POST", "/conversations/:id/handover", false},
	{normalize.CommandContactEnd, "POST", "/conversations/:id/contacts/:contact_id/end", false},
	{normalize.CommandNoteAdd, "POST", "/conversations/:id/notes", false},
	{normalize.CommandMessageSend, "POST", "/conversations/:id/messages", false},
	{normalize.CommandMessageRetry, "POST", "/messages/:id/retry", false},
	{normalize.CommandConversationDelete, "DELETE", "/conversations/:id", true},
	{normalize.CommandCustomerCreate, "POST", "/customers", false},
	{normalize.CommandCustomerUpdate, "PATCH", "/customers/:id", false},
	{normalize.CommandCustomerAddIdentity, "POST", "/customers/:id/identities", false},
	{normalize.CommandCustomerRemoveIdentity, "DELETE", "/customers/:id/identities/:kind/:address", false},
	{normalize.CommandCustomerSetPresets, "PUT", "/customers/:id/presets", false},
	{normalize.CommandCustomerMerge, "POST", "/customers/:id/merge", true},
	{normalize.CommandCustomerErase, "DELETE", "/customers/:id", true},
}

// Actions returns the table of operator actions.
func Actions() []Action {
	out := make([]Action, len(actions))
	copy(out, actions)
	return out
}

// ActionNamed returns the operator action whose command type is name.
func ActionNamed(name string) (Action, bool) {
	for _, a := range actions {
		if a.Name == name {
			return a, true
		}
	}
	return Action{}, false
}

// AdminOnly reports whether only an admin may take an action (an operator
// API route's action or a command type of gateway.commands.v1).
func AdminOnly(action string) bool {
	a, ok := ActionNamed(action)
	return ok && a.AdminOnly
}

// MaxName bounds a short name in an action's data: an agent, an inbox, a
// reason.
const MaxName = 320

// CheckName checks a short name of field (an agent, an inbox, a reason):
// UTF-8 without control characters, at most MaxName bytes.
func CheckName(field, v string) error {
	if len(v) > MaxName || !printable(v) {
		return Errorf(EINVALID, "%s must be printable text of at most %d bytes", field, MaxName)
	}
	return nil
}
