package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// messageCursorKind marks a cursor of a message list, so that a cursor of
// the conversation list is refused there (and the reverse).
const messageCursorKind = "m"

// messagePage reads ?cursor=&limit= of a list of messages (a
// conversation's, a customer's timeline): limit 0 is the default page; a
// limit above core.MaxMessagePage is refused, never clamped.
func messagePage(c *fiber.Ctx) (*core.MessageCursor, int, error) {
	limit := 0
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > core.MaxMessagePage {
			return nil, 0, core.Errorf(core.EINVALID, "limit must be a number from 1 to %d", core.MaxMessagePage)
		}
		limit = n
	}
	cur := c.Query("cursor")
	if cur == "" {
		return nil, limit, nil
	}
	after, err := decodeMessageCursor(cur)
	if err != nil {
		return nil, 0, err
	}
	return &after, limit, nil
}

// encodeMessageCursor is the opaque next_cursor of a message list; nil on
// the last page.
func encodeMessageCursor(cur *core.MessageCursor) *string {
	if cur == nil {
		return nil
	}
	raw, _ := json.Marshal(cursorJSON{Kind: messageCursorKind, At: cur.CreatedAt.UnixMicro(), ID: cur.ID})
	s := base64.RawURLEncoding.EncodeToString(raw)
	return &s
}

func decodeMessageCursor(s string) (core.MessageCursor, error) {
	cj, err := parseCursor(s, messageCursorKind)
	if err != nil {
		return core.MessageCursor{}, err
	}
	return core.MessageCursor{CreatedAt: time.UnixMicro(cj.At).UTC(), ID: cj.ID}, nil
}

// parseCursor decodes an opaque cursor of a kind ("" for the conversation
// list); anything this API did not give is 400.
func parseCursor(s, kind string) (cursorJSON, error) {
	bad := core.Errorf(core.EINVALID, "cursor is not one this API gave")
	if len(s) > maxCursor {
		return cursorJSON{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursorJSON{}, bad
	}
	var cj cursorJSON
	if err := json.Unmarshal(raw, &cj); err != nil || cj.Kind != kind || !validID(cj.ID) {
		return cursorJSON{}, bad
	}
	return cj, nil
}

// maxCursor is the longest cursor accepted, in bytes (one holds a time and
// an id of at most 128 bytes).
const maxCursor = 512

// messageList is the answer of GET /v1/conversations/{id}/messages.
type messageList struct {
	Data       []core.StoredMessage `json:"data"`
	NextCursor *string              `json:"next_cursor"`
}

func (a *API) conversationMessages(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	after, limit, err := messagePage(c)
	if err != nil {
		return err
	}
	msgs, next, err := a.svc.MessagePage(c.UserContext(), id, after, limit)
	if err != nil {
		return err
	}
	return c.JSON(messageList{Data: msgs, NextCursor: encodeMessageCursor(next)})
}

// timelinePage is the answer of GET /v1/customers/{id}/timeline.
type timelinePage struct {
	core.Timeline
	NextCursor *string `json:"next_cursor"`
}

func (a *API) timeline(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	after, limit, err := messagePage(c)
	if err != nil {
		return err
	}
	tl, err := a.customers.Timeline(c.UserContext(), id, after, limit)
	if err != nil {
		return err
	}
	return c.JSON(timelinePage{Timeline: tl, NextCursor: encodeMessageCursor(tl.Next)})
}
