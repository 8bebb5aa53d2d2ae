package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/twiml"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// Voice webhook paths. VoicePath is the number's "A call comes in" URL and
// the action of the <Dial> that rings the forward number; VoiceStatusPath is
// the number's "Call status changes" URL; the recording and transcription
// paths are the callbacks of the voicemail's <Record>, which the gateway
// names in its TwiML.
const (
	VoicePath              = "/webhooks/twilio/voice"
	VoiceStatusPath        = VoicePath + "/status"
	VoiceRecordingPath     = VoicePath + "/recording"
	VoiceTranscriptionPath = VoicePath + "/transcription"
)

// CallerParam is the query parameter naming the caller in the recording and
// transcription callback URLs the gateway gives Twilio: those callbacks may
// lack From, and the caller keys every event of a call (signed with the URL).
const CallerParam = "caller"

// VoiceConfig is how calls are answered (GATEWAY_VOICE_*).
type VoiceConfig struct {
	// ForwardTo is rung first: an E.164 number or a sip: URI; empty sends
	// calls straight to voicemail.
	ForwardTo   string
	RingSeconds int
	Greeting    string
	// MaxRecording bounds a voicemail, in seconds.
	MaxRecording int
	// APIURL is TWILIO_API_URL: a recording is taken only from its origin.
	APIURL string
}

// NotInService is what a call to a number no voice entry point has hears
// (when none is the default) before the gateway hangs up.
const NotInService = "The number you have called is not in service."

// Voice handles one of the four voice webhooks, named by Path (VoicePath,
// VoiceStatusPath, VoiceRecordingPath, VoiceTranscriptionPath), on the
// shared route or, with EntryPoint, on that entry point's own route
// (Path/{id}, Verifier then checks its account's signature).
type Voice struct {
	Verifier *Verifier
	Config   VoiceConfig
	Path     string
	// EntryPoints finds the entry point of each call by the number called;
	// nil names none (the core derives it).
	EntryPoints *EntryPoints
	// EntryPoint is the id of the entry point whose route this is, "" on
	// the shared route.
	EntryPoint string
}

// route is path (VoicePath or a callback's) on h's side: as is on the
// shared routes, under the entry point's id on its own, so that the
// callbacks its TwiML names stay on its routes, signed with its account.
func (h Voice) route(path string) string {
	if h.EntryPoint == "" {
		return path
	}
	return path + "/" + h.EntryPoint
}

// Handle verifies the request and turns it into the call's message or an
// update of it, answering TwiML where Twilio waits for instructions.
func (h Voice) Handle(_ context.Context, r *webhook.Request) (webhook.Result, error) {
	form, err := verifiedForm(h.Verifier, r)
	if err != nil {
		return webhook.Result{}, err
	}
	if h.Path != VoicePath {
		// A callback about a number of an account of its own, signed with
		// the connector's token: refused as on the call itself.
		if _, _, err := h.entryPoint(form); err != nil {
			return webhook.Result{}, err
		}
	}
	switch h.Path {
	case VoicePath:
		return h.call(r, form)
	case VoiceStatusPath:
		return updateResult(ParseCallStatus(form, r.Query, r.ReceivedAt))
	case VoiceRecordingPath:
		if form.Get("RecordingStatus") == "" {
			// The <Record> action: the voicemail is over. The recording
			// arrives on its status callback, once it can be fetched.
			return h.twiml(webhook.Result{Ignored: 1}, nil, twiml.VoiceHangup{})
		}
		return updateResult(ParseRecording(form, r.Query, r.ReceivedAt, h.Config.APIURL))
	default:
		return updateResult(ParseTranscription(form, r.Query, r.ReceivedAt))
	}
}

// verifiedForm parses a form body and checks its signature; a body that is
// not a form is refused as unsigned unless it carries a valid signature.
func verifiedForm(v *Verifier, r *webhook.Request) (url.Values, error) {
	form, err := parseForm(r)
	if err != nil {
		if verr := v.Verify(r); verr != nil {
			return nil, verr
		}
		return nil, err
	}
	return form, v.VerifyForm(r, form)
}

// call answers an incoming call (ring the forward number, else voicemail)
// and the <Dial> action (hang up after an answered call, else voicemail).
func (h Voice) call(r *webhook.Request, form url.Values) (webhook.Result, error) {
	base := callbackBase(r.URL, h.route(VoicePath))
	id, dead, err := h.entryPoint(form)
	if err != nil {
		return webhook.Result{}, err
	}
	if dial := strings.ToLower(form.Get("DialCallStatus")); dial != "" {
		u, err := ParseDialAction(form, r.ReceivedAt)
		if err != nil {
			return webhook.Result{}, err
		}
		res, err := updateResult(u, nil)
		if err != nil || u.Call.Status == normalize.CallAnswered {
			return h.twiml(res, err, twiml.VoiceHangup{})
		}
		return h.twiml(res, nil, h.voicemail(base, u.Contact.Address)...)
	}
	if dead != "" {
		return h.twiml(webhook.Result{DeadLetter: webhook.DeadLetterUnknownEntryPoint, DeadLetterError: dead}, nil,
			twiml.VoiceSay{Message: NotInService}, twiml.VoiceHangup{})
	}
	m, err := ParseCall(form, r.ReceivedAt, h.Config.ForwardTo != "")
	if errors.Is(err, errNoCaller) {
		// A withheld or non-phone caller is no customer to keep a call
		// of: the call still rings, or hears the greeting.
		if h.Config.ForwardTo == "" {
			return h.twiml(webhook.Result{Ignored: 1}, nil, twiml.VoiceSay{Message: h.Config.Greeting}, twiml.VoiceHangup{})
		}
		return h.twiml(webhook.Result{Ignored: 1}, nil, h.dial(""))
	}
	if err != nil {
		return webhook.Result{}, err
	}
	m.EntryPoint = id
	ev, err := webhook.MessageEvent(source, m)
	if err != nil {
		return webhook.Result{}, err
	}
	res := webhook.Result{Events: []webhook.Event{ev}}
	if h.Config.ForwardTo == "" {
		return h.twiml(res, nil, h.voicemail(base, m.From.Address)...)
	}
	return h.twiml(res, nil, h.dial(base+h.route(VoicePath)))
}

// entryPoint is the entry point of a call by the number called (To, else
// Called), as EntryPoints.find says; the route's own (or none) when h has
// no EntryPoints or the request names no number it can read (a callback
// without To; an incoming call without one is refused by ParseCall).
func (h Voice) entryPoint(form url.Values) (id, dead string, err error) {
	to, err := calledParty(form)
	if h.EntryPoints == nil || err != nil {
		return h.EntryPoint, "", nil
	}
	return h.EntryPoints.find(to, h.EntryPoint)
}

// calledParty is the number called: To, else Called.
func calledParty(form url.Values) (normalize.Party, error) {
	if form.Get("To") == "" && form.Get("Called") != "" {
		return callParty(form, "Called", nil)
	}
	return callParty(form, "To", nil)
}

// dial rings the forward number for RingSeconds; action, when set, is
// where Twilio asks what next once the forwarded call ends.
func (h Voice) dial(action string) twiml.Element {
	var target twiml.Element = twiml.VoiceNumber{PhoneNumber: h.Config.ForwardTo}
	if strings.HasPrefix(h.Config.ForwardTo, "sip") {
		target = twiml.VoiceSip{SipUrl: h.Config.ForwardTo}
	}
	return twiml.VoiceDial{Timeout: strconv.Itoa(h.Config.RingSeconds), Action: action, InnerElements: []twiml.Element{target}}
}

// errNoCaller is an incoming call whose From is not a phone number
// (withheld, a SIP or client identity).
var errNoCaller = fmt.Errorf("twilio: %w: From is not a phone number", webhook.ErrMalformed)

// voicemail is the greeting and a <Record> whose recording and
// transcription come back to the gateway, the caller named in their URLs.
func (h Voice) voicemail(base, caller string) []twiml.Element {
	q := "?" + url.Values{CallerParam: {caller}}.Encode()
	return []twiml.Element{
		twiml.VoiceSay{Message: h.Config.Greeting},
		twiml.VoiceRecord{MaxLength: strconv.Itoa(h.Config.MaxRecording), Action: base + h.route(VoiceRecordingPath),
			RecordingStatusCallback: base + h.route(VoiceRecordingPath) + q, RecordingStatusCallbackEvent: "completed",
			Transcribe: "true", TranscribeCallback: base + h.route(VoiceTranscriptionPath) + q},
		twiml.VoiceHangup{},
	}
}

// twiml sets verbs as the TwiML answer of res.
func (h Voice) twiml(res webhook.Result, err error, verbs ...twiml.Element) (webhook.Result, error) {
	if err != nil {
		return webhook.Result{}, err
	}
	doc, err := twiml.Voice(verbs)
	if err != nil {
		return webhook.Result{}, fmt.Errorf("twilio: build TwiML: %w", err)
	}
	res.ContentType, res.Body = "text/xml", []byte(doc)
	return res, nil
}

// callbackBase is the public URL the gateway's routes live under, from the
// URL Twilio called (GATEWAY_PUBLIC_URL and the path): the callbacks of its
// TwiML go to the same place, and Twilio signs them with that URL.
func callbackBase(called, path string) string {
	u, _, _ := strings.Cut(called, "?")
	base, ok := strings.CutSuffix(u, path)
	if !ok {
		return ""
	}
	return base
}

// updateResult makes a result of one update; nil means the callback
// carries nothing for the gateway.
func updateResult(u *normalize.Update, err error) (webhook.Result, error) {
	if err != nil {
		return webhook.Result{}, err
	}
	if u == nil {
		return webhook.Result{Ignored: 1}, nil
	}
	ev, err := webhook.UpdateEvent(source, *u)
	if err != nil {
		return webhook.Result{}, err
	}
	return webhook.Result{Events: []webhook.Event{ev}}, nil
}

// ParseCall turns the incoming-call webhook into the call's message:
// ringing while the forward number rings, else missed (it goes straight to
// voicemail, and turns voicemail once a recording arrives).
func ParseCall(form url.Values, at time.Time, forwarding bool) (normalize.Message, error) {
	sid, err := callSid(form)
	if err != nil {
		return normalize.Message{}, err
	}
	from, err := callParty(form, "From", nil)
	if err != nil {
		return normalize.Message{}, errNoCaller
	}
	to, err := calledParty(form)
	if err != nil {
		return normalize.Message{}, err
	}
	from.Name = form.Get("CallerName")
	status := normalize.CallMissed
	if forwarding {
		status = normalize.CallRinging
	}
	m := normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelVoice, Provider: Provider,
		ProviderMessageID: sid, Direction: normalize.Inbound, From: from, To: to, ReceivedAt: at.UTC(),
		Kind: normalize.MessageKindCall, Call: &normalize.Call{Status: status, Direction: normalize.Inbound}}
	for _, k := range []string{"AccountSid", "ForwardedFrom", "StirVerstat"} {
		if v := form.Get(k); v != "" {
			if m.Extra == nil {
				m.Extra = map[string]any{}
			}
			m.Extra[k] = v
		}
	}
	return m, nil
}

// ParseDialAction reads the <Dial> action: the forward number answered
// (completed, answered) or not (busy, no-answer, failed, canceled).
func ParseDialAction(form url.Values, at time.Time) (*normalize.Update, error) {
	status := normalize.CallMissed
	switch s := strings.ToLower(form.Get("DialCallStatus")); s {
	case "completed", "answered":
		status = normalize.CallAnswered
	case "busy", "no-answer", "failed", "canceled":
	default:
		return nil, fmt.Errorf("twilio: %w: unknown DialCallStatus %q", webhook.ErrMalformed, s)
	}
	u, err := callUpdate(form, nil, at)
	if err != nil {
		return nil, err
	}
	u.Call = &normalize.Call{Status: status, Direction: normalize.Inbound, DurationSeconds: seconds(form.Get("DialCallDuration"))}
	return u, nil
}

// ParseCallStatus reads a call status callback: the duration of a call that
// ended, and missed for one that ended while it still rang (a call already
// answered or with a voicemail stays so: states only move forward). Calls
// that have not ended carry nothing.
func ParseCallStatus(form url.Values, query url.Values, at time.Time) (*normalize.Update, error) {
	switch s := strings.ToLower(form.Get("CallStatus")); s {
	case "completed", "busy", "no-answer", "failed", "canceled":
	case "queued", "initiated", "ringing", "in-progress":
		return nil, nil
	default:
		return nil, fmt.Errorf("twilio: %w: unknown CallStatus %q", webhook.ErrMalformed, s)
	}
	u, err := callUpdate(form, query, at)
	if err != nil {
		return nil, err
	}
	u.Call = &normalize.Call{Status: normalize.CallMissed, Direction: normalize.Inbound, DurationSeconds: seconds(form.Get("CallDuration"))}
	return u, nil
}

// ParseRecording reads the voicemail's recording status callback: a
// completed recording makes the call a voicemail and is attached, to be
// copied from Twilio's API (apiURL, TWILIO_API_URL) as MP3; a recording
// anywhere else is refused.
func ParseRecording(form url.Values, query url.Values, at time.Time, apiURL string) (*normalize.Update, error) {
	if strings.ToLower(form.Get("RecordingStatus")) != "completed" {
		return nil, nil // absent (nothing was said) or failed: nothing to keep
	}
	u, err := callUpdate(form, query, at)
	if err != nil {
		return nil, err
	}
	rec, sid := form.Get("RecordingUrl"), form.Get("RecordingSid")
	if rec == "" || sid == "" {
		return nil, fmt.Errorf("twilio: %w: RecordingUrl and RecordingSid are required", webhook.ErrMalformed)
	}
	if !sameOrigin(rec, apiURL) {
		return nil, fmt.Errorf("twilio: %w: RecordingUrl is not on the Twilio API host %s", webhook.ErrMalformed, apiURL)
	}
	link := strings.TrimSuffix(rec, ".wav") + ".mp3"
	u.Call = &normalize.Call{Status: normalize.CallVoicemail, Direction: normalize.Inbound}
	u.Attachments = []normalize.Attachment{{URL: link, ProviderRef: link, ContentType: "audio/mpeg", Filename: sid + ".mp3", Status: "pending"}}
	return u, nil
}

// ParseTranscription reads the voicemail's transcription callback: a
// completed transcription becomes the call message's text.
func ParseTranscription(form url.Values, query url.Values, at time.Time) (*normalize.Update, error) {
	text := strings.TrimSpace(form.Get("TranscriptionText"))
	if strings.ToLower(form.Get("TranscriptionStatus")) != "completed" || text == "" {
		return nil, nil
	}
	u, err := callUpdate(form, query, at)
	if err != nil {
		return nil, err
	}
	u.Text = text
	return u, nil
}

// callUpdate starts the update of the call a callback names, keyed by its
// caller: From, else the caller the gateway put in the callback URL.
func callUpdate(form, query url.Values, at time.Time) (*normalize.Update, error) {
	sid, err := callSid(form)
	if err != nil {
		return nil, err
	}
	caller, err := callParty(form, "From", query)
	if err != nil {
		return nil, err
	}
	return &normalize.Update{Provider: Provider, ProviderMessageID: sid, Channel: normalize.ChannelVoice, Contact: caller, At: at.UTC()}, nil
}

func callSid(form url.Values) (string, error) {
	sid := form.Get("CallSid")
	if sid == "" || len(sid) > 64 {
		return "", fmt.Errorf("twilio: %w: CallSid is missing or too long", webhook.ErrMalformed)
	}
	return sid, nil
}

// callParty reads a phone number of a call: the form's name field, else
// the caller named in the callback URL's query (when query is given).
func callParty(form url.Values, name string, query url.Values) (normalize.Party, error) {
	v := form.Get(name)
	if v == "" && query != nil {
		v = query.Get(CallerParam)
	}
	if v == "" {
		return normalize.Party{}, fmt.Errorf("twilio: %w: %s is missing", webhook.ErrMalformed, name)
	}
	p, err := party(v, normalize.ChannelVoice)
	if err != nil {
		return normalize.Party{}, fmt.Errorf("twilio: %w: %s %v", webhook.ErrMalformed, name, err)
	}
	return p, nil
}

// seconds reads a duration Twilio gives in whole seconds; anything else is 0.
func seconds(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 7*24*3600 {
		return 0
	}
	return n
}

// sameOrigin reports whether link is on the scheme, host and port of base.
func sameOrigin(link, base string) bool {
	l, err1 := url.Parse(link)
	b, err2 := url.Parse(base)
	return err1 == nil && err2 == nil && l.User == nil && strings.EqualFold(l.Scheme, b.Scheme) && strings.EqualFold(l.Host, b.Host) &&
		strings.HasPrefix(l.Path, "/2010-04-01/Accounts/")
}
