package httpapi

import (
	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// stats answers GET /v1/stats: counts by status, unassigned and unreplied
// conversations, resolution times, counts by topic, with ?agent= that
// agent's own (the caller's own, or any agent's for an admin), and the
// caller's own tiles (mine) when the caller is someone; ?inbox= keeps
// every figure to the conversations of one inbox.
func (a *API) stats(c *fiber.Ctx) error {
	agent, err := query(c, "agent")
	if err != nil {
		return err
	}
	inbox, err := query(c, "inbox")
	if err != nil {
		return err
	}
	if inbox != "" {
		if err := checkName("inbox", inbox); err != nil {
			return err
		}
	}
	// Converso: an agent's own figures "can only be seen by you".
	if p, _ := c.Locals(principalKey).(principal); agent != "" && agent != p.me && p.role != RoleAdmin {
		return core.Errorf(core.EFORBIDDEN, "another agent's own figures are for admins: ask for your own (a named token or X-Agent)")
	}
	st, err := a.agents.StatsWithMine(c.UserContext(), agent, inbox, meOf(c))
	if err != nil {
		return err
	}
	if st.ByStatus == nil {
		st.ByStatus = map[string]int{}
	}
	if st.ByTopic == nil {
		st.ByTopic = map[string]core.TopicFigures{}
	}
	return c.JSON(st)
}
