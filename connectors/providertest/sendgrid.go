package providertest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"testing"
)

// SendGridAPIKey is the API key the SendGrid fake accepts.
const SendGridAPIKey = "SG.fakekey.0123456789abcdef"

// SendGrid is a fake of POST /v3/mail/send.
//
// It checks: the method and path, "Authorization: Bearer <APIKey>" (or a
// key AddKey made), that the key may send from from.email (403 otherwise,
// as SendGrid refuses a from address that is no verified Sender Identity
// of the account), a JSON
// body (Content-Type application/json), personalizations (1 to 1000, each
// with a non-empty to of valid addresses), from.email, a subject (global or
// in every personalization) and content (at least one block, values non-empty,
// text/plain first) unless a template_id is given, no reserved headers, and
// attachments carrying base64 content. It answers 202 with an empty body and
// an X-Message-Id header.
type SendGrid struct {
	*Fake
	APIKey string

	mu   sync.Mutex
	sent []SendGridMail
	// identities are, by API key, the addresses (support@example.com) and
	// authenticated domains (example.com) it may send from; APIKey, until
	// AddKey names its identities, sends from any address.
	identities map[string][]string
}

// SendGridMail is a mail the SendGrid fake accepted.
type SendGridMail struct {
	MessageID string
	// APIKey is the key it was sent with.
	APIKey string
	Body   map[string]any
}

// AddKey makes the fake accept key, sending only from the sender
// identities given: an address (support@example.com, a verified single
// sender) or a domain (example.com, an authenticated domain: any address
// there). Called with APIKey, it restricts that key to them.
func (sg *SendGrid) AddKey(key string, identities ...string) {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	if sg.identities == nil {
		sg.identities = map[string][]string{}
	}
	for _, id := range identities {
		sg.identities[key] = append(sg.identities[key], strings.ToLower(id))
	}
	if len(identities) == 0 {
		sg.identities[key] = []string{}
	}
}

// known reports whether key is an API key of the fake.
func (sg *SendGrid) known(key string) bool {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	_, ok := sg.identities[key]
	return ok || key == sg.APIKey
}

// maySend reports whether key may send from the address from.
func (sg *SendGrid) maySend(key, from string) bool {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	ids, ok := sg.identities[key]
	if !ok {
		return key == sg.APIKey
	}
	from = strings.ToLower(from)
	_, domain, _ := strings.Cut(from, "@")
	for _, id := range ids {
		if id == from || id == domain {
			return true
		}
	}
	return false
}

// Headers SendGrid does not let a sender set (from the OpenAPI document).
var sendgridReserved = map[string]bool{
	"x-sg-id": true, "x-sg-eid": true, "received": true, "dkim-signature": true, "content-type": true,
	"content-transfer-encoding": true, "to": true, "from": true, "subject": true, "reply-to": true, "cc": true, "bcc": true,
}

// NewSendGrid starts a SendGrid fake that accepts SendGridAPIKey; it stops
// when the test ends.
func NewSendGrid(t testing.TB) *SendGrid {
	t.Helper()
	sg := &SendGrid{APIKey: SendGridAPIKey}
	sg.Fake = newFake(t, sg.handle, func(status int) string {
		msg := strings.ToLower(http.StatusText(status))
		if status == http.StatusInternalServerError {
			return `{"errors":[{"message":"internal server error"}]}`
		}
		return fmt.Sprintf(`{"errors":[{"field":null,"message":%q}]}`, msg)
	})
	return sg
}

// Mails returns the mails accepted so far.
func (sg *SendGrid) Mails() []SendGridMail {
	sg.mu.Lock()
	defer sg.mu.Unlock()
	return append([]SendGridMail(nil), sg.sent...)
}

func sgFail(w http.ResponseWriter, status int, field, msg string) bool {
	var f any
	if field != "" {
		f = field
	}
	writeJSON(w, status, map[string]any{"errors": []any{map[string]any{"field": f, "message": msg, "help": nil}}})
	return false
}

func (sg *SendGrid) handle(w http.ResponseWriter, r *http.Request, req *Request) bool {
	if r.URL.Path != "/v3/mail/send" {
		return sgFail(w, 404, "", "not found")
	}
	if r.Method != http.MethodPost {
		return sgFail(w, 405, "", "method not allowed")
	}
	key, ok := bearer(r.Header)
	if !ok || !sg.known(key) {
		return sgFail(w, 401, "", "The provided authorization grant is invalid, expired, or revoked")
	}
	if mediaType(r.Header) != "application/json" {
		return sgFail(w, 400, "", "Content-Type should be application/json.")
	}
	if req.JSON == nil {
		return sgFail(w, 400, "", "Bad Request")
	}
	if field, msg := validateMail(req.JSON); msg != "" {
		return sgFail(w, 400, field, msg)
	}
	from, _ := req.JSON["from"].(map[string]any)
	if addr, _ := from["email"].(string); !sg.maySend(key, addr) {
		return sgFail(w, 403, "from", "The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements")
	}
	id := randomString(22, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
	sg.mu.Lock()
	sg.sent = append(sg.sent, SendGridMail{MessageID: id, APIKey: key, Body: req.JSON})
	sg.mu.Unlock()
	w.Header().Set("X-Message-Id", id)
	w.WriteHeader(http.StatusAccepted)
	return true
}

// validateMail checks a mail/send body as SendGrid does, returning the field
// and message of the first error SendGrid would report (or "", "").
func validateMail(m map[string]any) (field, msg string) {
	for _, check := range []func(map[string]any) (string, string){validateFrom, validatePersonalizations, validateContent, validateExtras} {
		if field, msg := check(m); field != "" {
			return field, msg
		}
	}
	return "", ""
}

func validAddr(v any) bool {
	s, _ := v.(string)
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

func validateFrom(m map[string]any) (field, msg string) {
	from, _ := m["from"].(map[string]any)
	if from == nil || from["email"] == nil {
		return "from", "The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter."
	}
	if !validAddr(from["email"]) {
		return "from.email", "The from email does not contain a valid address."
	}
	return "", ""
}

func validatePersonalizations(m map[string]any) (field, msg string) {
	pers, _ := m["personalizations"].([]any)
	if len(pers) == 0 {
		return "personalizations", "The personalizations field is required and must have at least one personalization."
	}
	if len(pers) > 1000 {
		return "personalizations", "The personalizations field must have no more than 1000 personalizations."
	}
	_, hasTemplate := m["template_id"].(string)
	subject, _ := m["subject"].(string)
	allSubjects := true
	for i, p := range pers {
		p, _ := p.(map[string]any)
		to, _ := p["to"].([]any)
		if len(to) == 0 {
			return fmt.Sprintf("personalizations.%d.to", i), "The to array is required for all personalization objects, and must have at least one email object with a valid email address."
		}
		for j, e := range to {
			e, _ := e.(map[string]any)
			if e == nil || !validAddr(e["email"]) {
				return fmt.Sprintf("personalizations.%d.to.%d.email", i, j), "Does not contain a valid address."
			}
		}
		if s, _ := p["subject"].(string); s == "" {
			allSubjects = false
		}
	}
	if subject == "" && !allSubjects && !hasTemplate {
		return "subject", "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined."
	}
	return "", ""
}

func validateContent(m map[string]any) (field, msg string) {
	_, hasTemplate := m["template_id"].(string)
	content, _ := m["content"].([]any)
	if len(content) == 0 && !hasTemplate {
		return "content", "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required."
	}
	for i, c := range content {
		c, _ := c.(map[string]any)
		typ, _ := c["type"].(string)
		val, _ := c["value"].(string)
		if typ == "" {
			return fmt.Sprintf("content.%d.type", i), "The content type must be a string at least one character in length."
		}
		if val == "" {
			return fmt.Sprintf("content.%d.value", i), "The content value must be a string at least one character in length."
		}
		if typ == "text/plain" && i != 0 {
			return fmt.Sprintf("content.%d.type", i), "If present, text/plain must be first, followed by text/html, followed by any other content."
		}
	}
	return "", ""
}

func validateExtras(m map[string]any) (field, msg string) {
	if h, ok := m["headers"].(map[string]any); ok {
		for k, v := range h {
			if sendgridReserved[strings.ToLower(k)] {
				return "headers", "The following header is reserved and cannot be set: " + k
			}
			if _, ok := v.(string); !ok {
				return "headers", "Invalid type. Expected: string, given: " + fmt.Sprintf("%T", v)
			}
		}
	}
	atts, _ := m["attachments"].([]any)
	for i, a := range atts {
		a, _ := a.(map[string]any)
		c, _ := a["content"].(string)
		if _, err := base64.StdEncoding.DecodeString(c); c == "" || err != nil {
			return fmt.Sprintf("attachments.%d.content", i), "The attachment content must be base64 encoded."
		}
		if fn, _ := a["filename"].(string); fn == "" {
			return fmt.Sprintf("attachments.%d.filename", i), "The attachment filename parameter is required."
		}
	}
	return "", ""
}
