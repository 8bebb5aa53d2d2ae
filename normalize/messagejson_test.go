package normalize

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// The fields AppendJSON writes, by JSON name, in order. A field added to
// one of these types fails TestMessageAppendJSONKnowsEveryField until
// AppendJSON writes it (or hands it to encoding/json).
var appendJSONFields = map[reflect.Type][]string{
	reflect.TypeOf(Message{}): {"message_id", "channel", "provider", "provider_message_id,omitempty", "direction", "from", "to",
		"text,omitempty", "subject,omitempty", "html,omitempty", "thread,omitempty", "attachments,omitempty", "received_at",
		"echo,omitempty", "sender_verified,omitempty", "extra,omitempty", "kind,omitempty", "call,omitempty", "entry_point,omitempty"},
	reflect.TypeOf(Party{}): {"kind", "address", "name,omitempty"},
	reflect.TypeOf(Attachment{}): {"url", "content_type,omitempty", "filename,omitempty", "size,omitempty", "status,omitempty",
		"error,omitempty", "provider_ref,omitempty"},
}

func TestMessageAppendJSONKnowsEveryField(t *testing.T) {
	for typ, want := range appendJSONFields {
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Tag.Get("json"))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s has the JSON fields %q; AppendJSON writes %q: teach AppendJSON the change", typ, got, want)
		}
	}
}

// AppendJSON writes the bytes json.Marshal writes: the consumers of
// inbound.v1 see the same records whichever encoder made them.
func TestMessageAppendJSONMatchesMarshal(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	yes := true
	sms := Message{MessageID: "01J0ABC", Channel: ChannelSMS, Provider: "twilio", ProviderMessageID: "SM123",
		Direction: Inbound, From: Party{Kind: KindPhone, Address: "+14155550101", Name: "Ann"},
		To: Party{Kind: KindPhone, Address: "+14155550100"}, Text: "hello", ReceivedAt: at,
		Extra: map[string]any{"NumSegments": "1", "AccountSid": "AC1", "MessagingServiceSid": "MG1"}}
	cases := map[string]Message{
		"twilio sms": sms,
		"zero":       {},
		"everything": {MessageID: "m", Channel: "email", Provider: "p", ProviderMessageID: "x", Direction: Outbound,
			From: Party{Kind: "email", Address: "a@b"}, To: Party{Kind: "email", Address: "c@d", Name: "C"},
			Text: "t", Subject: "s", HTML: "<p>h</p>", Thread: &Thread{MessageID: "<1@x>", References: []string{"<0@x>"}},
			Attachments: []Attachment{{URL: "https://x/1", ContentType: "image/png", Filename: "a.png", Size: 12, Status: "failed",
				Error: "e", ProviderRef: "r"}, {URL: "u"}},
			ReceivedAt: at, Echo: true, SenderVerified: &yes, Extra: map[string]any{"b": 1.5, "a": []any{"x"}},
			Kind: MessageKindCall, Call: &Call{Status: CallMissed, Direction: Inbound, DurationSeconds: 3}, EntryPoint: "ep"},
		"escapes": {MessageID: "a\"b\\c", Channel: "<sms>", Provider: "&", Text: "line\nnext\ttab\x01 ü 漢字 \u2028\u2029",
			From: Party{Kind: "phone", Address: "\xff\xfe"}, ReceivedAt: at,
			Extra: map[string]any{"<k>": "v&", "ü": "\x00", "": ""}},
		"empty extra":         {MessageID: "m", ReceivedAt: at, Extra: map[string]any{}},
		"unverified":          {MessageID: "m", ReceivedAt: at, SenderVerified: new(bool)},
		"nil extra value":     {MessageID: "m", ReceivedAt: at, Extra: map[string]any{"a": nil}},
		"zone":                {MessageID: "m", ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", -5*3600))},
		"many extra":          {MessageID: "m", ReceivedAt: at, Extra: manyExtra(40)},
		"empty thread":        {MessageID: "m", ReceivedAt: at, Thread: &Thread{}},
		"negative size":       {MessageID: "m", ReceivedAt: at, Attachments: []Attachment{{Size: -1}}},
		"empty attachments":   {MessageID: "m", ReceivedAt: at, Attachments: []Attachment{}},
		"attachment escapes":  {MessageID: "m", ReceivedAt: at, Attachments: []Attachment{{URL: "https://x/?a=1&b=<2>"}}},
		"whatsapp with media": {MessageID: "m", Channel: ChannelWhatsApp, ReceivedAt: at, Attachments: []Attachment{{URL: "u", Status: "pending", ProviderRef: "u"}}},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.AppendJSON([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("AppendJSON\n got %s\nwant prefix%s", got, want)
			}
		})
	}
	// A time JSON cannot say is an error, as with json.Marshal.
	if _, err := (&Message{ReceivedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}).AppendJSON(nil); err == nil {
		t.Error("year 10000: no error")
	}
	if _, err := NewEvent("s", TypeMessageReceived, "k", at, Message{ReceivedAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("NewEvent, year -1: no error")
	}
}

func manyExtra(n int) map[string]any {
	m := map[string]any{}
	for i := range n {
		m[string(rune('A'+i%26))+string(rune('a'+i/26))] = "v"
	}
	return m
}

// Encoding the message of a webhook allocates nothing but the buffer it
// grows (json.Marshal of the message took 10 allocations).
func TestMessageAppendJSONAllocations(t *testing.T) {
	m := Message{MessageID: "01J0ABC", Channel: ChannelSMS, Provider: "twilio", ProviderMessageID: "SM123",
		Direction: Inbound, From: Party{Kind: KindPhone, Address: "+14155550101"}, To: Party{Kind: KindPhone, Address: "+14155550100"},
		Text: "hello", ReceivedAt: time.Now().UTC(), Extra: map[string]any{"NumSegments": "1", "AccountSid": "AC1", "MessagingServiceSid": "MG1"}}
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(200, func() {
		var err error
		if buf, err = m.AppendJSON(buf[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("AppendJSON of a Twilio SMS: %.0f allocations, want 0", allocs)
	}
}

func FuzzMessageAppendJSON(f *testing.F) {
	f.Add("01J0ABC", "sms", "+14155550101", "Ann", "hello", "NumSegments", "1", "https://x/1", int64(3), int64(1772600000), true)
	f.Add("a\"b", "<&>", "\xff", "\u2028", "t\n", "ü", "\x00", "", int64(-1), int64(-62135596800), false)
	f.Fuzz(func(t *testing.T, id, channel, addr, name, text, key, value, url string, size, sec int64, echo bool) {
		m := Message{MessageID: id, Channel: channel, Provider: channel + id, ProviderMessageID: text, Direction: key,
			From: Party{Kind: channel, Address: addr, Name: name}, To: Party{Kind: value, Address: url}, Text: text,
			Subject: name, HTML: value, ReceivedAt: time.Unix(sec, size).UTC(), Echo: echo, Kind: key, EntryPoint: name,
			Extra: map[string]any{key: value, name: text, "fixed": addr}}
		if url != "" {
			m.Attachments = []Attachment{{URL: url, ContentType: value, Filename: name, Size: size, Status: key, Error: text, ProviderRef: id}}
		}
		want, werr := json.Marshal(m)
		got, gerr := m.AppendJSON(nil)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("errors differ: marshal %v, AppendJSON %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkMessageJSON(b *testing.B) {
	m := Message{MessageID: "01J0ABC", Channel: ChannelSMS, Provider: "twilio", ProviderMessageID: "SM123",
		Direction: Inbound, From: Party{Kind: KindPhone, Address: "+14155550101"}, To: Party{Kind: KindPhone, Address: "+14155550100"},
		Text: "hello", ReceivedAt: time.Now().UTC(), Extra: map[string]any{"NumSegments": "1", "AccountSid": "AC1", "MessagingServiceSid": "MG1"}}
	b.Run("marshal", func(b *testing.B) {
		for range b.N {
			if _, err := json.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		var buf []byte
		for range b.N {
			var err error
			if buf, err = m.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
