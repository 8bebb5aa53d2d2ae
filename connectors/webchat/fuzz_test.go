package webchat

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseFrame fuzzes the decoder of the frames a visitor's browser sends.
// The package has no testdata/: the seeds are the frames of the chat
// protocol (hello with a token or a signed identity, message, received).
func FuzzParseFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello"}`,
		`{"type":"hello","token":"0190f0aa-7b1c-7000-8000-000000000001.c2lnbmF0dXJl"}`,
		`{"type":"hello","identity":{"email":"ann@example.com","signature":"ab12"}}`,
		`{"type":"hello","identity":{"user_id":"u-42","signature":"ab12"}}`,
		`{"type":"message","client_id":"c-1","text":"Hello, is anyone there?"}`,
		`{"type":"message","client_id":"c-2","text":"  "}`,
		`{"type":"received","message_id":"0190f0aa-7b1c-7000-8000-000000000002"}`,
		`{"type":"typing"}`, `{"type":null}`, `{"TYPE":"hello"}`, `{"type":"hello","identity":null}`, `[]`, `"hello"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrame(b)
		if err != nil {
			return
		}
		switch fr.Type {
		case "hello", "received":
		case "message":
			if fr.ClientID == "" || len(fr.ClientID) > 100 || strings.TrimSpace(fr.Text) == "" {
				t.Fatalf("accepted message frame %+v", fr)
			}
		default:
			t.Fatalf("accepted frame type %q", fr.Type)
		}
		// An accepted frame written back is read back the same.
		again, err := json.Marshal(fr)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseFrame(again)
		if err != nil || !reflect.DeepEqual(back, fr) {
			t.Fatalf("round trip of %q: %+v %v, want %+v", again, back, err, fr)
		}
	})
}
