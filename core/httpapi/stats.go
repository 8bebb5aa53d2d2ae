package httpapi

import "github.com/gofiber/fiber/v2"

// stats answers GET /v1/stats: counts by status, unassigned and unreplied
// conversations, resolution times, and with ?agent= that agent's own.
func (a *API) stats(c *fiber.Ctx) error {
	agent, err := query(c, "agent")
	if err != nil {
		return err
	}
	st, err := a.svc.Stats(c.UserContext(), agent)
	if err != nil {
		return err
	}
	if st.ByStatus == nil {
		st.ByStatus = map[string]int{}
	}
	return c.JSON(st)
}
