package httpapi

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// endContact answers POST /v1/conversations/{id}/contacts/{contact_id}/end.
func (a *API) endContact(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	contactID := c.Params("contact_id")
	if !validID(contactID) {
		return core.Errorf(core.ENOTFOUND, "contact not found")
	}
	if len(c.Body()) > 0 {
		var req struct{}
		if err := decodeBody(c, &req); err != nil {
			return err
		}
	}
	return a.answerConversation(c)(a.svc.EndContact(c.UserContext(), id, strings.Clone(contactID), ActorOf(c)))
}
