package httpapi

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
)

// FuzzMessageCursor fuzzes the opaque cursor of message lists (a
// conversation's messages, a customer's timeline). A refusal is EINVALID;
// an accepted cursor holds a valid id and encodes back to a cursor that
// decodes to the same position; a cursor of the conversation list is never
// taken for one of a message list, nor the reverse.
func FuzzMessageCursor(f *testing.F) {
	good := *encodeMessageCursor(&core.MessageCursor{CreatedAt: time.UnixMicro(1793610060000000).UTC(), ID: "01a25108-16c5-7eba-a4a6-acc94f7e1242"})
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{good, encodeCursor(core.Cursor{LastActivityAt: time.Unix(0, 0), ID: "a"}), raw(`{"k":"m","t":-1,"id":"a"}`),
		raw(`{"k":"m","t":1e30,"id":"a"}`), raw(`{"k":"m","t":1,"id":"x' OR 1=1"}`), raw(`{"k":"m","id":"a","k":""}`), "", "%%%", "=="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cur, err := decodeMessageCursor(s)
		if _, convErr := decodeCursor(s); err == nil && convErr == nil {
			t.Fatalf("%q is a cursor of both lists", s)
		}
		if err != nil {
			if core.ErrorCode(err) != core.EINVALID {
				t.Fatalf("refused %q with %v, want invalid", s, err)
			}
			return
		}
		if !validID(cur.ID) {
			t.Fatalf("accepted id %q", cur.ID)
		}
		again, err := decodeMessageCursor(*encodeMessageCursor(&cur))
		if err != nil || !again.CreatedAt.Equal(cur.CreatedAt) || again.ID != cur.ID {
			t.Fatalf("%q: %+v does not round-trip: %+v %v", s, cur, again, err)
		}
	})
}
