package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// builtinRoutes are the operator API's routes, relative to /v1: the routes
// that read, then one route per operator action of core.Actions, whose
// method, path and role come from that table.
func (a *API) builtinRoutes() []apiRoute {
	routes := []apiRoute{
		{method: fiber.MethodGet, path: "/openapi.yaml", handler: a.openAPI},
		{method: fiber.MethodGet, path: "/asyncapi.yaml", handler: a.asyncAPI},
		{method: fiber.MethodGet, path: "/schemas/:name", handler: a.schema},
		{method: fiber.MethodGet, path: "/schemas/:dir/:name", handler: a.schema},
		{method: fiber.MethodGet, path: "/conversations", role: RoleAgent, handler: a.listConversations},
		{method: fiber.MethodGet, path: "/conversations/:id", role: RoleAgent, handler: a.getConversation},
		{method: fiber.MethodGet, path: "/conversations/:id/messages", role: RoleAgent, handler: a.conversationMessages},
		{method: fiber.MethodGet, path: "/customers", role: RoleAgent, handler: a.findCustomer},
		{method: fiber.MethodGet, path: "/customers/:id", role: RoleAgent, handler: a.getCustomer},
		{method: fiber.MethodGet, path: "/customers/:id/timeline", role: RoleAgent, handler: a.timeline},
		{method: fiber.MethodGet, path: "/customers/:id/presets", role: RoleAgent, handler: a.getPresets},
		{method: fiber.MethodGet, path: "/stats", role: RoleAgent, handler: a.stats},
		{method: fiber.MethodGet, path: "/entry-points", role: RoleAdmin, handler: a.entryPointList},
	}
	handlers := a.actionHandlers()
	for _, act := range core.Actions() {
		routes = append(routes, apiRoute{method: act.Method, path: act.Route, role: roleOf(act),
			handler: handlers[act.Name], action: act.Name})
	}
	return routes
}

// actionHandlers are the handlers of the operator actions, by action name.
func (a *API) actionHandlers() map[string]fiber.Handler {
	return map[string]fiber.Handler{
		normalize.CommandConversationOpen:          a.openConversation,
		normalize.CommandConversationAssign:        a.assign,
		normalize.CommandConversationUnassign:      a.unassign,
		normalize.CommandConversationSetStatus:     a.setStatus,
		normalize.CommandConversationSetTopics:     a.setTopics,
		normalize.CommandConversationSetVisibility: a.setVisibility,
		normalize.CommandConversationMarkRead:      a.markRead,
		normalize.CommandConversationHandover:      a.handover,
		normalize.CommandContactEnd:                a.endContact,
		normalize.CommandNoteAdd:                   a.addNote,
		normalize.CommandMessageSend:               a.sendMessage,
		normalize.CommandMessageRetry:              a.retryMessage,
		normalize.CommandConversationDelete:        a.deleteConversation,
		normalize.CommandCustomerCreate:            a.createCustomer,
		normalize.CommandCustomerUpdate:            a.updateCustomer,
		normalize.CommandCustomerAddIdentity:       a.addIdentity,
		normalize.CommandCustomerRemoveIdentity:    a.removeIdentity,
		normalize.CommandCustomerSetPresets:        a.setPresets,
		normalize.CommandCustomerMerge:             a.merge,
		normalize.CommandCustomerErase:             a.eraseCustomer,
	}
}

// roleOf is the role a route taking an action needs: admin for an
// admin-only action (the rule gateway.commands.v1 applies to bots too),
// agent for the others.
func roleOf(act core.Action) string {
	if act.AdminOnly {
		return RoleAdmin
	}
	return RoleAgent
}
