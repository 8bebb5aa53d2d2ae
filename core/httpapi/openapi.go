package httpapi

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

//go:embed openapi.yaml
var openAPIDocument []byte

// OpenAPIDocument returns the operator API's OpenAPI document.
func OpenAPIDocument() []byte { return openAPIDocument }

func (a *API) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(openAPIDocument)
}

// asyncAPI serves the event contract; its schemas are served beside it
// (schemas/...), so the document's relative references resolve.
func (a *API) asyncAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(normalize.AsyncAPIDocument())
}

func (a *API) schema(c *fiber.Ctx) error {
	name := c.Params("name")
	if dir := c.Params("dir"); dir != "" {
		name = dir + "/" + name
	}
	b, ok := normalize.SchemaFile(name)
	if !ok {
		return httperr.Write(c, core.ENOTFOUND, "no such schema")
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(b)
}
