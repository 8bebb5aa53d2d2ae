package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// viewer is whose eyes the request reads conversations with: admins and
// bots see every conversation (with or without X-Agent); an agent sees
// those visible to everyone or to the token's holder (an unnamed agent
// token: only those visible to everyone).
func (p principal) viewer() core.Viewer {
	return core.Viewer{Agent: p.me, All: p.role == RoleAdmin || p.role == RoleBot}
}

// setVisibility answers PUT /v1/conversations/{id}/visibility
// {visible_to: [...]}: who may see the conversation besides admins and
// bots; [] makes it visible to everyone.
func (a *API) setVisibility(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	var req struct {
		VisibleTo *[]string `json:"visible_to"`
	}
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.VisibleTo == nil {
		return core.Errorf(core.EINVALID, "visible_to is required ([] makes the conversation visible to everyone)")
	}
	return a.answerConversation(c)(a.svc.SetVisibility(c.UserContext(), id, *req.VisibleTo, ActorOf(c)))
}
