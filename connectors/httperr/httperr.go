// Package httperr is the one place where error codes become HTTP statuses
// and the one JSON error shape, {"error":{"code":"…","message":"…"}}, is
// written: the webhooks, the media route, the operator API, the web chat and
// fiber's error handler all answer through it.
//
// The codes of the domain are core's (core.EINVALID, core.ENOTFOUND, …);
// the codes declared here have only an HTTP meaning.
package httperr

import (
	"errors"
	"log/slog"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// Codes of HTTP-level errors that have no domain meaning.
const (
	CodeUnavailable     = "unavailable"            // a dependency is down; retry: 503
	CodeTooLarge        = "too_large"              // the body is over the limit: 413
	CodeUnsupported     = "unsupported_media_type" // 415
	CodeUpgradeRequired = "upgrade_required"       // a websocket route called without the handshake: 426
)

// statusOf maps every code to its status.
var statusOf = map[string]int{
	core.EINVALID: fiber.StatusBadRequest, core.EUNAUTHORIZED: fiber.StatusUnauthorized,
	core.EFORBIDDEN: fiber.StatusForbidden, core.ENOTFOUND: fiber.StatusNotFound,
	core.ECONFLICT: fiber.StatusConflict, core.EUNPROCESSABLE: fiber.StatusUnprocessableEntity,
	core.EINTERNAL: fiber.StatusInternalServerError, CodeUnavailable: fiber.StatusServiceUnavailable,
	CodeTooLarge: fiber.StatusRequestEntityTooLarge, CodeUnsupported: fiber.StatusUnsupportedMediaType,
	CodeUpgradeRequired: fiber.StatusUpgradeRequired, core.ECHANNELUNAVAILABLE: fiber.StatusUnprocessableEntity,
	core.EIDENTITYTAKEN: fiber.StatusConflict, core.ETEMPLATEREQUIRED: fiber.StatusUnprocessableEntity,
}

// refined are the domain's codes that name a rule; they share their status
// with a general code (409 conflict, 422 unprocessable).
var refined = map[string]bool{core.EIDENTITYTAKEN: true, core.ETEMPLATEREQUIRED: true}

// codeOf is statusOf turned around, for errors fiber raises with a status.
var codeOf = func() map[int]string {
	m := make(map[int]string, len(statusOf)+1)
	for code, status := range statusOf {
		if !refined[code] {
			m[status] = code
		}
	}
	m[fiber.StatusMethodNotAllowed] = core.EINVALID
	m[fiber.StatusUnprocessableEntity] = core.EUNPROCESSABLE // not channel_unavailable, which shares it
	return m
}()

// Status returns the HTTP status of an error code; an unknown code is a 500.
func Status(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return fiber.StatusInternalServerError
}

// Write answers with the status of code and the JSON error shape.
func Write(c *fiber.Ctx, code, message string) error {
	return write(c, Status(code), code, message)
}

// WriteFiber answers an error fiber raised (no route, a method the route
// does not take, a body over the limit) with its own status and the code of
// that status: a 405 is invalid, a status no code has is internal.
func WriteFiber(c *fiber.Ctx, fe *fiber.Error) error {
	code, ok := codeOf[fe.Code]
	if !ok {
		code = core.EINTERNAL
	}
	return write(c, fe.Code, code, fe.Message)
}

func write(c *fiber.Ctx, status int, code, message string) error {
	return c.Status(status).JSON(fiber.Map{"error": fiber.Map{"code": code, "message": message}})
}

// Handler is fiber's ErrorHandler: a fiber error answers as WriteFiber, any
// other error is logged and answered 500 without its details.
func Handler(log *slog.Logger) fiber.ErrorHandler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(c *fiber.Ctx, err error) error {
		var fe *fiber.Error
		if errors.As(err, &fe) {
			return WriteFiber(c, fe)
		}
		log.Error("http: unhandled error", "path", c.Path(), "error", err)
		return Write(c, core.EINTERNAL, "internal error")
	}
}
