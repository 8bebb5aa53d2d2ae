package connectors

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// Page sizes of GET /v1/conversations.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// builtinRoutes are the operator API's routes, relative to /v1.
func (a *API) builtinRoutes() []apiRoute {
	return []apiRoute{
		{fiber.MethodGet, "/openapi.yaml", "", a.openAPI},
		{fiber.MethodGet, "/conversations", RoleAgent, a.listConversations},
		{fiber.MethodPost, "/conversations", RoleAgent, a.openConversation},
		{fiber.MethodGet, "/conversations/:id", RoleAgent, a.getConversation},
		{fiber.MethodDelete, "/conversations/:id", RoleAdmin, a.deleteConversation},
		{fiber.MethodGet, "/conversations/:id/messages", RoleAgent, a.conversationMessages},
		{fiber.MethodPost, "/conversations/:id/assign", RoleAgent, a.assign},
		{fiber.MethodPost, "/conversations/:id/unassign", RoleAgent, a.unassign},
		{fiber.MethodPost, "/conversations/:id/status", RoleAgent, a.setStatus},
		{fiber.MethodPost, "/conversations/:id/notes", RoleAgent, a.addNote},
		{fiber.MethodPost, "/conversations/:id/messages", RoleAgent, a.sendMessage},
		{fiber.MethodGet, "/customers", RoleAgent, a.findCustomer},
		{fiber.MethodGet, "/customers/:id", RoleAgent, a.getCustomer},
		{fiber.MethodDelete, "/customers/:id", RoleAdmin, a.eraseCustomer},
		{fiber.MethodGet, "/customers/:id/timeline", RoleAgent, a.timeline},
		{fiber.MethodPost, "/customers/:id/merge", RoleAdmin, a.merge},
		{fiber.MethodGet, "/stats", RoleAgent, a.stats},
	}
}

func (a *API) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(openAPIDocument)
}

// conversationPage is a page of GET /v1/conversations.
type conversationPage struct {
	Data       []core.Conversation `json:"data"`
	NextCursor *string             `json:"next_cursor"`
}

func (a *API) listConversations(c *fiber.Ctx) error {
	f := core.ConversationFilter{Limit: defaultPageSize}
	for _, q := range []struct {
		name string
		to   *string
	}{{"status", &f.Status}, {"inbox", &f.Inbox}, {"assignee", &f.Assignee}, {"customer_id", &f.CustomerID}} {
		v, err := query(c, q.name)
		if err != nil {
			return err
		}
		*q.to = v
	}
	switch u := c.Query("unassigned"); u {
	case "", "false":
	case "true":
		f.Unassigned = true
	default:
		return core.Errorf(core.EINVALID, "unassigned must be true or false")
	}
	if f.Unassigned && f.Assignee != "" {
		return core.Errorf(core.EINVALID, "assignee and unassigned=true exclude each other")
	}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPageSize {
			return core.Errorf(core.EINVALID, "limit must be a number from 1 to %d", maxPageSize)
		}
		f.Limit = n
	}
	if cur := c.Query("cursor"); cur != "" {
		after, err := decodeCursor(cur)
		if err != nil {
			return err
		}
		f.After = &after
	}
	want := f.Limit
	f.Limit++ // one more tells whether there is a next page
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

// cursorJSON is what an opaque cursor holds.
type cursorJSON struct {
	At int64  `json:"t"` // last_activity_at, microseconds since the epoch
	ID string `json:"id"`
}

func encodeCursor(cur core.Cursor) string {
	raw, _ := json.Marshal(cursorJSON{At: cur.LastActivityAt.UnixMicro(), ID: cur.ID})
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeCursor(s string) (core.Cursor, error) {
	bad := core.Errorf(core.EINVALID, "cursor is not one this API gave")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return core.Cursor{}, bad
	}
	var cj cursorJSON
	if err := json.Unmarshal(raw, &cj); err != nil || !validID(cj.ID) {
		return core.Cursor{}, bad
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
	return c.JSON(conv)
}

// messageList is the answer of GET /v1/conversations/{id}/messages.
type messageList struct {
	Data []core.StoredMessage `json:"data"`
}

func (a *API) conversationMessages(c *fiber.Ctx) error {
	id, err := pathID(c, "conversation")
	if err != nil {
		return err
	}
	msgs, err := a.svc.Messages(c.UserContext(), id)
	if err != nil {
		return err
	}
	if msgs == nil {
		msgs = []core.StoredMessage{}
	}
	return c.JSON(messageList{Data: msgs})
}

// channels are the channels a conversation can be opened on.
var channels = map[string]bool{
	normalize.ChannelSMS: true, normalize.ChannelMMS: true, normalize.ChannelWhatsApp: true, normalize.ChannelMessenger: true,
	normalize.ChannelInstagram: true, normalize.ChannelEmail: true, normalize.ChannelChat: true,
}

func (a *API) openConversation(c *fiber.Ctx) error {
	var req struct {
		CustomerID string  `json:"customer_id"`
		Channel    string  `json:"channel"`
		Text       *string `json:"text"`
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
	var first *core.ReplyRequest
	if req.Text != nil {
		first = &core.ReplyRequest{Text: *req.Text}
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
	var req struct{}
	if len(c.Body()) > 0 {
		if err := decodeBody(c, &req); err != nil {
			return err
		}
	}
	return a.answerConversation(c)(a.svc.Unassign(c.UserContext(), id, ActorOf(c)))
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

func (a *API) findCustomer(c *fiber.Ctx) error {
	addr, err := query(c, "address")
	if err != nil {
		return err
	}
	if strings.TrimSpace(addr) == "" {
		return core.Errorf(core.EINVALID, "address is required")
	}
	cust, err := a.svc.FindCustomer(c.UserContext(), addr)
	if err != nil {
		return err
	}
	return c.JSON(cust)
}

func (a *API) getCustomer(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	cust, err := a.svc.Customer(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(cust)
}

func (a *API) timeline(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	tl, err := a.svc.Timeline(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(tl)
}

func (a *API) merge(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	var req struct {
		From string `json:"from"`
	}
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	if req.From == "" {
		return core.Errorf(core.EINVALID, "from is required")
	}
	if !validID(req.From) {
		return core.Errorf(core.ENOTFOUND, "customer %q not found", req.From)
	}
	cust, err := a.svc.Merge(c.UserContext(), id, req.From, ActorOf(c))
	if err != nil {
		return err
	}
	setSubject(c, cust.ID)
	return c.JSON(cust)
}

func (a *API) eraseCustomer(c *fiber.Ctx) error {
	id, err := pathID(c, "customer")
	if err != nil {
		return err
	}
	if err := a.svc.EraseCustomer(c.UserContext(), id, ActorOf(c)); err != nil {
		return err
	}
	if a.idem != nil {
		// Kept responses may hold the customer's data; they would expire
		// within a day, but erasure means now.
		if err := a.idem.ForgetIdempotentResponses(c.UserContext(), id); err != nil {
			a.log.Error("api: erase kept responses of a customer", "customer_id", id, "error", err)
		}
	}
	c.Status(fiber.StatusNoContent)
	return nil
}

func (a *API) stats(c *fiber.Ctx) error {
	agent, err := query(c, "agent")
	if err != nil {
		return err
	}
	st, err := a.svc.Stats(c.UserContext(), agent)
	if err != nil {
		return err
	}
	if st.ByStatus == nil {
		st.ByStatus = map[string]int{}
	}
	return c.JSON(st)
}

// decodeBody decodes a JSON object into v: no unknown fields, nothing after it.
func decodeBody(c *fiber.Ctx, v any) error {
	body := bytes.TrimSpace(c.Body())
	if len(body) == 0 || body[0] != '{' {
		return core.Errorf(core.EINVALID, "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return core.Errorf(core.EINVALID, "invalid JSON body: %s", jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return core.Errorf(core.EINVALID, "invalid JSON body: data after the object")
	}
	// encoding/json matches names regardless of case; the API does not.
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return core.Errorf(core.EINVALID, "invalid JSON body: %s", jsonProblem(err))
	}
	known := jsonNames(reflect.TypeOf(v).Elem())
	for k := range keys {
		if !known[k] {
			return core.Errorf(core.EINVALID, "invalid JSON body: unknown field %q", k)
		}
	}
	return nil
}

// jsonNames returns the JSON names of a struct's fields.
func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names[name] = true
		}
	}
	return names
}

// jsonProblem says what is wrong with a body in the API's words, not Go's.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("%s must be %s", typ.Field, jsonKind(typ.Type.Kind().String()))
		}
		return "the body must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "truncated"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "true or false"
	}
	return "a number"
}

// validID accepts what a gateway id can look like; anything else names
// nothing that exists.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// pathID returns the :id of the path; an id no record can have is a 404.
func pathID(c *fiber.Ctx, what string) (string, error) {
	id := c.Params("id")
	if !validID(id) {
		if len(id) > 64 {
			id = id[:64] + "…"
		}
		return "", core.Errorf(core.ENOTFOUND, "%s %q not found", what, id)
	}
	return strings.Clone(id), nil
}

// query returns a query parameter, which must be printable UTF-8 of at most
// 320 bytes (the longest email address).
func query(c *fiber.Ctx, name string) (string, error) {
	v := c.Query(name)
	if v == "" {
		return "", nil
	}
	if err := checkName(name, v); err != nil {
		return "", err
	}
	return strings.Clone(v), nil
}

// checkName checks a short text (an agent, inbox, reason, address): UTF-8,
// no control characters, at most 320 bytes.
func checkName(field, v string) error {
	if len(v) > 320 || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return core.Errorf(core.EINVALID, "%s must be printable text of at most 320 bytes", field)
	}
	return nil
}
