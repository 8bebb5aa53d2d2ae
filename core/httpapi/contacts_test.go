package httpapi_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/opengateway/gateway/core"
)

// firstContact returns the id of a conversation's first contact.
func (e *apiEnv) firstContact(conversationID string) string {
	e.t.Helper()
	conv, err := e.svc.Conversation(context.Background(), conversationID)
	if err != nil || len(conv.Contacts) == 0 {
		e.t.Fatalf("contacts of %s: %+v %v", conversationID, conv.Contacts, err)
	}
	return conv.Contacts[0].ID
}

// contactSteps end the first contact of convA through the API.
func contactSteps() []step {
	return []step{
		{name: "conversation shows its contacts", method: "GET", path: "/v1/conversations/{convA}", token: agentToken, status: 200,
			check: wantContact(func(ct core.Contact) bool { return ct.ID != "" && ct.Channel == "sms" && ct.EndedAt == nil })},
		{name: "end contact", method: "POST", path: "/v1/conversations/{convA}/contacts/{contactA}/end", token: annToken, status: 200,
			check: wantContact(func(ct core.Contact) bool {
				return ct.EndedAt != nil && ct.EndReason == "ended" && ct.EndedBy == "agent:ann"
			})},
		{name: "end contact of another conversation", method: "POST", path: "/v1/conversations/{convB}/contacts/{contactA}/end", token: agentToken, status: 404, code: "not_found"},
		{name: "end unknown contact", method: "POST", path: "/v1/conversations/{convA}/contacts/nope/end", token: agentToken, status: 404, code: "not_found"},
		{name: "end contact with unknown field", method: "POST", path: "/v1/conversations/{convA}/contacts/{contactA}/end", token: agentToken, body: `{"why":1}`, status: 400, code: "invalid"},
	}
}

func wantContact(ok func(core.Contact) bool) func(t *testing.T, r resp) {
	return func(t *testing.T, r resp) {
		t.Helper()
		var conv core.Conversation
		if err := json.Unmarshal(r.body, &conv); err != nil || len(conv.Contacts) != 1 || !ok(conv.Contacts[0]) {
			t.Errorf("contacts in %s", r.body)
		}
	}
}

func TestAgentEndsAContactThroughTheAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e, ids := scenarioEnv(t, dialect)
		e.run(t, contactSteps(), ids)
	})
}
