package normalize

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// AppendEncode writes the bytes json.Marshal (and Encode) would: the
// consumers of inbound.v1 see the same records whichever encoder ran.
func TestAppendEncodeMatchesMarshal(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	cases := map[string]Event{
		"plain":         {SpecVersion: "1.0", ID: "01J0ABC", Source: "/gateway/connectors/twilio", Type: TypeMessageReceived, Subject: "sms:+14155550101", Time: at, DataContentType: "application/json", Data: json.RawMessage(`{"a":1}`)},
		"no subject":    {SpecVersion: "1.0", ID: "x", Source: "s", Type: "t", Time: at, DataContentType: "application/json", Data: json.RawMessage(`[]`)},
		"no data":       {SpecVersion: "1.0", ID: "x", Source: "s", Type: "t", Time: at},
		"escapes":       {SpecVersion: "1.0", ID: "a\"b\\c", Source: "<script>&", Type: "t\n\t\x01", Subject: "whatsapp:ü 漢字 \u2028", Time: at, Data: json.RawMessage(`1`)},
		"invalid utf-8": {SpecVersion: "1.0", ID: "\xff\xfe", Source: "s", Type: "t", Time: at, Data: json.RawMessage(`1`)},
		"zone":          {SpecVersion: "1.0", ID: "x", Source: "s", Type: "t", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", -5*3600)), Data: json.RawMessage(`1`)},
		"zero time":     {SpecVersion: "1.0", ID: "x", Source: "s", Type: "t", Data: json.RawMessage(`1`)},
	}
	for name, ev := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ev.AppendEncode([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("AppendEncode\n got %s\nwant prefix%s", got, want)
			}
		})
	}
	// A time JSON cannot say is an error, as with json.Marshal.
	if _, err := (Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}).AppendEncode(nil); err == nil {
		t.Error("year 10000: no error")
	}
}

func FuzzAppendEncode(f *testing.F) {
	f.Add("01J0ABC", "/gateway/connectors/twilio", "message.received", "sms:+14155550101", int64(1772600000), `{"text":"hi"}`)
	f.Add("a\"b", "<&>", "t\n", "ü\u2028", int64(-1), `null`)
	f.Fuzz(func(t *testing.T, id, source, typ, subject string, sec int64, data string) {
		if !json.Valid([]byte(data)) {
			return
		}
		var compact bytes.Buffer
		if json.Compact(&compact, []byte(data)) != nil {
			return
		}
		ev := Event{SpecVersion: "1.0", ID: id, Source: source, Type: typ, Subject: subject, Time: time.Unix(sec, 0).UTC(),
			DataContentType: "application/json", Data: compact.Bytes()}
		want, werr := json.Marshal(ev)
		got, gerr := ev.AppendEncode(nil)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("errors differ: marshal %v, AppendEncode %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("AppendEncode\n got %s\nwant %s", got, want)
		}
	})
}
