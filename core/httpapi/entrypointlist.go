package httpapi

import (
	"slices"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// SetEntryPoints sets the entry points GET /v1/entry-points lists: the
// GATEWAY_ENTRY_POINTS file's, or those derived from the providers'
// variables. Call it before Mount.
func (a *API) SetEntryPoints(eps []core.EntryPoint) {
	a.entryPoints = slices.Clone(eps)
}

// entryPointList answers GET /v1/entry-points (admins): every entry point
// with its provider, address, inbox, routing, whether its webhooks are on
// and its last webhook; never a credential.
func (a *API) entryPointList(c *fiber.Ctx) error {
	eps, err := a.svc.EntryPoints(c.UserContext(), a.entryPoints)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"entry_points": eps})
}
