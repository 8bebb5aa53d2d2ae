package meta

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/opengateway/gateway/connectors/connectortest"
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
		connectortest.CheckEvent(t, ev)
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

// checkEntryPoints is the contract of a signed body on a route with entry
// points: no panic; a refusal is ErrMalformed, or ErrSignature for an
// address whose entry point has an app of its own; every message names an
// entry point, and a delivery that lost messages says so (dead letter).
func checkEntryPoints(t *testing.T, h webhook.Handler, parse parser, body []byte) {
	t.Helper()
	res, err := h.Handle(context.Background(), postRequest(body, Sign(secret, body)))
	if err != nil {
		if !errors.Is(err, webhook.ErrMalformed) && !errors.Is(err, webhook.ErrSignature) {
			t.Fatalf("error %v", err)
		}
		return
	}
	b, _ := parse(body, at)
	if len(res.Events) < len(b.Items) && res.DeadLetter == "" {
		t.Fatalf("%d events of %d items and no dead letter", len(res.Events), len(b.Items))
	}
	for _, ev := range res.Events {
		if ev.Event.Type == normalize.TypeMessageReceived {
			var m normalize.Message
			if json.Unmarshal(ev.Event.Data, &m) != nil || m.EntryPoint == "" {
				t.Fatalf("message without an entry point: %s", ev.Event.Data)
			}
		}
		connectortest.CheckEvent(t, ev)
	}
}

// FuzzWhatsAppEntryPoints fuzzes WhatsApp notifications on the shared route
// of a connector with entry points.
func FuzzWhatsAppEntryPoints(f *testing.F) {
	seeds(f)
	f.Add(waNote(usNumber, euNumber, otherNumber))
	h := WhatsApp{AppSecret: secret, VerifyToken: verifyToken, EntryPoints: NewEntryPoints(testEntryPoints)}
	f.Fuzz(func(t *testing.T, body []byte) { checkEntryPoints(t, h, ParseWhatsApp, body) })
}

// FuzzMessengerEntryPoints does the same for Messenger and Instagram.
func FuzzMessengerEntryPoints(f *testing.F) {
	seeds(f)
	f.Add(fbNote("page", helpPage))
	f.Add(fbNote("instagram", igAccount))
	h := Messenger{AppSecret: secret, VerifyToken: verifyToken, EntryPoints: NewEntryPoints(testEntryPoints)}
	f.Fuzz(func(t *testing.T, body []byte) { checkEntryPoints(t, h, ParseMessenger, body) })
}
