package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// setTopics answers PUT /v1/conversations/{id}/topics {topics: [...]}.
func (a *API) setTopics(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	var req struct {
		Topics *[]string `json:"topics"`
	}
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Topics == nil {
		return core.Errorf(core.EINVALID, "topics is required ([] clears them)")
	}
	return a.answerConversation(c)(a.agents.SetTopics(c.UserContext(), id, *req.Topics, ActorOf(c)))
}

// markRead answers POST /v1/conversations/{id}/read: the conversation is
// read up to now for the caller.
func (a *API) markRead(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	if len(c.Body()) > 0 {
		var req struct{}
		if err := decodeBody(c, &req); err != nil {
			return err
		}
	}
	return a.answerConversation(c)(a.agents.MarkRead(c.UserContext(), id, meOf(c)))
}

// getPresets answers GET /v1/customers/{id}/presets.
func (a *API) getPresets(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	p, err := a.agents.Presets(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// setPresets answers PUT /v1/customers/{id}/presets {assignees, inbox, visible_to}:
// what each new conversation of the customer starts with.
func (a *API) setPresets(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	var req struct {
		Assignees []string `json:"assignees"`
		Inbox     string   `json:"inbox"`
		VisibleTo []string `json:"visible_to"`
	}
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	p, err := a.agents.SetPresets(c.UserContext(), id, core.Presets{Assignees: req.Assignees, Inbox: req.Inbox, VisibleTo: req.VisibleTo})
	if err != nil {
		return err
	}
	setSubject(c, id)
	return c.JSON(p)
}
