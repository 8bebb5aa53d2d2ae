package httpapi_test

import (
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/httpapi"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/normalize"
)

// An unauthenticated email's sender_verified false reaches the agent's
// message list, as openapi.yaml documents it.
func TestMessagesShowSenderVerified(t *testing.T) {
	e := newAPIEnv(t, sqlstore.SQLite, nil)
	no := false
	e.receive(normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelEmail, Provider: "sendgrid",
		ProviderMessageID: "forged-1@evil.example", Direction: normalize.Inbound,
		From: normalize.Party{Kind: normalize.KindEmail, Address: "ann@example.com"},
		To:   normalize.Party{Kind: normalize.KindEmail, Address: "support@shop.example"}, Text: "new bank details", SenderVerified: &no})
	_, conv := e.customer("ann@example.com")
	r := e.do("GET", "/v1/conversations/"+conv+"/messages", agentToken, nil)
	data, _ := r.object(t)["data"].([]any)
	if len(data) != 1 {
		t.Fatalf("messages %s", r.body)
	}
	if m := data[0].(map[string]any)["message"].(map[string]any); m["sender_verified"] != false {
		t.Fatalf("sender_verified %v, want false", m["sender_verified"])
	}
}

// The identity of a customer of unauthenticated email (GATEWAY_EMAIL_UNVERIFIED=separate)
// is documented.
func TestIdentityKindsDocumented(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	s := doc.Components.Schemas["Identity"].Value
	for _, kind := range []string{normalize.KindEmail, core.KindEmailUnverified} {
		if err := s.VisitJSON(map[string]any{"kind": kind, "address": "ann@example.com"}); err != nil {
			t.Errorf("identity kind %s: %v", kind, err)
		}
	}
}
