package providertest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Credentials the Twilio fake accepts. The Account SID has the shape the
// OpenAPI document requires (^AC[0-9a-fA-F]{32}$); both are alphanumeric, as
// twilio-go requires before it sends anything.
const (
	TwilioAccountSID = "AC0123456789abcdef0123456789abcdef"
	TwilioAuthToken  = "authtoken0123456789"
)

// Twilio magic recipient numbers (as on Twilio's test credentials): a send
// to one of them fails with the given error code.
const (
	TwilioInvalidNumber      = "+15005550001" // 21211 invalid 'To' number
	TwilioUnsubscribedNumber = "+15005550004" // 21610 recipient replied STOP
	TwilioNotMobileNumber    = "+15005550009" // 21614 'To' is not a mobile number
	TwilioOutsideWindow      = "+15005550063" // 63016 WhatsApp free-form outside the 24-hour window
)

// Twilio is a fake of POST /2010-04-01/Accounts/{AccountSid}/Messages.json.
//
// It checks: the method and URL shape, the Account SID shape and that it
// matches HTTP basic auth (AccountSID:AuthToken), the form content type, To
// (E.164, optionally "whatsapp:"), From or MessagingServiceSid, one of Body,
// MediaUrl or ContentSid, Body at most 1600 characters, at most 10 MediaUrl,
// ContentVariables a JSON object (with ContentSid), and that From and To are
// on the same channel. It answers 201 with a message resource (sid SM…).
//
// Idempotency: a request repeating an I-Twilio-Idempotency-Token already
// accepted gets the same message back and is not counted as a new send.
type Twilio struct {
	*Fake
	AccountSID string
	AuthToken  string

	mu sync.Mutex
	// accounts are the further accounts AddAccount made, by SID: each
	// answers only to its own auth token.
	accounts   map[string]string
	byToken    map[string][]byte
	messages   []TwilioMessage
	recordings map[string][]byte
	fetches    map[string]int
}

var twilioRecording = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Recordings/(RE[0-9a-zA-Z]+)\.mp3$`)

// AddRecording keeps an MP3 recording of the fake's account and returns
// its RecordingUrl (without an extension, as Twilio sends it). GET
// RecordingUrl.mp3 serves it, with the account's basic auth only (401
// otherwise, 404 for another account or sid).
func (tw *Twilio) AddRecording(sid string, mp3 []byte) string {
	return tw.AddRecordingOf(tw.AccountSID, sid, mp3)
}

// AddRecordingOf keeps an MP3 recording of the account account (the
// fake's, or one AddAccount made), served as AddRecording's are, with that
// account's basic auth only.
func (tw *Twilio) AddRecordingOf(account, sid string, mp3 []byte) string {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.recordings == nil {
		tw.recordings = map[string][]byte{}
	}
	tw.recordings[account+"/"+sid] = mp3
	return tw.URL + "/2010-04-01/Accounts/" + account + "/Recordings/" + sid
}

// RecordingFetches are how many times each account's recordings were
// served, by account SID.
func (tw *Twilio) RecordingFetches() map[string]int {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return maps.Clone(tw.fetches)
}

// AddAccount makes the fake accept a further account: a send under sid
// with another account's auth token is 401, as Twilio answers.
func (tw *Twilio) AddAccount(sid, authToken string) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.accounts == nil {
		tw.accounts = map[string]string{}
	}
	tw.accounts[sid] = authToken
}

// authentic reports whether user and pass are an account's SID and its
// auth token.
func (tw *Twilio) authentic(user, pass string) bool {
	if user == tw.AccountSID {
		return pass == tw.AuthToken
	}
	tw.mu.Lock()
	defer tw.mu.Unlock()
	token, ok := tw.accounts[user]
	return ok && pass == token
}

// recording serves a GET of a kept recording.
func (tw *Twilio) recording(w http.ResponseWriter, r *http.Request, m []string) {
	user, pass, ok := r.BasicAuth()
	if !ok || !tw.authentic(user, pass) {
		tw.fail(w, twilioErr{401, 20003, "Authenticate"})
		return
	}
	tw.mu.Lock()
	mp3, found := tw.recordings[m[1]+"/"+m[2]]
	if found && m[1] == user && r.Method == http.MethodGet {
		if tw.fetches == nil {
			tw.fetches = map[string]int{}
		}
		tw.fetches[user]++
	}
	tw.mu.Unlock()
	if r.Method != http.MethodGet || m[1] != user || !found {
		tw.fail(w, twilioErr{404, 20404, "The requested resource " + r.URL.Path + " was not found"})
		return
	}
	w.Header().Set("Content-Type", "audio/mpeg")
	w.Write(mp3)
}

// TwilioMessage is a message the Twilio fake accepted.
type TwilioMessage struct {
	SID, To, From, MessagingServiceSid, Body, ContentSid, ContentVariables, StatusCallback string
	MediaURLs                                                                              []string
	IdempotencyToken                                                                       string
	// AccountSID is the account the message was sent under.
	AccountSID string
}

var (
	twilioPath  = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages\.json$`)
	twilioSID   = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	e164        = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	twilioMagic = map[string]twilioErr{
		TwilioInvalidNumber:      {400, 21211, "Invalid 'To' Phone Number: " + TwilioInvalidNumber},
		TwilioUnsubscribedNumber: {400, 21610, "Attempt to send to unsubscribed recipient"},
		TwilioNotMobileNumber:    {400, 21614, "'To' number is not a valid mobile number"},
		TwilioOutsideWindow:      {400, 63016, "Failed to send freeform message because you are outside the allowed window. If you are using WhatsApp, please use a Message Template."},
	}
)

type twilioErr struct {
	status, code int
	message      string
}

// NewTwilio starts a Twilio fake that accepts TwilioAccountSID and
// TwilioAuthToken; it stops when the test ends.
func NewTwilio(t testing.TB) *Twilio {
	t.Helper()
	tw := &Twilio{AccountSID: TwilioAccountSID, AuthToken: TwilioAuthToken, byToken: map[string][]byte{}}
	tw.Fake = newFake(t, tw.handle, func(status int) string {
		code := 20000 + status // 20429 Too Many Requests, 20500 Internal Server Error, ...
		return twilioErrBody(twilioErr{status, code, http.StatusText(status)})
	})
	return tw
}

// Messages returns the messages accepted so far.
func (tw *Twilio) Messages() []TwilioMessage {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return append([]TwilioMessage(nil), tw.messages...)
}

func twilioErrBody(e twilioErr) string {
	b, _ := json.Marshal(map[string]any{
		"code": e.code, "message": e.message, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", e.code), "status": e.status,
	})
	return string(b)
}

func (tw *Twilio) fail(w http.ResponseWriter, e twilioErr) bool {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	fmt.Fprint(w, twilioErrBody(e))
	return false
}

// check refuses a request as Twilio's Messages API does: path, method,
// credentials, content type, required and well-formed parameters, and the
// magic test numbers' errors.
func (tw *Twilio) check(r *http.Request, f url.Values) (twilioErr, bool) {
	m := twilioPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return twilioErr{404, 20404, "The requested resource " + r.URL.Path + " was not found"}, false
	}
	if r.Method != http.MethodPost {
		return twilioErr{405, 20004, "Method not allowed"}, false
	}
	user, pass, ok := r.BasicAuth()
	if !ok || !tw.authentic(user, pass) {
		return twilioErr{401, 20003, "Authenticate"}, false
	}
	if !twilioSID.MatchString(m[1]) || m[1] != user {
		return twilioErr{404, 20404, "The requested resource " + r.URL.Path + " was not found"}, false
	}
	if mediaType(r.Header) != "application/x-www-form-urlencoded" {
		return twilioErr{400, 20001, "Content-Type must be application/x-www-form-urlencoded"}, false
	}
	to, from, mg := f.Get("To"), f.Get("From"), f.Get("MessagingServiceSid")
	body, media, contentSid, vars := f.Get("Body"), f["MediaUrl"], f.Get("ContentSid"), f.Get("ContentVariables")
	switch {
	case to == "":
		return twilioErr{400, 21604, "A 'To' phone number is required."}, false
	case from == "" && mg == "":
		return twilioErr{400, 21603, "A 'From' phone number is required."}, false
	case body == "" && len(media) == 0 && contentSid == "":
		return twilioErr{400, 21602, "Message body is required."}, false
	case utf8.RuneCountInString(body) > 1600:
		return twilioErr{400, 21617, "The concatenated message body exceeds the 1600 character limit."}, false
	case len(media) > 10:
		return twilioErr{400, 21623, "Number of media files exceeds allowed limit."}, false
	}
	toNum, toWA := strings.CutPrefix(to, "whatsapp:")
	if !e164.MatchString(toNum) {
		return twilioErr{400, 21211, "Invalid 'To' Phone Number: " + to}, false
	}
	if from != "" {
		fromNum, fromWA := strings.CutPrefix(from, "whatsapp:")
		if !e164.MatchString(fromNum) {
			return twilioErr{400, 21212, "Invalid From Number (caller ID): " + from}, false
		}
		if fromWA != toWA {
			return twilioErr{400, 21910, "Invalid From and To pair. From and To should be of the same channel"}, false
		}
	}
	if vars != "" {
		var obj map[string]any
		if contentSid == "" || json.Unmarshal([]byte(vars), &obj) != nil {
			return twilioErr{400, 21656, "The ContentVariables Parameter is invalid."}, false
		}
	}
	if e, ok := twilioMagic[toNum]; ok && (e.code != 63016 || toWA && contentSid == "") {
		return e, false
	}
	return twilioErr{}, true
}

func (tw *Twilio) handle(w http.ResponseWriter, r *http.Request, req *Request) bool {
	if m := twilioRecording.FindStringSubmatch(r.URL.Path); m != nil {
		tw.recording(w, r, m)
		return false // a download, not a send
	}
	if e, ok := tw.check(r, req.Form); !ok {
		return tw.fail(w, e)
	}
	f := req.Form
	to, from, mg := f.Get("To"), f.Get("From"), f.Get("MessagingServiceSid")
	body, media, contentSid, vars := f.Get("Body"), f["MediaUrl"], f.Get("ContentSid"), f.Get("ContentVariables")

	token := r.Header.Get("I-Twilio-Idempotency-Token")
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if prev, ok := tw.byToken[token]; ok && token != "" {
		tw.duplicates.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(prev)
		return false
	}
	msg := TwilioMessage{
		SID: "SM" + randomString(32, hexDigits), To: to, From: from, MessagingServiceSid: mg, Body: body,
		ContentSid: contentSid, ContentVariables: vars, StatusCallback: f.Get("StatusCallback"),
		MediaURLs: media, IdempotencyToken: token, AccountSID: twilioPath.FindStringSubmatch(r.URL.Path)[1],
	}
	now := time.Now().UTC().Format(time.RFC1123Z)
	status, fromOut := "queued", any(from)
	if mg != "" {
		status = "accepted"
		if from == "" {
			fromOut = nil
		}
	}
	resp := map[string]any{
		"account_sid": msg.AccountSID, "api_version": "2010-04-01", "body": body,
		"date_created": now, "date_sent": nil, "date_updated": now,
		"direction": "outbound-api", "error_code": nil, "error_message": nil,
		"from": fromOut, "messaging_service_sid": nilIfEmpty(mg),
		"num_media": fmt.Sprint(len(media)), "num_segments": "1",
		"price": nil, "price_unit": "USD", "sid": msg.SID, "status": status,
		"subresource_uris": map[string]any{
			"media": "/2010-04-01/Accounts/" + msg.AccountSID + "/Messages/" + msg.SID + "/Media.json",
		},
		"to":  to,
		"uri": "/2010-04-01/Accounts/" + msg.AccountSID + "/Messages/" + msg.SID + ".json",
	}
	b, _ := json.Marshal(resp)
	if token != "" {
		tw.byToken[token] = b
	}
	tw.messages = append(tw.messages, msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	w.Write(b)
	return true
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
