package httpapi_test

import (
	"testing"
)

// A private note may be added to a closed conversation (a helpdesk keeps
// every message and note of a solved ticket together): 201, and the
// conversation stays closed; a reply to it is still refused (409).
func TestNoteOnAClosedConversation(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e, ids := scenarioEnv(t, dialect)
		e.run(t, []step{
			{name: "close", method: "POST", path: "/v1/conversations/{convA}/status", token: adminToken,
				body: map[string]any{"status": "closed"}, status: 200, check: wantField("status", "closed")},
			{name: "note on the closed conversation", method: "POST", path: "/v1/conversations/{convA}/notes", token: agentToken,
				body: map[string]any{"text": "refund confirmed by the bank"}, status: 201, check: wantField("kind", "note")},
			{name: "still closed", method: "GET", path: "/v1/conversations/{convA}", token: agentToken, status: 200,
				check: wantField("status", "closed")},
			{name: "a reply is refused", method: "POST", path: "/v1/conversations/{convA}/messages", token: agentToken,
				body: map[string]any{"text": "hi"}, status: 409, code: "conflict"},
		}, ids)
	})
}
