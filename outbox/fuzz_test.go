package outbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opengateway/gateway/normalize"
)

// FuzzDecodeCommand fuzzes the decoder of outbound.v1 records, plain JSON or
// a message.send CloudEvent. The package has no testdata/: the seeds are the
// documented command shapes. A refusal wraps normalize.ErrEvent (the record
// is dead-lettered as undecodable); an accepted command has its id and
// conversation, and written back as plain JSON decodes to itself.
func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"id":"cmd-1","conversation_id":"0190f0aa-7b1c-7000-8000-000000000001","text":"Your order has shipped."}`,
		`{"id":"cmd-2","conversation_id":"c","channel":"whatsapp","template":{"name":"order_update","language":"en_US","components":[{"type":"body","parameters":[{"type":"text","text":"42"}]}]}}`,
		`{"id":"cmd-3","conversation_id":"c","channel":"sms","template":{"name":"HXabc","variables":{"1":"Ann"}}}`,
		`{"id":"cmd-4","conversation_id":"c","channel":"email","subject":"Re: order","text":"Hi","attachments":[{"url":"https://example.com/a.pdf","content_type":"application/pdf","filename":"a.pdf"}]}`,
		`{"id":"cmd-5","conversation_id":"c","channel":"messenger","tag":"HUMAN_AGENT","text":"Hi","actor":"agent:ann"}`,
		`{"specversion":"1.0","id":"ev-1","source":"/crm","type":"message.send","datacontenttype":"application/json","data":{"conversation_id":"c","text":"Hi"}}`,
		`{"specversion":"1.0","id":"ev-2","source":"/crm","type":"message.send","data":{"id":"own","conversation_id":"c","text":"Hi"}}`,
		`{"specversion":"1.0","id":"ev-3","type":"message.received","data":{}}`,
		`{"specversion":"1.0","id":"ev-4","type":"message.send","data":"x"}`,
		`{"id":"x"}`, `[]`, `null`, `{}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, normalize.ErrEvent) {
				t.Fatalf("error %v does not wrap normalize.ErrEvent", err)
			}
			return
		}
		if c.ID == "" || c.ConversationID == "" {
			t.Fatalf("accepted a command without id or conversation: %+v", c)
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal accepted command: %v", err)
		}
		back, err := DecodeCommand(again)
		if err != nil {
			t.Fatalf("own encoding %s refused: %v", again, err)
		}
		// Compared as JSON: numbers in template components come back as float64 either way.
		b1, _ := json.Marshal(back)
		if !bytes.Equal(b1, again) {
			t.Fatalf("round trip changed the command:\n%s\n%s", again, b1)
		}
	})
}

// FuzzRedactURLs fuzzes the redaction of provider error text shown as a
// reply's last_error: it never panics, it is stable (redacting twice
// changes nothing more), and no user info, path or query of a URL
// survives it.
func FuzzRedactURLs(f *testing.F) {
	for _, s := range []string{
		`twilio: Post "https://api.twilio.com/2010-04-01/Accounts/AC0123/Messages.json": dial tcp: connection refused`,
		`meta: Post https://ops:pw@graph.facebook.com:443/v23.0/1/messages?access_token=EAAG: EOF`,
		`HTTP://X/Y?Z, http://a@b@c/d.`, `https://`, `no url at all`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := redactURLs(s)
		if twice := redactURLs(once); twice != once {
			t.Fatalf("not stable: %q -> %q -> %q", s, once, twice)
		}
		for _, u := range urlRest.FindAllString(once, -1) {
			url := strings.TrimRight(u, ":,.;)")
			if m := urlRest.FindStringSubmatch(url); m != nil && url != m[1]+m[2] {
				t.Fatalf("%q keeps %q of a URL", once, u)
			}
		}
	})
}
