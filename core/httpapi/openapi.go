package httpapi

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

//go:embed openapi.yaml
var openAPIDocument []byte

// OpenAPIDocument returns the operator API's OpenAPI document.
func OpenAPIDocument() []byte { return openAPIDocument }

func (a *API) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(openAPIDocument)
}
