package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// handover answers POST /v1/conversations/{id}/handover {to}: the
// conversation goes to a human ("human") or a bot ("bot:<name>").
func (a *API) handover(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	var req struct {
		To string `json:"to"`
	}
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.To == "" {
		return core.Errorf(core.EINVALID, "to is required: \"human\" or \"bot:<name>\"")
	}
	if err := core.CheckHandler(req.To); err != nil {
		return err
	}
	return a.answerConversation(c)(a.svc.Handover(c.UserContext(), id, req.To, ActorOf(c)))
}
