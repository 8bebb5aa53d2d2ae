package sendgrid

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/webhook"
)

// An entry point with an event key of its own has its own Event Webhook,
// verified with that key only (the shared route keeps
// SENDGRID_EVENT_PUBLIC_KEY's); a key that is not one fails the start,
// naming the entry point.
func TestEventsOwnRoute(t *testing.T) {
	// The vectors were signed years ago: the window is wide enough for them.
	c, err := New(Settings{EventPublicKey: officialKey, EventMaxAge: 100 * 365 * 24 * time.Hour,
		EntryPoints: []EntryPoint{{ID: "eu", Address: "support@eu.example", EventPublicKey: selfKey}}}, connector.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	handler := func(path string) webhook.Handler {
		for _, rt := range c.Routes {
			if rt.Path == path {
				return rt.Handler
			}
		}
		t.Fatalf("no route %s", path)
		return nil
	}
	own, shared := handler(EventsPath+"/eu"), handler(EventsPath)
	self := eventsRequest(read(t, "sendgrid_event_selfsigned_payload.bin"), selfSig, selfTS)
	official := eventsRequest(read(t, "sendgrid_event_official_sdk_payload.bin"), officialSig, officialTS)
	if _, err := own.Handle(context.Background(), self); err != nil {
		t.Errorf("own route, signed with its key: %v", err)
	}
	if _, err := own.Handle(context.Background(), official); !errors.Is(err, webhook.ErrSignature) {
		t.Errorf("own route, signed with the shared key: %v, want a signature error", err)
	}
	if _, err := shared.Handle(context.Background(), self); !errors.Is(err, webhook.ErrSignature) {
		t.Errorf("shared route, signed with the entry point's key: %v, want a signature error", err)
	}
	if _, err := shared.Handle(context.Background(), official); err != nil {
		t.Errorf("shared route, signed with its key: %v", err)
	}
	_, err = New(Settings{EntryPoints: []EntryPoint{{ID: "eu", Address: "support@eu.example", EventPublicKey: "not a key"}}}, connector.Deps{})
	if err == nil || !strings.Contains(err.Error(), `entry point "eu": event_public_key`) {
		t.Errorf("a bad key: %v, want an error naming the entry point", err)
	}
}
