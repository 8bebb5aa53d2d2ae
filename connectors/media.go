package connectors

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/media"
)

// MediaFiles serves stored attachments: GET /media/<key>?expires=&sig=.
type MediaFiles interface {
	Verify(key string, q url.Values) error
	// Open returns a file, streamed, and its size.
	Open(ctx context.Context, key string) (f io.ReadCloser, size int64, err error)
}

// MountMedia adds the media route. A file is streamed from the store as
// the client reads it (never held whole in memory), with its
// Content-Length; the server closes it once it is sent or the client
// is gone.
func MountMedia(app *fiber.App, files MediaFiles) {
	app.Get("/media/*", func(c *fiber.Ctx) error {
		key := strings.Clone(c.Params("*"))
		q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
		if err := files.Verify(key, q); err != nil {
			return httperr.Write(c, core.EFORBIDDEN, "the link is invalid or has expired")
		}
		f, size, err := files.Open(c.UserContext(), key)
		if errors.Is(err, media.ErrNotFound) {
			return httperr.Write(c, core.ENOTFOUND, "file not found")
		}
		if err != nil {
			return httperr.Write(c, core.EINTERNAL, "internal error")
		}
		c.Set(fiber.HeaderContentType, "application/octet-stream")
		c.Set("X-Content-Type-Options", "nosniff")
		c.Set(fiber.HeaderCacheControl, "private, max-age=3600")
		return c.SendStream(f, int(size))
	})
}
