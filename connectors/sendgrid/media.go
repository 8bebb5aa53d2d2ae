package sendgrid

import (
	"context"
	"io"

	"github.com/opengateway/gateway/normalize"
)

// SendGrid has no media fetcher: Inbound Parse carries the attachments in
// the webhook body, so they are stored at ingest, before the event is
// published, and there is nothing to download later.

// MediaStore keeps attachments at ingest (media.Copier).
type MediaStore interface {
	Put(ctx context.Context, key string, r io.Reader, a normalize.Attachment) normalize.Attachment
}
