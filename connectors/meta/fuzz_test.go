package meta

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

// checkBatch is the contract of a signed body on a Meta route: no panic; a
// refusal is ErrMalformed (never ErrSignature: the body is signed with the
// app secret); each accepted event is valid against its inbound schema and
// survives the Kafka round trip unchanged; items are never lost between the
// parser and the events.
func checkBatch(t *testing.T, h webhook.Handler, parse parser, body []byte) {
	t.Helper()
	res, err := h.Handle(context.Background(), postRequest(body, Sign(secret, body)))
	b, perr := parse(body, at)
	if (err == nil) != (perr == nil) {
		t.Fatalf("handler error %v, parser error %v", err, perr)
	}
	if err != nil {
		if !errors.Is(err, webhook.ErrMalformed) {
			t.Fatalf("error %v, want ErrMalformed", err)
		}
		return
	}
	if len(res.Events) != len(b.Items) || res.Ignored != b.Ignored || res.Ignored < 0 {
		t.Fatalf("%d events and %d ignored from a batch of %d items and %d ignored", len(res.Events), res.Ignored, len(b.Items), b.Ignored)
	}
	for _, ev := range res.Events {
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
		default:
			t.Fatalf("event type %q", back.Type)
		}
		again, err := json.Marshal(typed)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(again, ev.Event.Data) {
			t.Fatalf("re-encoding differs:\n%s\n%s", ev.Event.Data, again)
		}
	}
}

// FuzzWhatsAppSigned fuzzes WhatsApp Cloud API notifications signed with
// the app secret inside the fuzz function, seeded with every testdata payload.
func FuzzWhatsAppSigned(f *testing.F) {
	seeds(f)
	h := WhatsApp{AppSecret: secret, VerifyToken: verifyToken}
	f.Fuzz(func(t *testing.T, body []byte) { checkBatch(t, h, ParseWhatsApp, body) })
}

// FuzzMessengerSigned does the same for Messenger and Instagram webhooks.
func FuzzMessengerSigned(f *testing.F) {
	seeds(f)
	h := Messenger{AppSecret: secret, VerifyToken: verifyToken}
	f.Fuzz(func(t *testing.T, body []byte) { checkBatch(t, h, ParseMessenger, body) })
}

// sameJSON reports whether two documents hold the same values (numbers
// compared as numbers: Extra keeps them as written, 0.000000 and 0 are equal).
func sameJSON(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
