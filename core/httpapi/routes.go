package httpapi

import "github.com/gofiber/fiber/v2"

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
		{fiber.MethodDelete, "/conversations/:id", RoleAdmin, a.deleteConversation},
		{fiber.MethodGet, "/conversations/:id/messages", RoleAgent, a.conversationMessages},
		{fiber.MethodPost, "/conversations/:id/assign", RoleAgent, a.assign},
		{fiber.MethodPost, "/conversations/:id/unassign", RoleAgent, a.unassign},
		{fiber.MethodPost, "/conversations/:id/status", RoleAgent, a.setStatus},
		{fiber.MethodPost, "/conversations/:id/notes", RoleAgent, a.addNote},
		{fiber.MethodPost, "/conversations/:id/messages", RoleAgent, a.sendMessage},
		{fiber.MethodGet, "/customers", RoleAgent, a.findCustomer},
		{fiber.MethodGet, "/customers/:id", RoleAgent, a.getCustomer},
		{fiber.MethodDelete, "/customers/:id", RoleAdmin, a.eraseCustomer},
		{fiber.MethodGet, "/customers/:id/timeline", RoleAgent, a.timeline},
		{fiber.MethodPost, "/customers/:id/merge", RoleAdmin, a.merge},
		{fiber.MethodPut, "/conversations/:id/topics", RoleAgent, a.setTopics},
		{fiber.MethodPut, "/conversations/:id/visibility", RoleAgent, a.setVisibility},
		{fiber.MethodPost, "/conversations/:id/read", RoleAgent, a.markRead},
		{fiber.MethodPost, "/conversations/:id/handover", RoleAgent, a.handover},
		{fiber.MethodPost, "/conversations/:id/contacts/:contact_id/end", RoleAgent, a.endContact},
		{fiber.MethodGet, "/customers/:id/presets", RoleAgent, a.getPresets},
		{fiber.MethodPut, "/customers/:id/presets", RoleAgent, a.setPresets},
		{fiber.MethodGet, "/stats", RoleAgent, a.stats},
	}
}
