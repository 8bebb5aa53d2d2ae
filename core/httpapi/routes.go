package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// builtinRoutes are the operator API's routes, relative to /v1.
func (a *API) builtinRoutes() []apiRoute {
	return []apiRoute{
		{fiber.MethodGet, "/openapi.yaml", "", a.openAPI},
		{fiber.MethodGet, "/asyncapi.yaml", "", a.asyncAPI},
		{fiber.MethodGet, "/schemas/:name", "", a.schema},
		{fiber.MethodGet, "/schemas/:dir/:name", "", a.schema},
		{fiber.MethodGet, "/conversations", RoleAgent, a.listConversations},
		{fiber.MethodPost, "/conversations", RoleAgent, a.openConversation},
		{fiber.MethodGet, "/conversations/:id", RoleAgent, a.getConversation},
		{fiber.MethodDelete, "/conversations/:id", roleOf(core.ActionConversationDelete), a.deleteConversation},
		{fiber.MethodGet, "/conversations/:id/messages", RoleAgent, a.conversationMessages},
		{fiber.MethodPost, "/conversations/:id/assign", RoleAgent, a.assign},
		{fiber.MethodPost, "/conversations/:id/unassign", RoleAgent, a.unassign},
		{fiber.MethodPost, "/conversations/:id/status", RoleAgent, a.setStatus},
		{fiber.MethodPost, "/conversations/:id/notes", RoleAgent, a.addNote},
		{fiber.MethodPost, "/conversations/:id/messages", RoleAgent, a.sendMessage},
		{fiber.MethodGet, "/customers", RoleAgent, a.findCustomer},
		{fiber.MethodGet, "/customers/:id", RoleAgent, a.getCustomer},
		{fiber.MethodDelete, "/customers/:id", roleOf(core.ActionCustomerErase), a.eraseCustomer},
		{fiber.MethodGet, "/customers/:id/timeline", RoleAgent, a.timeline},
		{fiber.MethodPost, "/customers/:id/merge", roleOf(core.ActionCustomerMerge), a.merge},
		{fiber.MethodPut, "/conversations/:id/topics", RoleAgent, a.setTopics},
		{fiber.MethodPut, "/conversations/:id/visibility", RoleAgent, a.setVisibility},
		{fiber.MethodPost, "/conversations/:id/read", RoleAgent, a.markRead},
		{fiber.MethodPost, "/conversations/:id/handover", RoleAgent, a.handover},
		{fiber.MethodPost, "/conversations/:id/contacts/:contact_id/end", RoleAgent, a.endContact},
		{fiber.MethodGet, "/customers/:id/presets", RoleAgent, a.getPresets},
		{fiber.MethodPut, "/customers/:id/presets", RoleAgent, a.setPresets},
		{fiber.MethodGet, "/stats", RoleAgent, a.stats},
		{fiber.MethodPost, "/messages/:id/retry", RoleAgent, a.retryMessage},
		{fiber.MethodPost, "/customers", RoleAgent, a.createCustomer},
		{fiber.MethodPatch, "/customers/:id", RoleAgent, a.updateCustomer},
		{fiber.MethodPost, "/customers/:id/identities", RoleAgent, a.addIdentity},
		{fiber.MethodDelete, "/customers/:id/identities/:kind/:address", RoleAgent, a.removeIdentity},
	}
}

// roleOf is the role a route taking action needs: admin for the actions
// core.AdminOnly names (the rule gateway.commands.v1 applies to bots too),
// agent for the others.
func roleOf(action string) string {
	if core.AdminOnly(action) {
		return RoleAdmin
	}
	return RoleAgent
}
