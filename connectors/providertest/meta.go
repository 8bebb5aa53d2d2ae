package providertest

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// Credentials and ids the Meta fake accepts.
const (
	MetaWhatsAppToken  = "EAAwhatsappFakeToken123"
	MetaPageToken      = "EAApageFakeToken456"
	MetaPhoneNumberID  = "106540352242922"
	MetaGraphVersion   = "v23.0"
	metaTraceAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	metaWamidAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	messengerTextLimit = 2000
)

// Meta is a fake of the Graph API send endpoints:
// POST /{version}/{phone_number_id}/messages (WhatsApp Cloud API) and
// POST /{version}/me/messages (Messenger and Instagram Send API).
//
// WhatsApp checks (from the v23.0 OpenAPI document): the version shape,
// a known phone number id, "Authorization: Bearer <WhatsAppToken>", exactly
// Content-Type application/json, a User-Agent of the form name/1.2.3 when one
// is sent (StrictUserAgent), messaging_product "whatsapp", recipient_type
// individual|group, to, type and its object (text.body 1–4096 characters,
// media with exactly one of id or link and a caption of at most 1024, no
// caption on audio, template name and language {policy, code}). It answers
// 200 {messaging_product, contacts, messages: [{id: "wamid…"}]}.
//
// Messenger/Instagram checks: the page token (Bearer header or access_token
// query parameter), recipient.id, messaging_type RESPONSE|UPDATE|MESSAGE_TAG
// with a tag when MESSAGE_TAG, message with either text (at most 2000
// characters) or an attachment {type, payload {url|attachment_id}}. It
// answers 200 {recipient_id, message_id}.
//
// Errors use the Graph envelope {"error": {message, type, code,
// error_subcode, fbtrace_id}}.
type Meta struct {
	*Fake
	WhatsAppToken  string
	PageToken      string
	PhoneNumberIDs []string
	// StrictUserAgent rejects a User-Agent that does not match the pattern of
	// the WhatsApp OpenAPI document (name/1.2.3[;extra]). Default true.
	StrictUserAgent bool

	mu   sync.Mutex
	sent []MetaMessage
	// numbers are the phone number ids AddPhoneNumber gave a token of
	// their own; pages the page (or Instagram account) of each page token
	// AddPage gave; media the files AddMedia stored, by media id.
	numbers map[string]string
	pages   map[string]string
	media   map[string]metaMedia
	// attachments are the Messenger files AddAttachment stored, by name.
	attachments map[string]metaMedia
}

// metaMedia is a WhatsApp media file and the number it was sent to.
type metaMedia struct {
	phoneNumberID, contentType string
	data                       []byte
}

// AddPhoneNumber makes the fake know a WhatsApp phone number id whose
// sends (and media) need token: another number's token, or the default
// WhatsAppToken, is refused as the Graph API does (401, code 190).
func (m *Meta) AddPhoneNumber(phoneNumberID, token string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.numbers[phoneNumberID] = token
}

// AddPage makes the fake know a page (or Instagram account) whose page
// access token is token: a send to /me/messages with it is recorded as
// sent by that page (MetaMessage.Page).
func (m *Meta) AddPage(pageID, token string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pages[token] = pageID
}

// AddMedia stores a WhatsApp media file sent to phoneNumberID: GET
// /{version}/{mediaID} answers its short-lived URL and GET on that URL the
// file, both only with that number's token.
func (m *Meta) AddMedia(phoneNumberID, mediaID, contentType string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.media[mediaID] = metaMedia{phoneNumberID: phoneNumberID, contentType: contentType, data: data}
}

// AddAttachment stores a file of a message to pageID (or an Instagram
// account): GET on AttachmentURL(name) answers it only with that page's
// token (AddPage).
func (m *Meta) AddAttachment(pageID, name, contentType string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attachments[name] = metaMedia{phoneNumberID: pageID, contentType: contentType, data: data}
}

// AttachmentURL is the URL of an AddAttachment file, on the fake's origin
// (the Graph API's, where the gateway sends a page's token).
func (m *Meta) AttachmentURL(name string) string { return m.URL + "/messenger_attachments/" + name }

// numberToken is the token phoneNumberID's sends need.
func (m *Meta) numberToken(phoneNumberID string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if tok, ok := m.numbers[phoneNumberID]; ok {
		return tok
	}
	return m.WhatsAppToken
}

// pageOf is the page a page token belongs to: "" for the default
// PageToken, ok false for a token no page has.
func (m *Meta) pageOf(token string) (page string, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, found := m.pages[token]; found {
		return p, true
	}
	return "", token == m.PageToken
}

// MetaMessage is a message the Meta fake accepted.
type MetaMessage struct {
	ID string
	// PhoneNumberID is the sending WhatsApp number id, "me" for Messenger.
	PhoneNumberID string
	// Page is the page whose token sent a Messenger or Instagram message
	// (AddPage); "" for the default PageToken and on WhatsApp.
	Page string
	Body map[string]any
}

var (
	metaPath      = regexp.MustCompile(`^/(v[0-9]+\.[0-9]+)/([^/]+)/messages$`)
	metaUserAgent = regexp.MustCompile(`^[a-zA-Z0-9\-_]+/[0-9]+\.[0-9]+\.[0-9]+(;[a-zA-Z0-9\-=\.]+)?(\s+[a-zA-Z0-9\-_]+/[0-9\-\.]+)?$`)
	messengerTags = []string{"CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", "HUMAN_AGENT"}
)

// NewMeta starts a Meta Graph fake accepting MetaWhatsAppToken for
// MetaPhoneNumberID and MetaPageToken for /me/messages; it stops when the
// test ends.
func NewMeta(t testing.TB) *Meta {
	t.Helper()
	m := &Meta{
		WhatsAppToken: MetaWhatsAppToken, PageToken: MetaPageToken,
		PhoneNumberIDs: []string{MetaPhoneNumberID}, StrictUserAgent: true,
		numbers: map[string]string{}, pages: map[string]string{}, media: map[string]metaMedia{},
		attachments: map[string]metaMedia{},
	}
	m.Fake = newFake(t, m.handle, func(status int) string {
		switch {
		case status == http.StatusTooManyRequests:
			return MetaErrorBody(130429, 0, "(#130429) Rate limit hit", "OAuthException")
		case status >= 500:
			return MetaErrorBody(2, 0, "An unexpected error has occurred. Please retry your request later.", "OAuthException")
		}
		return MetaErrorBody(100, 0, "(#100) Invalid parameter", "OAuthException")
	})
	return m
}

// MetaErrorBody is a Graph API error body, for FailNext.
func MetaErrorBody(code, subcode int, message, typ string) string {
	sub := ""
	if subcode != 0 {
		sub = fmt.Sprintf(`,"error_subcode":%d`, subcode)
	}
	return fmt.Sprintf(`{"error":{"message":%q,"type":%q,"code":%d%s,"fbtrace_id":%q}}`,
		message, typ, code, sub, randomString(11, metaTraceAlphabet))
}

// Messages returns the messages accepted so far.
func (m *Meta) Messages() []MetaMessage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]MetaMessage(nil), m.sent...)
}

func metaFail(w http.ResponseWriter, status, code, subcode int, msg string) bool {
	typ := "OAuthException"
	if code == 100 && subcode == 33 {
		typ = "GraphMethodException"
	}
	e := map[string]any{"message": msg, "type": typ, "code": code, "fbtrace_id": randomString(11, metaTraceAlphabet)}
	if subcode != 0 {
		e["error_subcode"] = subcode
	}
	writeJSON(w, status, map[string]any{"error": e})
	return false
}

func (m *Meta) handle(w http.ResponseWriter, r *http.Request, req *Request) bool {
	if r.Method == http.MethodGet {
		return m.serveMedia(w, r)
	}
	p := metaPath.FindStringSubmatch(r.URL.Path)
	if p == nil {
		return metaFail(w, 400, 2500, 0, "Unknown path components: "+r.URL.Path)
	}
	if r.Method != http.MethodPost {
		return metaFail(w, 400, 100, 0, "(#100) Unsupported method")
	}
	id := p[2]
	token, ok := bearer(r.Header)
	if !ok && id == "me" {
		token, ok = r.URL.Query().Get("access_token"), r.URL.Query().Get("access_token") != ""
	}
	if !ok {
		return metaFail(w, 400, 2500, 0, "An active access token must be used to query information about the current user.")
	}
	page, pageOK := m.pageOf(token)
	if id == "me" && !pageOK || id != "me" && token != m.numberToken(id) {
		return metaFail(w, 401, 190, 0, "Invalid OAuth access token - Cannot parse access token")
	}
	if id != "me" && !slices.Contains(m.PhoneNumberIDs, id) && !m.knownNumber(id) {
		return metaFail(w, 400, 100, 33, fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", id))
	}
	if mediaType(r.Header) != "application/json" {
		return metaFail(w, 400, 100, 0, "(#100) Content-Type must be application/json")
	}
	if ua := r.Header.Get("User-Agent"); id != "me" && m.StrictUserAgent && ua != "" && !metaUserAgent.MatchString(ua) {
		return metaFail(w, 400, 100, 0, "(#100) Invalid User-Agent header: "+ua)
	}
	if req.JSON == nil {
		return metaFail(w, 400, 100, 0, "(#100) The request body must be a JSON object")
	}
	var resp map[string]any
	var mid string
	if id == "me" {
		if msg := validateMessenger(req.JSON); msg != "" {
			return metaFail(w, 400, 100, 0, msg)
		}
		mid = "m_" + randomString(40, metaTraceAlphabet)
		recipient, _ := req.JSON["recipient"].(map[string]any)
		resp = map[string]any{"recipient_id": recipient["id"], "message_id": mid}
	} else {
		if msg := validateWhatsApp(req.JSON); msg != "" {
			return metaFail(w, 400, 100, 0, msg)
		}
		to, _ := req.JSON["to"].(string)
		mid = "wamid.HBgL" + randomString(44, metaWamidAlphabet)
		message := map[string]any{"id": mid}
		if req.JSON["type"] == "template" {
			message["message_status"] = "accepted"
		}
		resp = map[string]any{
			"messaging_product": "whatsapp",
			"contacts":          []any{map[string]any{"input": to, "wa_id": strings.TrimPrefix(to, "+")}},
			"messages":          []any{message},
		}
	}
	m.mu.Lock()
	if id != "me" {
		page = ""
	}
	m.sent = append(m.sent, MetaMessage{ID: mid, PhoneNumberID: id, Page: page, Body: req.JSON})
	m.mu.Unlock()
	w.Header().Set("facebook-api-version", p[1])
	writeJSON(w, http.StatusOK, resp)
	return true
}

func (m *Meta) knownNumber(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.numbers[id]
	return ok
}

var (
	metaMediaPath = regexp.MustCompile(`^/(v[0-9]+\.[0-9]+)/([0-9]+)$`)
	metaFilePath  = regexp.MustCompile(`^/whatsapp_business/attachments/([0-9]+)$`)
	metaPagePath  = regexp.MustCompile(`^/messenger_attachments/([A-Za-z0-9._-]+)$`)
)

// serveAttachment answers a page's file only with that page's token.
func (m *Meta) serveAttachment(w http.ResponseWriter, r *http.Request, name string) bool {
	m.mu.Lock()
	f, ok := m.attachments[name]
	m.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		return false
	}
	token, _ := bearer(r.Header)
	if page, ok := m.pageOf(token); !ok || page != f.phoneNumberID {
		return metaFail(w, 401, 190, 0, "Invalid OAuth access token - Cannot parse access token")
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Write(f.data)
	return false
}

// serveMedia answers a WhatsApp media id with its URL (GET
// /{version}/{media-id}) and that URL with the file, each only with the
// token of the number the media was sent to.
func (m *Meta) serveMedia(w http.ResponseWriter, r *http.Request) bool {
	var id string
	if p := metaPagePath.FindStringSubmatch(r.URL.Path); p != nil {
		return m.serveAttachment(w, r, p[1])
	}
	if p := metaMediaPath.FindStringSubmatch(r.URL.Path); p != nil {
		id = p[2]
	} else if p := metaFilePath.FindStringSubmatch(r.URL.Path); p != nil {
		id = p[1]
	} else {
		return metaFail(w, 400, 2500, 0, "Unknown path components: "+r.URL.Path)
	}
	m.mu.Lock()
	f, ok := m.media[id]
	m.mu.Unlock()
	if !ok {
		return metaFail(w, 400, 100, 33, fmt.Sprintf("Unsupported get request. Object with ID '%s' does not exist.", id))
	}
	if token, ok := bearer(r.Header); !ok || token != m.numberToken(f.phoneNumberID) {
		return metaFail(w, 401, 190, 0, "Invalid OAuth access token - Cannot parse access token")
	}
	if metaFilePath.MatchString(r.URL.Path) {
		w.Header().Set("Content-Type", f.contentType)
		w.Write(f.data)
		return false
	}
	writeJSON(w, http.StatusOK, map[string]any{"url": m.URL + "/whatsapp_business/attachments/" + id + "?ext=1",
		"mime_type": f.contentType, "id": id, "file_size": len(f.data), "messaging_product": "whatsapp"})
	return false
}

func validateWhatsApp(b map[string]any) string {
	if b["messaging_product"] != "whatsapp" {
		return "(#100) The parameter messaging_product is required."
	}
	if rt, ok := b["recipient_type"].(string); !ok || rt != "individual" && rt != "group" {
		return "(#100) Param recipient_type must be one of {individual, group}"
	}
	if to, _ := b["to"].(string); to == "" {
		return "(#100) The parameter to is required."
	}
	typ, _ := b["type"].(string)
	obj, _ := b[typ].(map[string]any)
	switch typ {
	case "text":
		body, _ := obj["body"].(string)
		if body == "" {
			return "(#100) Param text['body'] is required."
		}
		if utf8.RuneCountInString(body) > 4096 {
			return "(#100) Param text['body'] must be at most 4096 characters long."
		}
		for k := range obj {
			if k != "body" && k != "preview_url" {
				return fmt.Sprintf("(#100) Param text['%s'] is not a valid parameter", k)
			}
		}
	case "image", "video", "audio", "document", "sticker":
		if obj == nil {
			return fmt.Sprintf("(#100) Param %s is required.", typ)
		}
		_, hasID := obj["id"].(string)
		_, hasLink := obj["link"].(string)
		if hasID == hasLink {
			return fmt.Sprintf("(#100) Param %s must contain exactly one of id or link", typ)
		}
		if c, ok := obj["caption"].(string); ok {
			if typ == "audio" || typ == "sticker" {
				return fmt.Sprintf("(#100) Param %s['caption'] is not a valid parameter", typ)
			}
			if utf8.RuneCountInString(c) > 1024 {
				return fmt.Sprintf("(#100) Param %s['caption'] must be at most 1024 characters long.", typ)
			}
		}
	case "template":
		if name, _ := obj["name"].(string); name == "" {
			return "(#100) Param template['name'] is required."
		}
		lang, _ := obj["language"].(map[string]any)
		if code, _ := lang["code"].(string); code == "" {
			return "(#100) Param template['language']['code'] is required."
		}
		if lang["policy"] != "deterministic" {
			return "(#100) Param template['language']['policy'] must be deterministic."
		}
		if c, ok := obj["components"]; ok {
			if _, ok := c.([]any); !ok {
				return "(#100) Param template['components'] must be an array."
			}
		}
	case "":
		return "(#100) The parameter type is required."
	default:
		if obj == nil {
			return fmt.Sprintf("(#100) Param %s is required.", typ)
		}
	}
	return ""
}

func validateMessenger(b map[string]any) string {
	recipient, _ := b["recipient"].(map[string]any)
	if id, _ := recipient["id"].(string); id == "" {
		return "(#100) param recipient must be non-empty."
	}
	mt, _ := b["messaging_type"].(string)
	switch mt {
	case "RESPONSE", "UPDATE":
	case "MESSAGE_TAG":
		tag, _ := b["tag"].(string)
		if !slices.Contains(messengerTags, tag) {
			return "(#100) Param tag must be one of {" + strings.Join(messengerTags, ", ") + "}"
		}
	default:
		return "(#100) Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}"
	}
	msg, _ := b["message"].(map[string]any)
	if msg == nil {
		return "(#100) param message must be non-empty."
	}
	text, hasText := msg["text"].(string)
	att, hasAtt := msg["attachment"].(map[string]any)
	switch {
	case hasText == hasAtt:
		return "(#100) Exactly one of message[text] or message[attachment] must be set"
	case hasText && text == "":
		return "(#100) param message[text] must be non-empty."
	case hasText && utf8.RuneCountInString(text) > messengerTextLimit:
		return "(#100) param message[text] must be UTF-8 encoded and at most 2000 characters"
	case hasAtt:
		typ, _ := att["type"].(string)
		if !slices.Contains([]string{"image", "video", "audio", "file", "template"}, typ) {
			return "(#100) param message[attachment][type] must be one of {image, video, audio, file, template}"
		}
		payload, _ := att["payload"].(map[string]any)
		u, _ := payload["url"].(string)
		aid, _ := payload["attachment_id"].(string)
		if typ != "template" && u == "" && aid == "" {
			return "(#100) param message[attachment][payload] must have a url or an attachment_id"
		}
	}
	return ""
}
