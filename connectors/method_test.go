package connectors_test

import (
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/opengateway/gateway/connectors/edge"
)

// edge.Method, the method of every metric label and log line, is one of
// the standard methods or "other", and never shares the request's buffer:
// a method read, then the request's bytes rewritten (as the next request
// on the connection does), still reads the same.
func TestMethodIsBoundedAndCopied(t *testing.T) {
	app := fiber.New()
	for method, want := range map[string]string{
		"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE",
		"OPTIONS": "OPTIONS", "FOOBAR": "other", "TRACE": "other", "CONNECT": "other", "get": "other", "": "GET",
	} {
		var fctx fasthttp.RequestCtx
		fctx.Request.Header.SetMethod(method)
		c := app.AcquireCtx(&fctx)
		got := edge.Method(c)
		fctx.Request.Header.SetMethod("XXXXXXX")
		if got != want {
			t.Errorf("method %q: %q, want %q", method, got, want)
		}
		app.ReleaseCtx(c)
	}
}
