// Package connectortest runs a connector's table of real provider payloads
// through its webhook handler, in the manner of courier's handlertest: each
// Case names a payload in testdata/, how the request is signed, the error
// the route must answer with (or none) and the golden file in
// testdata/golden/ holding the normalized output. go test -update rewrites
// the golden files.
//
// It owns only this helper; it imports the webhook contract and normalize,
// never fiber, Kafka or a provider package.
package connectortest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// Case is one payload and what must come of it.
type Case struct {
	Label string
	// File is a payload under testdata/; Data an inline payload, used when
	// File is empty.
	File string
	Data string
	// Prep changes the request after it is built and signed (drop or spoil
	// the signature, change a header); nil leaves it.
	Prep func(r *webhook.Request)
	// ExpectedErr is the webhook error the route answers with
	// (webhook.ErrSignature: 403, ErrMalformed: 400, ...); nil for 200.
	ExpectedErr error
	// Golden is the file under testdata/golden/ holding the normalized
	// output; empty for none.
	Golden string
}

// Suite is how one webhook's requests are built, signed and reduced to
// their golden output.
type Suite struct {
	Handler webhook.Handler
	// Request builds the request a payload arrives in (URL, headers,
	// ReceivedAt).
	Request func(body []byte) *webhook.Request
	// Sign signs a request as the provider does; nil if it does not.
	Sign func(r *webhook.Request)
	// Output is what of a result the golden file holds; nil means Events.
	Output func(t testing.TB, res webhook.Result) any
}

// Files is a case per payload in testdata/ matching pattern (a
// filepath.Match pattern), labelled by its name, its golden file named
// after it with the extension .json. The test fails if nothing matches.
func Files(t testing.TB, pattern string) []Case {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no testdata matches %q: %v", pattern, err)
	}
	cases := make([]Case, len(paths))
	for i, p := range paths {
		name := filepath.Base(p)
		cases[i] = Case{Label: name, File: name, Golden: strings.TrimSuffix(name, filepath.Ext(name)) + ".json"}
	}
	return cases
}

// Read returns a file under testdata/.
func Read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Run handles every case and checks its error and golden output.
func (s Suite) Run(t *testing.T, cases []Case) {
	for _, c := range cases {
		t.Run(c.Label, func(t *testing.T) {
			body := []byte(c.Data)
			if c.File != "" {
				body = Read(t, c.File)
			}
			r := s.Request(body)
			if s.Sign != nil {
				s.Sign(r)
			}
			if c.Prep != nil {
				c.Prep(r)
			}
			res, err := s.Handler.Handle(t.Context(), r)
			switch {
			case c.ExpectedErr != nil:
				if !errors.Is(err, c.ExpectedErr) {
					t.Fatalf("err %v, want %v", err, c.ExpectedErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if c.Golden != "" {
				output := s.Output
				if output == nil {
					output = Events
				}
				Golden(t, c.Golden, output(t, res))
			}
		})
	}
}

// Golden compares v, as indented JSON, with testdata/golden/name, or
// rewrites the file under -update.
func Golden(t testing.TB, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden", name)
	if *update {
		_ = os.MkdirAll(filepath.Dir(golden), 0o755)
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if strings.TrimSpace(string(want)) != string(got) {
		t.Errorf("normalized output differs from %s:\n%s", golden, got)
	}
}

// event is an event without what changes on every run (the event id and
// the gateway message id).
type event struct {
	Type    string          `json:"type"`
	Key     string          `json:"key"`
	Source  string          `json:"source"`
	Subject string          `json:"subject"`
	Time    time.Time       `json:"time"`
	Data    json.RawMessage `json:"data"`
}

// Events is a result's events, in order, and its count of ignored items;
// the random ids are checked to be set and left out.
func Events(t testing.TB, res webhook.Result) any {
	t.Helper()
	out := struct {
		Events  []event `json:"events"`
		Ignored int     `json:"ignored"`
	}{Events: []event{}, Ignored: res.Ignored}
	for _, ev := range res.Events {
		var data map[string]any
		dec := json.NewDecoder(bytes.NewReader(ev.Event.Data))
		dec.UseNumber() // numbers exactly as published
		if err := dec.Decode(&data); err != nil {
			t.Fatal(err)
		}
		if _, ok := data["message_id"]; ok {
			if id, _ := data["message_id"].(string); id == "" {
				t.Error("message without a gateway message id")
			}
			data["message_id"] = "" // random per delivery
		}
		if ev.Event.ID == "" {
			t.Error("event without an id")
		}
		d, _ := json.Marshal(data)
		out.Events = append(out.Events, event{Type: ev.Event.Type, Key: ev.Key, Source: ev.Event.Source,
			Subject: ev.Event.Subject, Time: ev.Event.Time, Data: d})
	}
	return out
}

// Payload is the one event of a result as the normalized message (its
// random gateway id left out) or status it carries.
func Payload(t testing.TB, res webhook.Result) any {
	t.Helper()
	if len(res.Events) != 1 {
		t.Fatalf("%d events, want one", len(res.Events))
	}
	ev := res.Events[0].Event
	if ev.Type == normalize.TypeMessageStatus {
		st, err := ev.DecodeStatus()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	m, err := ev.DecodeMessage()
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageID == "" {
		t.Error("message without a gateway message id")
	}
	m.MessageID = "" // random per delivery
	return m
}

// CheckEvent asserts what every connector's fuzz target asserts of an
// event it accepted: it passes its inbound JSON Schema, survives the Kafka
// round trip (Encode, DecodeEvent, DecodeMessage or DecodeStatus, Marshal)
// with the same data, and a message carries the Kafka key of its contact.
// It returns the decoded message or status.
func CheckEvent(t testing.TB, ev webhook.Event) any {
	t.Helper()
	raw, err := ev.Event.Encode()
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if err := normalize.ValidateEvent("inbound", raw); err != nil {
		t.Fatalf("accepted event fails its schema: %v\n%s", err, raw)
	}
	back, err := normalize.DecodeEvent(raw)
	if err != nil {
		t.Fatalf("decode own event: %v\n%s", err, raw)
	}
	if !bytes.Equal(back.Data, ev.Event.Data) {
		t.Fatalf("data changed in the round trip:\n%s\n%s", ev.Event.Data, back.Data)
	}
	var typed any
	switch back.Type {
	case normalize.TypeMessageReceived:
		m, err := back.DecodeMessage()
		if err != nil {
			t.Fatalf("decode own message: %v\n%s", err, raw)
		}
		if want := normalize.InboundKey(m.Channel, m.Contact().Address); ev.Key != want {
			t.Fatalf("key %q, want %q", ev.Key, want)
		}
		typed = m
	case normalize.TypeMessageStatus:
		s, err := back.DecodeStatus()
		if err != nil {
			t.Fatalf("decode own status: %v\n%s", err, raw)
		}
		typed = s
	case normalize.TypeMessageUpdated:
		u, err := back.DecodeUpdate()
		if err != nil {
			t.Fatalf("decode own update: %v\n%s", err, raw)
		}
		if want := normalize.InboundKey(u.Channel, u.Contact.Address); ev.Key != want {
			t.Fatalf("key %q, want %q", ev.Key, want)
		}
		typed = u
	default:
		t.Fatalf("event type %q", back.Type)
	}
	again, err := json.Marshal(typed)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if json.Unmarshal(again, &a) != nil || json.Unmarshal(ev.Event.Data, &b) != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("re-encoding differs:\n%s\n%s", ev.Event.Data, again)
	}
	return typed
}
