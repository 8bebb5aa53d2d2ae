package normalize

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// goldenData are the normalized messages and statuses the connectors'
// golden files hold (normalize has no testdata/ of its own; the connectors'
// outputs are its inputs). Missing files only mean fewer seeds.
func goldenData(f *testing.F) [][]byte {
	files, _ := filepath.Glob(filepath.Join("..", "connectors", "*", "testdata", "golden", "*.json"))
	var out [][]byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzDecodeEvent fuzzes the CloudEvent decoder and the typed decoders of
// inbound.v1 records. A refusal wraps ErrEvent; an accepted envelope has
// what the core relies on and survives Encode and DecodeEvent unchanged; an
// accepted message or status has its required fields.
func FuzzDecodeEvent(f *testing.F) {
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for _, data := range goldenData(f) {
		typ := TypeMessageReceived
		if bytes.Contains(data, []byte(`"provider_status"`)) || !bytes.Contains(data, []byte(`"direction"`)) {
			typ = TypeMessageStatus
		}
		ev, err := NewEvent("/gateway/connectors/test", typ, "sms:+14155550100", at, json.RawMessage(data))
		if err != nil {
			f.Fatal(err)
		}
		raw, err := ev.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, s := range []string{
		`{"specversion":"1.0","id":"1","source":"/s","type":"message.status","time":"2026-11-02T09:00:00+02:00","datacontenttype":"application/json","data":{"provider":"twilio","provider_message_id":"SM1","status":"sent","at":"2026-11-02T09:00:00Z"}}`,
		`{"specversion":"1.0","id":"1","source":"/s","type":"message.received","data":{"message_id":"m","channel":"sms","provider":"p","from":{"kind":"phone","address":"+1"},"extra":{"n":1e400}}}`,
		`{"specversion":"1.0","id":"1","source":"/s","type":"message.updated","data":{"provider":"twilio","provider_message_id":"CA1","channel":"voice","contact":{"kind":"phone","address":"+1"},"call":{"status":"voicemail","direction":"inbound","duration_seconds":3},"text":"hi","at":"2026-11-02T09:00:00Z"}}`,
		`{"specversion":"0.3","id":"1","source":"/s","type":"t","data":1}`, `{"specversion":"1.0","id":"1","source":"/s","type":"t","data":null}`,
		`{"specversion":"1.0","id":"1","source":"/s","type":"t","data":"x"} trailing`, `null`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeEvent(b)
		if err != nil {
			if !errors.Is(err, ErrEvent) {
				t.Fatalf("error %v does not wrap ErrEvent", err)
			}
			return
		}
		if ev.SpecVersion != "1.0" || ev.ID == "" || ev.Source == "" || ev.Type == "" || len(ev.Data) == 0 || string(ev.Data) == "null" {
			t.Fatalf("accepted envelope %+v", ev)
		}
		raw, err := ev.Encode()
		if err != nil {
			// Only a time json cannot write (a year outside 0-9999 once the offset applies) may fail.
			if ev.Time.Year() >= 0 && ev.Time.Year() <= 9999 {
				t.Fatalf("encode decoded event: %v", err)
			}
			return
		}
		back, err := DecodeEvent(raw)
		if err != nil {
			t.Fatalf("own encoding refused: %v\n%s", err, raw)
		}
		if !back.Time.Equal(ev.Time) || !bytes.Equal(back.Data, ev.Data) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", ev, back)
		}
		back.Time, ev.Time = time.Time{}, time.Time{}
		if string(mustJSON(t, back)) != string(mustJSON(t, ev)) {
			t.Fatalf("round trip changed the envelope:\n%+v\n%+v", ev, back)
		}
		if m, err := ev.DecodeMessage(); err == nil {
			if m.MessageID == "" || m.Channel == "" || m.Provider == "" || m.From.Address == "" || m.From.Kind == "" {
				t.Fatalf("accepted message %+v", m)
			}
		} else if !errors.Is(err, ErrEvent) {
			t.Fatalf("message error %v does not wrap ErrEvent", err)
		}
		if u, err := ev.DecodeUpdate(); err == nil {
			if u.Provider == "" || u.ProviderMessageID == "" {
				t.Fatalf("accepted update %+v", u)
			}
		} else if !errors.Is(err, ErrEvent) {
			t.Fatalf("update error %v does not wrap ErrEvent", err)
		}
		if s, err := ev.DecodeStatus(); err == nil {
			if s.Provider == "" || s.ProviderMessageID == "" || s.Status == "" {
				t.Fatalf("accepted status %+v", s)
			}
		} else if !errors.Is(err, ErrEvent) {
			t.Fatalf("status error %v does not wrap ErrEvent", err)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// FuzzCanonicalPhone: an accepted number is E.164 and canonical already.
func FuzzCanonicalPhone(f *testing.F) {
	for _, data := range goldenData(f) {
		var m struct{ From, To Party }
		if json.Unmarshal(data, &m) == nil {
			f.Add(m.From.Address)
			f.Add(m.To.Address)
		}
	}
	for _, s := range []string{"+1 (415) 555-0100", "whatsapp:+14155550100", "tel:+44 20 7946 0958", "14155550100", "0044", "+", "sms:mms:+1", "+1234567890123456", "٣٣٣٣٣٣٣٣٣"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := CanonicalPhone(s)
		if err != nil {
			if !errors.Is(err, ErrAddress) {
				t.Fatalf("error %v, want ErrAddress", err)
			}
			return
		}
		if !e164.MatchString(p) {
			t.Fatalf("CanonicalPhone(%q) = %q, not E.164", s, p)
		}
		if again, err := CanonicalPhone(p); err != nil || again != p {
			t.Fatalf("CanonicalPhone(%q) = %q %v, want it unchanged", p, again, err)
		}
	})
}

// FuzzCanonicalEmail: an accepted address is lower case UTF-8 with an @,
// and the address with its display name, written as a header, reads back the same.
func FuzzCanonicalEmail(f *testing.F) {
	for _, data := range goldenData(f) {
		var m struct{ From, To Party }
		if json.Unmarshal(data, &m) == nil && m.From.Kind == KindEmail {
			f.Add(m.From.Address)
			f.Add(m.From.Name + " <" + m.From.Address + ">")
			f.Add(m.To.Address)
		}
	}
	for _, s := range []string{"Ann <Ann@Example.com>", "\"Doe, Jane\" <jane@example.org>", "=?UTF-8?B?w6lsw6huZQ==?= <e@x.fr>", "bob@[127.0.0.1]", "\"a b\"@x.com", "no-at", "<>", "a@b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, name, err := CanonicalEmail(s)
		if err != nil {
			if !errors.Is(err, ErrAddress) {
				t.Fatalf("error %v, want ErrAddress", err)
			}
			return
		}
		if !utf8.ValidString(addr) || !strings.Contains(addr, "@") || strings.ToLower(addr) != addr {
			t.Fatalf("CanonicalEmail(%q) = %q", s, addr)
		}
		written := (&mail.Address{Name: name, Address: addr}).String()
		a2, n2, err := CanonicalEmail(written)
		if err != nil || a2 != addr || n2 != name {
			t.Fatalf("CanonicalEmail(%q) = %q %q %v, want %q %q", written, a2, n2, err, addr, name)
		}
	})
}
