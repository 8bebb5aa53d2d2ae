package twilio

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opengateway/gateway/connectors/connectortest"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

const gw = "https://gw.example.com"

var voiceConfig = VoiceConfig{ForwardTo: "+14155550199", RingSeconds: 20, Greeting: "Please leave a message.",
	MaxRecording: 120, APIURL: "https://api.twilio.com"}

// callerQuery is the query the gateway puts on its recording and
// transcription callback URLs.
const callerQuery = "?caller=%2B14155550101"

func voiceRequest(u string, body []byte) *webhook.Request {
	r := formRequest(u, body, "")
	if _, q, ok := strings.Cut(u, "?"); ok {
		r.Query, _ = url.ParseQuery(q)
	}
	return r
}

// verb is a TwiML element with its attributes, for comparison (twilio-go
// writes attributes in no fixed order).
type verb struct {
	Name     string            `json:"name"`
	Attrs    map[string]string `json:"attrs,omitempty"`
	Text     string            `json:"text,omitempty"`
	Children []verb            `json:"children,omitempty"`
}

func parseTwiML(t testing.TB, body []byte) []verb {
	t.Helper()
	var node struct {
		XMLName  xml.Name
		Attrs    []xml.Attr `xml:",any,attr"`
		Text     string     `xml:",chardata"`
		Children []struct {
			XMLName  xml.Name
			Attrs    []xml.Attr `xml:",any,attr"`
			Text     string     `xml:",chardata"`
			Children []struct {
				XMLName xml.Name
				Text    string `xml:",chardata"`
			} `xml:",any"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(body, &node); err != nil || node.XMLName.Local != "Response" {
		t.Fatalf("TwiML %q: %v", body, err)
	}
	var out []verb
	for _, c := range node.Children {
		v := verb{Name: c.XMLName.Local, Text: strings.TrimSpace(c.Text)}
		for _, a := range c.Attrs {
			if v.Attrs == nil {
				v.Attrs = map[string]string{}
			}
			v.Attrs[a.Name.Local] = a.Value
		}
		for _, g := range c.Children {
			v.Children = append(v.Children, verb{Name: g.XMLName.Local, Text: strings.TrimSpace(g.Text)})
		}
		out = append(out, v)
	}
	return out
}

func names(vs []verb) string {
	var n []string
	for _, v := range vs {
		n = append(n, v.Name)
	}
	return strings.Join(n, ",")
}

// One table of Twilio's real voice callbacks and what must come of each.
func TestVoice(t *testing.T) {
	v := NewVerifier(token)
	cases := []struct {
		Label, File, Data, Path, Query string
		Config                         *VoiceConfig // nil: voiceConfig
		Signature                      string       // "" signs validly, "-" sends none
		ExpectedErr                    error
		ExpectedType                   string // "" for no event
		ExpectedStatus, ExpectedText   string
		ExpectedDuration               int
		ExpectedTwiML                  string // verb names, "" for no answer body
		ExpectedAttachment             string
	}{
		{Label: "incoming call rings the forward number", File: "twilio_voice_incoming.form", Path: VoicePath,
			ExpectedType: "message.received", ExpectedStatus: "ringing", ExpectedTwiML: "Dial"},
		{Label: "incoming call without a forward number goes to voicemail", File: "twilio_voice_incoming.form", Path: VoicePath,
			Config:       &VoiceConfig{Greeting: "Hi", MaxRecording: 60, APIURL: "https://api.twilio.com"},
			ExpectedType: "message.received", ExpectedStatus: "missed", ExpectedTwiML: "Say,Record,Hangup"},
		{Label: "withheld caller rings, keeps nothing", File: "twilio_voice_incoming_anonymous.form", Path: VoicePath, ExpectedTwiML: "Dial"},
		{Label: "forward number did not answer: voicemail", File: "twilio_voice_dial_no_answer.form", Path: VoicePath,
			ExpectedType: "message.updated", ExpectedStatus: "missed", ExpectedTwiML: "Say,Record,Hangup"},
		{Label: "forward number answered: hang up after", File: "twilio_voice_dial_completed.form", Path: VoicePath,
			ExpectedType: "message.updated", ExpectedStatus: "answered", ExpectedDuration: 42, ExpectedTwiML: "Hangup"},
		{Label: "call ended", File: "twilio_voice_status_completed.form", Path: VoiceStatusPath,
			ExpectedType: "message.updated", ExpectedStatus: "missed", ExpectedDuration: 48},
		{Label: "line busy", File: "twilio_voice_status_busy.form", Path: VoiceStatusPath, ExpectedType: "message.updated", ExpectedStatus: "missed"},
		{Label: "call still ringing", Data: "CallSid=CA1&From=%2B14155550101&To=%2B15558675310&CallStatus=ringing", Path: VoiceStatusPath},
		{Label: "recording completed, caller in the URL", File: "twilio_voice_recording_completed.form", Path: VoiceRecordingPath, Query: callerQuery,
			ExpectedType: "message.updated", ExpectedStatus: "voicemail",
			ExpectedAttachment: "https://api.twilio.com/2010-04-01/Accounts/AC7ef44158dbb01b972d64d7e5c851c8d7/Recordings/RE3b8e1f0a9c2d4e6f8a0b1c2d3e4f5a6b.mp3"},
		{Label: "record action hangs up", File: "twilio_voice_recording_action.form", Path: VoiceRecordingPath, ExpectedTwiML: "Hangup"},
		{Label: "transcription", File: "twilio_voice_transcription_completed.form", Path: VoiceTranscriptionPath, Query: callerQuery,
			ExpectedType: "message.updated", ExpectedText: "Hi, this is Ann. My order 4417 has not arrived yet. Please call me back."},
		{Label: "failed transcription", File: "twilio_voice_transcription_failed.form", Path: VoiceTranscriptionPath, Query: callerQuery},
		{Label: "unsigned call", File: "twilio_voice_incoming.form", Path: VoicePath, Signature: "-", ExpectedErr: webhook.ErrSignature},
		{Label: "forged status", File: "twilio_voice_status_completed.form", Path: VoiceStatusPath, Signature: "d+Lfe5D6AoqaJBOG9cnt9alWpLQ=", ExpectedErr: webhook.ErrSignature},
		{Label: "unsigned recording", File: "twilio_voice_recording_completed.form", Path: VoiceRecordingPath, Query: callerQuery, Signature: "-", ExpectedErr: webhook.ErrSignature},
		{Label: "unsigned transcription", File: "twilio_voice_transcription_completed.form", Path: VoiceTranscriptionPath, Signature: "-", ExpectedErr: webhook.ErrSignature},
		{Label: "recording on another host", Path: VoiceRecordingPath, Query: callerQuery,
			Data: "CallSid=CA1&RecordingSid=RE1&RecordingStatus=completed&RecordingUrl=https%3A%2F%2Fevil.example%2F2010-04-01%2FAccounts%2FAC1%2FRecordings%2FRE1", ExpectedErr: webhook.ErrMalformed},
		{Label: "recording without a caller", File: "twilio_voice_recording_completed.form", Path: VoiceRecordingPath, ExpectedErr: webhook.ErrMalformed},
		{Label: "no CallSid", Data: "From=%2B14155550101&To=%2B15558675310&CallStatus=ringing", Path: VoicePath, ExpectedErr: webhook.ErrMalformed},
		{Label: "unknown DialCallStatus", Data: "CallSid=CA1&From=%2B14155550101&To=%2B15558675310&DialCallStatus=exploded", Path: VoicePath, ExpectedErr: webhook.ErrMalformed},
		{Label: "unknown CallStatus", Data: "CallSid=CA1&From=%2B14155550101&To=%2B15558675310&CallStatus=exploded", Path: VoiceStatusPath, ExpectedErr: webhook.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.Label, func(t *testing.T) {
			body := []byte(c.Data)
			if c.File != "" {
				body = read(t, c.File)
			}
			cfg := voiceConfig
			if c.Config != nil {
				cfg = *c.Config
			}
			u := gw + c.Path + c.Query
			r := voiceRequest(u, body)
			switch c.Signature {
			case "":
				r.Header.(http.Header).Set("X-Twilio-Signature", sign(u, body))
			case "-":
			default:
				r.Header.(http.Header).Set("X-Twilio-Signature", c.Signature)
			}
			res, err := Voice{Verifier: v, Config: cfg, Path: c.Path}.Handle(context.Background(), r)
			if c.ExpectedErr != nil {
				if !errors.Is(err, c.ExpectedErr) {
					t.Fatalf("err %v, want %v", err, c.ExpectedErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ExpectedTwiML == "" && len(res.Body) > 0 || c.ExpectedTwiML != "" && names(parseTwiML(t, res.Body)) != c.ExpectedTwiML {
				t.Errorf("answer %q, want verbs %q", res.Body, c.ExpectedTwiML)
			}
			if c.ExpectedType == "" {
				if len(res.Events) != 0 || res.Ignored != 1 {
					t.Fatalf("events %v ignored %d, want none and one ignored", res.Events, res.Ignored)
				}
				return
			}
			if len(res.Events) != 1 || res.Events[0].Event.Type != c.ExpectedType || res.Events[0].Key != "voice:+14155550101" {
				t.Fatalf("events %+v, want one %s keyed voice:+14155550101", res.Events, c.ExpectedType)
			}
			checkVoiceEvent(t, connectortest.CheckEvent(t, res.Events[0]), c.ExpectedStatus, c.ExpectedText, c.ExpectedDuration, c.ExpectedAttachment)
		})
	}
}

func checkVoiceEvent(t *testing.T, got any, status, text string, duration int, attachment string) {
	t.Helper()
	var call *normalize.Call
	var gotText string
	var atts []normalize.Attachment
	switch v := got.(type) {
	case normalize.Message:
		if v.Channel != "voice" || v.Kind != "call" || v.ProviderMessageID != "CA5f1d8a3e2b7c4d9e0f1a2b3c4d5e6f70" || v.To.Address != "+15558675310" {
			t.Errorf("call message %+v", v)
		}
		call, gotText, atts = v.Call, v.Text, v.Attachments
	case normalize.Update:
		if v.Provider != "twilio" || v.ProviderMessageID != "CA5f1d8a3e2b7c4d9e0f1a2b3c4d5e6f70" {
			t.Errorf("update names %s %s", v.Provider, v.ProviderMessageID)
		}
		call, gotText, atts = v.Call, v.Text, v.Attachments
	}
	if status != "" && (call == nil || call.Status != status || call.DurationSeconds != duration) {
		t.Errorf("call %+v, want status %s duration %d", call, status, duration)
	}
	if gotText != text {
		t.Errorf("text %q, want %q", gotText, text)
	}
	if attachment == "" && len(atts) != 0 || attachment != "" && (len(atts) != 1 || atts[0].ProviderRef != attachment || atts[0].Status != "pending") {
		t.Errorf("attachments %+v, want %q", atts, attachment)
	}
}

// The TwiML asks Twilio what the gateway expects: ring the forward number
// (a SIP URI too) for the configured seconds with the <Dial> action back to
// the gateway; voicemail of at most MaxRecording with its callbacks under
// the public URL, naming the caller.
func TestVoiceTwiML(t *testing.T) {
	v := NewVerifier(token)
	body := read(t, "twilio_voice_incoming.form")
	const public = "https://gw.example.com/gateway"
	for _, to := range []string{"+14155550199", "sip:desk@pbx.example.com"} {
		cfg := voiceConfig
		cfg.ForwardTo = to
		r := voiceRequest(public+VoicePath, body)
		r.Header.(http.Header).Set("X-Twilio-Signature", sign(r.URL, body))
		res, err := Voice{Verifier: v, Config: cfg, Path: VoicePath}.Handle(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		d := parseTwiML(t, res.Body)[0]
		noun := "Number"
		if strings.HasPrefix(to, "sip:") {
			noun = "Sip"
		}
		if d.Attrs["timeout"] != "20" || d.Attrs["action"] != public+VoicePath || len(d.Children) != 1 || d.Children[0].Name != noun || d.Children[0].Text != to {
			t.Errorf("dial %+v", d)
		}
	}
	dial := read(t, "twilio_voice_dial_no_answer.form")
	r := voiceRequest(public+VoicePath, dial)
	r.Header.(http.Header).Set("X-Twilio-Signature", sign(r.URL, dial))
	res, err := Voice{Verifier: v, Config: voiceConfig, Path: VoicePath}.Handle(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	vm := parseTwiML(t, res.Body)
	rec := vm[1].Attrs
	want := map[string]string{"maxLength": "120", "action": public + VoiceRecordingPath, "transcribe": "true",
		"recordingStatusCallback": public + VoiceRecordingPath + callerQuery, "recordingStatusCallbackEvent": "completed",
		"transcribeCallback": public + VoiceTranscriptionPath + callerQuery}
	if vm[0].Text != "Please leave a message." || len(rec) != len(want) {
		t.Errorf("voicemail %+v", vm)
	}
	for k, w := range want {
		if rec[k] != w {
			t.Errorf("Record %s=%q, want %q", k, rec[k], w)
		}
	}
}

// Golden files hold the events and TwiML of every voice payload;
// go test -run VoiceGolden -update rewrites them.
func TestVoiceGolden(t *testing.T) {
	v := NewVerifier(token)
	out := func(t testing.TB, res webhook.Result) any {
		o := struct {
			Events any    `json:"events"`
			TwiML  []verb `json:"twiml,omitempty"`
		}{Events: connectortest.Events(t, res)}
		if len(res.Body) > 0 {
			o.TwiML = parseTwiML(t, res.Body)
		}
		return o
	}
	for path, patterns := range map[string][]string{VoicePath: {"twilio_voice_incoming*.form", "twilio_voice_dial_*.form"},
		VoiceStatusPath: {"twilio_voice_status_*.form"}, VoiceRecordingPath: {"twilio_voice_recording_*.form"},
		VoiceTranscriptionPath: {"twilio_voice_transcription_*.form"}} {
		u := gw + path + callerQuery
		s := connectortest.Suite{
			Handler: Voice{Verifier: v, Config: voiceConfig, Path: path},
			Request: func(body []byte) *webhook.Request { return voiceRequest(u, body) },
			Sign:    func(r *webhook.Request) { r.Header.(http.Header).Set("X-Twilio-Signature", sign(r.URL, r.Body)) },
			Output:  out,
		}
		var cases []connectortest.Case
		for _, p := range patterns {
			cases = append(cases, connectortest.Files(t, p)...)
		}
		s.Run(t, cases)
	}
}

// The voice parsers never panic, refuse bad input with ErrMalformed, and
// every event they make passes its schema and the Kafka round trip.
func FuzzVoice(f *testing.F) {
	for _, name := range []string{"twilio_voice_incoming.form", "twilio_voice_dial_no_answer.form", "twilio_voice_status_completed.form",
		"twilio_voice_recording_completed.form", "twilio_voice_transcription_completed.form"} {
		f.Add(read(f, name), "%2B14155550101")
	}
	f.Add([]byte("CallSid=CA1&From=%2B1&DialCallStatus=completed&DialCallDuration=-4"), "anonymous")
	f.Add([]byte("CallSid=CA1&From=%2B14155550101&Called=%2B15550001111"), "")
	v := NewVerifier(token)
	paths := []string{VoicePath, VoiceStatusPath, VoiceRecordingPath, VoiceTranscriptionPath}
	// Without entry points, with them on the shared route, and on the
	// route of one with an account of its own (signed alike here).
	eps := NewVoiceEntryPoints([]EntryPoint{{ID: "us", Address: "+15558675310"},
		{ID: "own", Address: "+15550001111", AccountSID: "AC1", AuthToken: token}})
	handlers := []Voice{{Verifier: v, Config: voiceConfig}, {Verifier: v, Config: voiceConfig, EntryPoints: eps},
		{Verifier: v, Config: voiceConfig, EntryPoints: eps, EntryPoint: "own"}}
	f.Fuzz(func(t *testing.T, body []byte, caller string) {
		for i := 0; i < len(paths)*len(handlers); i++ {
			h := handlers[i/len(paths)]
			h.Path = paths[i%len(paths)]
			p := h.route(h.Path)
			u := gw + p + "?caller=" + url.QueryEscape(caller)
			r := voiceRequest(u, body)
			r.Header.(http.Header).Set("X-Twilio-Signature", sign(u, body))
			res, err := h.Handle(context.Background(), r)
			if err != nil {
				if !errors.Is(err, webhook.ErrMalformed) && !errors.Is(err, webhook.ErrSignature) {
					t.Fatalf("%s: error %v is neither malformed nor signature", p, err)
				}
				continue
			}
			for _, ev := range res.Events {
				connectortest.CheckEvent(t, ev)
			}
			if len(res.Body) > 0 && !bytes.HasPrefix(res.Body, []byte("<?xml")) {
				t.Fatalf("%s: answer %q is not TwiML", p, res.Body)
			}
		}
	})
}
