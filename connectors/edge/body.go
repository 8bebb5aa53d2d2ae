// Package edge holds the HTTP edge's defences against hostile input, used
// by every route that faces the internet: bodies read only by their route
// and within its limit, encoded bodies refused, connections capped in all
// and per client address. It knows fiber and httperr; it must not import
// the provider packages, the core or Kafka.
package edge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/core"
)

// The server streams request bodies (fasthttp StreamRequestBody): nothing is
// read, and nothing allocated for a body, until a route asks for it through
// LimitBody with its own limit. A route that never reads its body leaves it
// unread: the server discards a short one after the answer (so a request
// pipelined behind it is answered), and closes the connection after one
// whose length is unknown (chunked) or over unreadKept.

// unreadKept is the longest unread body the server reads past to keep the
// connection: what an honest client sends to a route that takes no body,
// far less than a route's limit.
const unreadKept = 64 << 10

// bodyChunk is how much is read at a time: memory grows with the bytes that
// actually arrive, never with what Content-Length announces.
const bodyChunk = 32 << 10

// LimitBody is the first handler of routes that take a body: it refuses an
// encoded body with 415, reads the body within max bytes (see ReadBody) and
// answers 413 or 400 itself when it cannot.
func LimitBody(max int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if Encoded(c) {
			c.Context().SetConnectionClose()
			return httperr.Write(c, httperr.CodeUnsupported, "request bodies are not accepted encoded (Content-Encoding must be identity)")
		}
		if _, err := ReadBody(c, max); err != nil {
			return WriteBodyError(c, err, max)
		}
		return c.Next()
	}
}

// Errors of ReadBody.
var (
	ErrBodyTooLarge   = errors.New("the request body is over the route's limit")
	ErrBodyUnreadable = errors.New("the request body could not be read")
)

// ReadBody reads the raw request body (never decompressed), refusing it
// with ErrBodyTooLarge when Content-Length announces more than max bytes,
// before anything is read, or when more than max bytes arrive. On error the
// connection is closed after the answer. Later calls, and
// c.Request().Body(), return the body read.
func ReadBody(c *fiber.Ctx, max int) ([]byte, error) {
	req := c.Request()
	if n := req.Header.ContentLength(); n > max {
		c.Context().SetConnectionClose()
		return nil, ErrBodyTooLarge
	}
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		if body := req.Body(); len(body) <= max {
			return body, nil
		}
		c.Context().SetConnectionClose()
		return nil, ErrBodyTooLarge
	}
	body, err := readAtMost(stream, max, req.Header.ContentLength())
	if err != nil {
		c.Context().SetConnectionClose()
		return nil, err
	}
	req.SetBodyRaw(body)
	return body, nil
}

// ReadOwnBody is ReadBody returning memory the caller owns and that nothing
// else writes to: the buffer a streamed body was read into as it is, or a
// copy of a body the server had read into its own buffers, which the next
// request on the connection reuses.
func ReadOwnBody(c *fiber.Ctx, max int) ([]byte, error) {
	streamed := c.Context().RequestBodyStream() != nil
	body, err := ReadBody(c, max)
	if err != nil || streamed {
		return body, err
	}
	return bytes.Clone(body), nil
}

// WriteBodyError answers a ReadBody error: 413 or 400.
func WriteBodyError(c *fiber.Ctx, err error, max int) error {
	if errors.Is(err, ErrBodyTooLarge) {
		return httperr.Write(c, httperr.CodeTooLarge, "the request body is over the limit of "+strconv.Itoa(max)+" bytes for this route")
	}
	return httperr.Write(c, core.EINVALID, ErrBodyUnreadable.Error())
}

// readAtMost reads r to its end, failing once more than max bytes came.
// The buffer is sized for what Content-Length announces (and room to see
// the end), so a body of known length is read without growing or copying
// it; memory grows by bodyChunk only with bytes that actually arrive.
func readAtMost(r io.Reader, max, announced int) ([]byte, error) {
	size := bodyChunk
	if announced >= 0 && announced < size {
		size = announced
	}
	buf := make([]byte, 0, size+bytes.MinRead)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, bodyChunk)
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), max+1)])
		buf = buf[:len(buf)+n]
		switch {
		case len(buf) > max:
			return nil, ErrBodyTooLarge
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return nil, fmt.Errorf("%w: %v", ErrBodyUnreadable, err)
		}
	}
}

// Encoded reports whether the request body is encoded: a Content-Encoding
// other than identity in any value of any Content-Encoding header (a later
// header would otherwise win), whatever the case of its name: the server
// normalizes header names (NewApp never turns that off), so PeekAll finds
// every one without a walk over all the headers, which allocated.
func Encoded(c *fiber.Ctx) bool {
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderContentEncoding) {
		for len(v) > 0 {
			e := v
			if i := bytes.IndexByte(v, ','); i >= 0 {
				e, v = v[:i], v[i+1:]
			} else {
				v = nil
			}
			if e = bytes.TrimSpace(e); len(e) > 0 && !bytes.EqualFold(e, identity) {
				return true
			}
		}
	}
	return false
}

// The coding Encoded compares, as bytes: no string is made of a request's
// headers.
var identity = []byte("identity")

// CloseUnread, used app-wide, closes the connection after a request whose
// route did not read a body of unknown length or of more than unreadKept
// bytes; a shorter one is read past by the server, so that the next request
// on the connection is answered.
func CloseUnread(c *fiber.Ctx) error {
	err := c.Next()
	if c.Context().RequestBodyStream() != nil {
		if n := c.Request().Header.ContentLength(); n < 0 || n > unreadKept {
			c.Context().SetConnectionClose()
		}
	}
	return err
}
