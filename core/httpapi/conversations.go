package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// Page sizes of GET /v1/conversations.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// conversationPage is a page of GET /v1/conversations.
type conversationPage struct {
	Data       []core.Conversation `json:"data"`
	NextCursor *string             `json:"next_cursor"`
}

func (a *API) listConversations(c *fiber.Ctx) error {
	f, err := conversationFilter(c)
	if err != nil {
		return err
	}
	want := f.Limit
	f.Limit++            // one more tells whether there is a next page
	f.UnreadOf = meOf(c) // the page and the caller's unread counts in one read
	convs, err := a.svc.ListConversations(c.UserContext(), f)
	if err != nil {
		return err
	}
	page := conversationPage{Data: convs}
	if len(convs) > want {
		page.Data = convs[:want]
		last := page.Data[want-1]
		next := encodeCursor(core.Cursor{LastActivityAt: last.LastActivityAt, ID: last.ID})
		page.NextCursor = &next
	}
	if page.Data == nil {
		page.Data = []core.Conversation{}
	}
	return c.JSON(page)
}

// conversationFilter reads the query of GET /v1/conversations.
func conversationFilter(c *fiber.Ctx) (core.ConversationFilter, error) {
	f := core.ConversationFilter{Limit: defaultPageSize}
	for _, q := range []struct {
		name string
		to   *string
	}{{"status", &f.Status}, {"inbox", &f.Inbox}, {"assignee", &f.Assignee}, {"customer_id", &f.CustomerID}, {"topic", &f.Topic}} {
		v, err := query(c, q.name)
		if err != nil {
			return f, err
		}
		*q.to = v
	}
	switch u := c.Query("unassigned"); u {
	case "", "false":
	case "true":
		f.Unassigned = true
	default:
		return f, core.Errorf(core.EINVALID, "unassigned must be true or false")
	}
	if f.Assignee == "me" {
		if f.Assignee = meOf(c); f.Assignee == "" {
			return f, core.Errorf(core.EINVALID, "assignee=me needs a named token or X-Agent")
		}
		// My inbox (Converso): "This excludes closed conversations."
		f.Active = f.Status == ""
	}
	if err := todoFilter(c, &f); err != nil {
		return f, err
	}
	if f.Unassigned && f.Assignee != "" {
		return f, core.Errorf(core.EINVALID, "assignee and unassigned=true exclude each other")
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPageSize {
			return f, core.Errorf(core.EINVALID, "limit must be a number from 1 to %d", maxPageSize)
		}
		f.Limit = n
	}
	if cur := c.Query("cursor"); cur != "" {
		after, err := decodeCursor(cur)
		if err != nil {
			return f, err
		}
		f.After = &after
	}
	return f, nil
}

// todoFilter reads the filters of the to-do views behind the dashboard
// tiles: unreplied=true, unread=true (for the caller), channel=, entry_point=
// and handler=.
func todoFilter(c *fiber.Ctx, f *core.ConversationFilter) error {
	var err error
	if f.Unreplied, err = boolQuery(c, "unreplied"); err != nil {
		return err
	}
	unread, err := boolQuery(c, "unread")
	if err != nil {
		return err
	}
	if unread {
		if f.UnreadBy = meOf(c); f.UnreadBy == "" {
			return core.Errorf(core.EINVALID, "unread=true needs a named token or X-Agent")
		}
	}
	if f.Channel = strings.Clone(c.Query("channel")); f.Channel != "" && !channels[f.Channel] {
		return core.Errorf(core.EINVALID, "channel must be one of sms, mms, whatsapp, messenger, instagram, email, chat")
	}
	if f.EntryPoint = strings.Clone(c.Query("entry_point")); f.EntryPoint != "" {
		if err := core.CheckEntryPoint(f.EntryPoint); err != nil {
			return err
		}
	}
	f.Handler = strings.Clone(c.Query("handler"))
	if f.Handler != "" && f.Handler != core.ActorBot && core.CheckHandler(f.Handler) != nil {
		return core.Errorf(core.EINVALID, "handler must be human, bot or bot:<name>")
	}
	return nil
}

// boolQuery reads a query parameter that is true, false or absent (false).
func boolQuery(c *fiber.Ctx, name string) (bool, error) {
	switch c.Query(name) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, core.Errorf(core.EINVALID, "%s must be true or false", name)
}

// cursorJSON is what an opaque cursor holds.
type cursorJSON struct {
	Kind string `json:"k,omitempty"` // "" for the conversation list, messageCursorKind
	At   int64  `json:"t"`           // last_activity_at or created_at, microseconds since the epoch
	ID   string `json:"id"`
}

func encodeCursor(cur core.Cursor) string {
	raw, _ := json.Marshal(cursorJSON{At: cur.LastActivityAt.UnixMicro(), ID: cur.ID})
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeCursor(s string) (core.Cursor, error) {
	cj, err := parseCursor(s, "")
	if err != nil {
		return core.Cursor{}, err
	}
	return core.Cursor{LastActivityAt: time.UnixMicro(cj.At).UTC(), ID: cj.ID}, nil
}

func (a *API) getConversation(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	conv, err := a.svc.Conversation(c.UserContext(), id)
	if err != nil {
		return err
	}
	one := []core.Conversation{conv}
	if err := a.agents.ShowUnread(c.UserContext(), meOf(c), one); err != nil {
		return err
	}
	return c.JSON(one[0])
}

// channels are the channels a conversation can be opened on.
var channels = map[string]bool{
	normalize.ChannelSMS: true, normalize.ChannelMMS: true, normalize.ChannelWhatsApp: true, normalize.ChannelMessenger: true,
	normalize.ChannelInstagram: true, normalize.ChannelEmail: true, normalize.ChannelChat: true,
}

func (a *API) openConversation(c *fiber.Ctx) error {
	var req struct {
		CustomerID string              `json:"customer_id"`
		Channel    string              `json:"channel"`
		Text       *string             `json:"text"`
		Template   *normalize.Template `json:"template"`
		Subject    string              `json:"subject"`
		EntryPoint string              `json:"entry_point"`
	}
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.CustomerID == "" {
		return core.Errorf(core.EINVALID, "customer_id is required")
	}
	if !validID(req.CustomerID) {
		return core.Errorf(core.ENOTFOUND, "customer %q not found", req.CustomerID)
	}
	if req.Channel != "" && !channels[req.Channel] {
		return core.Errorf(core.EINVALID, "channel must be one of sms, mms, whatsapp, messenger, instagram, email, chat")
	}
	first := core.FirstMessage(req.Text, req.Template, req.Subject)
	if req.EntryPoint != "" {
		if first == nil {
			return core.Errorf(core.EINVALID, "entry_point names where the first message leaves from: give text or template")
		}
		first.EntryPoint = req.EntryPoint
	}
	conv, msg, err := a.svc.OpenConversation(c.UserContext(), req.CustomerID, req.Channel, first, ActorOf(c))
	if err != nil {
		return err
	}
	setSubject(c, conv.CustomerID)
	if msg != nil {
		c.Set(HeaderMessageID, msg.ID)
	}
	return c.Status(fiber.StatusCreated).JSON(conv)
}

// HeaderMessageID names the first message queued with a proactive conversation.
const HeaderMessageID = "X-Gateway-Message-Id"

// sendMessage queues a reply: 202 {"id", "status": "queued"}.
func (a *API) sendMessage(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	var req core.ReplyRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	msg, err := a.svc.Reply(c.UserContext(), id, req, ActorOf(c))
	if err != nil {
		return err
	}
	setSubject(c, msg.CustomerID)
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"id": msg.ID, "status": msg.Status})
}

func (a *API) assign(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	var req struct {
		Agent string `json:"agent"`
		Inbox string `json:"inbox"`
	}
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.Agent == "" {
		return core.Errorf(core.EINVALID, "agent is required")
	}
	if err := checkName("agent", req.Agent); err != nil {
		return err
	}
	if req.Inbox != "" {
		if err := checkName("inbox", req.Inbox); err != nil {
			return err
		}
	}
	return a.answerConversation(c)(a.svc.Assign(c.UserContext(), id, req.Agent, req.Inbox, ActorOf(c)))
}

func (a *API) unassign(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	var req struct {
		Agent string `json:"agent"`
	}
	if len(c.Body()) > 0 {
		if err := decodeBody(c, &req); err != nil {
			return err
		}
	}
	if err := checkName("agent", req.Agent); err != nil {
		return err
	}
	return a.answerConversation(c)(a.svc.UnassignAgent(c.UserContext(), id, req.Agent, ActorOf(c)))
}

func (a *API) setStatus(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	var req struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	switch req.Status {
	case core.StatusWaiting, core.StatusClosed, core.StatusOpen:
	case "":
		return core.Errorf(core.EINVALID, "status is required")
	default:
		return core.Errorf(core.EINVALID, "status must be waiting, closed or open")
	}
	if req.Reason != "" {
		if err := checkName("reason", req.Reason); err != nil {
			return err
		}
	}
	return a.answerConversation(c)(a.svc.SetStatus(c.UserContext(), id, req.Status, req.Reason, ActorOf(c)))
}

// answerConversation answers a conversation, or the error getting it.
func (a *API) answerConversation(c *fiber.Ctx) func(core.Conversation, error) error {
	return func(conv core.Conversation, err error) error {
		if err != nil {
			return err
		}
		setSubject(c, conv.CustomerID)
		return c.JSON(conv)
	}
}

// maxNote is the longest private note, in bytes.
const maxNote = 64 << 10

func (a *API) addNote(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	var req struct {
		Text string `json:"text"`
	}
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Text) == "" {
		return core.Errorf(core.EINVALID, "text is required")
	}
	if len(req.Text) > maxNote || strings.ContainsRune(req.Text, 0) {
		return core.Errorf(core.EINVALID, "text must be at most %d bytes, without NUL characters", maxNote)
	}
	note, err := a.svc.AddNote(c.UserContext(), id, req.Text, ActorOf(c))
	if err != nil {
		return err
	}
	setSubject(c, note.CustomerID)
	return c.Status(fiber.StatusCreated).JSON(note)
}

func (a *API) deleteConversation(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	if err := a.svc.DeleteConversation(c.UserContext(), id, ActorOf(c)); err != nil {
		return err
	}
	c.Status(fiber.StatusNoContent)
	return nil
}
