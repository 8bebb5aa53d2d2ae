package edge

import (
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/gofiber/fiber/v2"
)

// HeaderRequestID names a request in both directions: a caller may send
// one, and every answer carries the id the request was logged under.
const HeaderRequestID = "X-Request-Id"

// maxRequestID bounds a request id taken from the caller.
const maxRequestID = 64

// RequestID is the middleware that names every request: the caller's
// X-Request-Id when it is a short safe token (at most 64 of A-Z a-z 0-9 . _
// -), else a new UUIDv7. The id is answered as X-Request-Id and kept only
// there, in the response's headers, so that naming a request allocates
// nothing; ID and Log read it back.
func RequestID(c *fiber.Ctx) error {
	if id := c.Request().Header.Peek(HeaderRequestID); safeID(id) {
		c.Response().Header.SetBytesV(HeaderRequestID, id)
	} else {
		var buf [36]byte
		c.Response().Header.SetBytesV(HeaderRequestID, newID(&buf))
	}
	return c.Next()
}

// RawID returns the request's id where the response keeps it: valid only
// while the handler runs.
func RawID(c *fiber.Ctx) []byte { return c.Response().Header.Peek(HeaderRequestID) }

// ID returns the request's id ("" outside RequestID).
func ID(c *fiber.Ctx) string { return string(RawID(c)) }

// Log returns log with the request's id as request_id, for the lines a
// request writes. A nil log discards.
func Log(c *fiber.Ctx, log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log.With("request_id", ID(c))
}

// safeID reports whether a caller's id can be kept as it is: it reaches
// logs and Kafka headers, so only a short token of safe bytes.
func safeID(id []byte) bool {
	if len(id) == 0 || len(id) > maxRequestID {
		return false
	}
	for _, b := range id {
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}

// newID writes a new UUIDv7 into buf: the time in milliseconds, then 74
// random bits from the runtime's generator (ids need to be unique, not
// secret), without allocating or locking.
func newID(buf *[36]byte) []byte {
	const hex = "0123456789abcdef"
	var u [16]byte
	binary.BigEndian.PutUint64(u[0:8], uint64(time.Now().UnixMilli())<<16|rand.Uint64()&0x0fff|0x7000)
	binary.BigEndian.PutUint64(u[8:16], rand.Uint64()&^(3<<62)|1<<63)
	j := 0
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			buf[j] = '-'
			j++
		}
		buf[j], buf[j+1] = hex[b>>4], hex[b&0x0f]
		j += 2
	}
	return buf[:]
}

// Method returns the request's method as a metric label or log value: one
// of GET HEAD POST PUT PATCH DELETE OPTIONS as a constant (never a view into
// fiber's reused buffers, which the next request on the connection
// rewrites), any other method as "other".
func Method(c *fiber.Ctx) string {
	m := c.Request().Header.Method()
	for _, known := range labelMethods {
		if string(m) == known {
			return known
		}
	}
	return "other"
}

// labelMethods are the methods a label names; any other is "other".
var labelMethods = [...]string{fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut,
	fiber.MethodPatch, fiber.MethodDelete, fiber.MethodOptions}
