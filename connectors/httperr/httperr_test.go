package httperr_test

import (
	"errors"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/core"
)

func TestStatus(t *testing.T) {
	tests := map[string]int{
		core.EINVALID: 400, core.EUNAUTHORIZED: 401, core.EFORBIDDEN: 403, core.ENOTFOUND: 404,
		core.ECONFLICT: 409, core.EUNPROCESSABLE: 422, core.EINTERNAL: 500,
		httperr.CodeUnavailable: 503, httperr.CodeTooLarge: 413, httperr.CodeUnsupported: 415,
		httperr.CodeUpgradeRequired: 426, core.EIDENTITYTAKEN: 409, core.ETEMPLATEREQUIRED: 422, "no_such_code": 500,
	}
	for code, want := range tests {
		if got := httperr.Status(code); got != want {
			t.Errorf("Status(%q) = %d, want %d", code, got, want)
		}
	}
}

// TestWrite checks the one error shape, through Write, WriteFiber and the
// error handler.
func TestWrite(t *testing.T) {
	app := fiber.New(fiber.Config{ErrorHandler: httperr.Handler(nil)})
	app.Get("/write", func(c *fiber.Ctx) error { return httperr.Write(c, core.ECONFLICT, `it "is" <taken>`) })
	app.Get("/fiber", func(c *fiber.Ctx) error { return httperr.WriteFiber(c, fiber.ErrUnprocessableEntity) })
	app.Get("/teapot", func(*fiber.Ctx) error { return fiber.ErrTeapot })
	app.Get("/method", func(*fiber.Ctx) error { return fiber.ErrMethodNotAllowed })
	app.Get("/wrapped", func(*fiber.Ctx) error { return errors.Join(errors.New("x"), fiber.ErrNotFound) })
	app.Get("/error", func(*fiber.Ctx) error { return errors.New("secret details") })
	tests := map[string]struct {
		status int
		body   string
	}{
		"/write":   {409, `{"error":{"code":"conflict","message":"it \"is\" \u003ctaken\u003e"}}`},
		"/fiber":   {422, `{"error":{"code":"unprocessable","message":"Unprocessable Entity"}}`},
		"/teapot":  {418, `{"error":{"code":"internal","message":"I'm a teapot"}}`},
		"/method":  {405, `{"error":{"code":"invalid","message":"Method Not Allowed"}}`},
		"/wrapped": {404, `{"error":{"code":"not_found","message":"Not Found"}}`},
		"/error":   {500, `{"error":{"code":"internal","message":"internal error"}}`},
		"/nothing": {404, `{"error":{"code":"not_found","message":"Cannot GET /nothing"}}`},
	}
	for path, tc := range tests {
		t.Run(path, func(t *testing.T) {
			res, err := app.Test(httptest.NewRequest("GET", path, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status || string(b) != tc.body || res.Header.Get("Content-Type") != fiber.MIMEApplicationJSON {
				t.Errorf("%d %s %q, want %d %s", res.StatusCode, b, res.Header.Get("Content-Type"), tc.status, tc.body)
			}
		})
	}
}
