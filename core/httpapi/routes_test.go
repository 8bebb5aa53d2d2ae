package httpapi_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
)

// TestAPIRoutes walks every route through its answers on both stores.
func TestAPIRoutes(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e, ids := scenarioEnv(t, dialect)
		e.run(t, scenario(), ids)
	})
}

// scenarioEnv is an API where customer A (+14155550101) wrote twice and
// customer B (+14155550102) once.
func scenarioEnv(t *testing.T, dialect string) (*apiEnv, map[string]string) {
	e := newAPIEnv(t, dialect, nil)
	e.receive(sms("+14155550101", "help"))
	e.clock.Advance(time.Minute)
	e.receive(sms("+14155550101", "anyone?"), sms("+14155550102", "hi"))
	ids := map[string]string{}
	ids["custA"], ids["convA"] = e.customer("+14155550101")
	ids["custB"], ids["convB"] = e.customer("+14155550102")
	ids["contactA"] = e.firstContact(ids["convA"])
	return e, ids
}

func scenario() []step {
	const ag, ad = agentToken, adminToken
	return []step{
		{name: "get conversation", method: "GET", path: "/v1/conversations/{convA}", token: ag, status: 200,
			check: all(wantField("status", "new"), wantField("unreplied", 2), wantField("message_count", 2), wantField("channel", "sms"))},
		{name: "get unknown conversation", method: "GET", path: "/v1/conversations/01990000-0000-7000-8000-000000000000", token: ag, status: 404, code: "not_found"},
		{name: "get impossible id", method: "GET", path: "/v1/conversations/a%00b", token: ag, status: 404, code: "not_found"},
		{name: "messages in order", method: "GET", path: "/v1/conversations/{convA}/messages", token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				var page struct{ Data []core.StoredMessage }
				_ = json.Unmarshal(r.body, &page)
				if len(page.Data) != 2 || page.Data[0].Message.Text != "help" || page.Data[1].Message.Text != "anyone?" ||
					page.Data[0].Direction != "inbound" || page.Data[0].Kind != "message" {
					t.Errorf("messages %s", r.body)
				}
			}},
		{name: "messages of unknown conversation", method: "GET", path: "/v1/conversations/nope/messages", token: ag, status: 404, code: "not_found"},
		{name: "messages a page at a time", method: "GET", path: "/v1/conversations/{convA}/messages?limit=1", token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				var page struct {
					Data       []core.StoredMessage
					NextCursor *string `json:"next_cursor"`
				}
				_ = json.Unmarshal(r.body, &page)
				if len(page.Data) != 1 || page.Data[0].Message.Text != "help" || page.NextCursor == nil {
					t.Errorf("first page %s", r.body)
				}
			}},
		{name: "messages with a limit above 500", method: "GET", path: "/v1/conversations/{convA}/messages?limit=501", token: ag, status: 400, code: "invalid"},
		{name: "messages with a forged cursor", method: "GET", path: "/v1/conversations/{convA}/messages?cursor=eyJ0IjoxfQ", token: ag, status: 400, code: "invalid"},

		{name: "assign", method: "POST", path: "/v1/conversations/{convA}/assign", token: annToken,
			body: map[string]any{"agent": "ann", "inbox": "support"}, status: 200,
			check: all(wantField("status", "open"), wantField("assignee", "ann"), wantField("inbox", "support"))},
		{name: "assign without agent", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: map[string]any{"inbox": "support"}, status: 400, code: "invalid"},
		{name: "assign malformed JSON", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"agent":`, status: 400, code: "invalid"},
		{name: "assign unknown field", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"agent":"ann","inbx":"s"}`, status: 400, code: "invalid"},
		{name: "assign array body", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `["ann"]`, status: 400, code: "invalid"},
		{name: "assign wrong type", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"agent":5}`, status: 400, code: "invalid",
			check: func(t *testing.T, r resp) {
				if r.message() != "invalid JSON body: agent must be a string" {
					t.Errorf("message %q", r.message())
				}
			}},
		{name: "assign with a name in another case", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"Agent":"ann"}`, status: 400, code: "invalid"},
		{name: "assign two objects", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"agent":"a"}{"agent":"b"}`, status: 400, code: "invalid"},
		{name: "assign without body", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, status: 400, code: "invalid"},
		{name: "assign NUL agent", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: `{"agent":"a\u0000b"}`, status: 400, code: "invalid"},
		{name: "assign unknown conversation", method: "POST", path: "/v1/conversations/nope/assign", token: ag, body: map[string]any{"agent": "ann"}, status: 404, code: "not_found"},

		{name: "note", method: "POST", path: "/v1/conversations/{convA}/notes", token: annToken, body: map[string]any{"text": "VIP customer"}, status: 201,
			check: all(wantField("kind", "note"), wantField("author", "agent:ann"), wantField("text", "VIP customer"), wantField("conversation_id", "{convA}"))},
		{name: "empty note", method: "POST", path: "/v1/conversations/{convA}/notes", token: ag, body: map[string]any{"text": "  "}, status: 400, code: "invalid"},
		{name: "note on unknown conversation", method: "POST", path: "/v1/conversations/nope/notes", token: ag, body: map[string]any{"text": "x"}, status: 404, code: "not_found"},

		{name: "reply", method: "POST", path: "/v1/conversations/{convA}/messages", token: annToken,
			body: map[string]any{"text": "We are on it"}, status: 202, check: wantField("status", "queued")},
		{name: "reply without text", method: "POST", path: "/v1/conversations/{convA}/messages", token: ag, body: map[string]any{}, status: 400, code: "invalid"},
		{name: "reply too long for SMS", method: "POST", path: "/v1/conversations/{convA}/messages", token: ag,
			body: map[string]any{"text": strings.Repeat("x", 1601)}, status: 422, code: "unprocessable"},
		{name: "reply on a channel never used", method: "POST", path: "/v1/conversations/{convA}/messages", token: ag,
			body: map[string]any{"text": "hi", "channel": "messenger"}, status: 422, code: "unprocessable"},
		{name: "reply to unknown conversation", method: "POST", path: "/v1/conversations/nope/messages", token: ag, body: map[string]any{"text": "x"}, status: 404, code: "not_found"},

		{name: "mark waiting", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{"status": "waiting"}, status: 200,
			check: wantField("status", "waiting")},
		{name: "unknown status", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{"status": "done"}, status: 400, code: "invalid"},
		{name: "status missing", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{}, status: 400, code: "invalid"},
		{name: "close as another agent", method: "POST", path: "/v1/conversations/{convA}/status", token: bobToken,
			body: map[string]any{"status": "closed"}, status: 403, code: "forbidden"},
		{name: "close", method: "POST", path: "/v1/conversations/{convA}/status", token: annToken, body: map[string]any{"status": "closed", "reason": "solved_by_phone"}, status: 200,
			check: all(wantField("status", "closed"), wantField("close_reason", "solved_by_phone"))},
		{name: "waiting when closed", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{"status": "waiting"}, status: 409, code: "conflict"},
		{name: "reply when closed", method: "POST", path: "/v1/conversations/{convA}/messages", token: ag, body: map[string]any{"text": "x"}, status: 409, code: "conflict"},
		{name: "assign when closed", method: "POST", path: "/v1/conversations/{convA}/assign", token: ag, body: map[string]any{"agent": "bob"}, status: 409, code: "conflict"},

		// A first message that breaks a rule (no business number configured for
		// SMS) creates nothing: the next step can still open one.
		{name: "open with a text and no sender", method: "POST", path: "/v1/conversations", token: ag,
			body: map[string]any{"customer_id": "{custA}", "channel": "sms", "text": "hello"}, status: 422, code: "unprocessable",
			check: func(t *testing.T, r resp) {
				if r.message() != "no sender is configured for sms" {
					t.Errorf("message %q", r.message())
				}
			}},
		{name: "open proactively", method: "POST", path: "/v1/conversations", token: bobToken,
			body: map[string]any{"customer_id": "{custA}", "channel": "sms"}, status: 201, save: "convNew",
			check: all(wantField("status", "open"), wantField("assignee", "bob"), wantField("channel", "sms"), wantField("customer_id", "{custA}"))},
		{name: "open while active", method: "POST", path: "/v1/conversations", token: ag, body: map[string]any{"customer_id": "{custA}"}, status: 409, code: "conflict"},
		{name: "open for unknown customer", method: "POST", path: "/v1/conversations", token: ag, body: map[string]any{"customer_id": "nope"}, status: 404, code: "not_found"},
		{name: "open without customer", method: "POST", path: "/v1/conversations", token: ag, body: map[string]any{}, status: 400, code: "invalid"},
		{name: "open on unknown channel", method: "POST", path: "/v1/conversations", token: ag, body: map[string]any{"customer_id": "{custA}", "channel": "fax"}, status: 400, code: "invalid"},
		{name: "reopen while another is active", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{"status": "open"}, status: 409, code: "conflict"},

		{name: "unassign", method: "POST", path: "/v1/conversations/{convNew}/unassign", token: ag, status: 200,
			check: all(wantField("status", "new"), wantField("assignee", nil))},
		{name: "unassign with an empty object", method: "POST", path: "/v1/conversations/{convNew}/unassign", token: ag, body: map[string]any{}, status: 200},
		{name: "unassign with an unknown field", method: "POST", path: "/v1/conversations/{convNew}/unassign", token: ag, body: map[string]any{"agnt": "x"}, status: 400, code: "invalid"},
		{name: "unassign unknown", method: "POST", path: "/v1/conversations/nope/unassign", token: ag, status: 404, code: "not_found"},

		{name: "delete as agent", method: "DELETE", path: "/v1/conversations/{convNew}", token: ag, status: 403, code: "forbidden"},
		{name: "delete as admin", method: "DELETE", path: "/v1/conversations/{convNew}", token: ad, status: 204,
			check: func(t *testing.T, r resp) {
				if len(r.body) != 0 {
					t.Errorf("204 with a body %q", r.body)
				}
			}},
		{name: "deleted is gone", method: "GET", path: "/v1/conversations/{convNew}", token: ag, status: 404, code: "not_found"},
		{name: "delete again", method: "DELETE", path: "/v1/conversations/{convNew}", token: ad, status: 404, code: "not_found"},
		{name: "reopen", method: "POST", path: "/v1/conversations/{convA}/status", token: ag, body: map[string]any{"status": "open"}, status: 200,
			check: all(wantField("status", "open"), wantField("assignee", "ann"))},

		{name: "find customer by phone in another notation", method: "GET", path: "/v1/customers?address=" + url.QueryEscape("+1 (415) 555-0101"), token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				var c core.Customer
				_ = json.Unmarshal(r.body, &c)
				if len(c.Identities) != 1 || c.Identities[0] != (core.Identity{Kind: "phone", Address: "+14155550101"}) {
					t.Errorf("customer %s", r.body)
				}
			}},
		{name: "find customer without address", method: "GET", path: "/v1/customers", token: ag, status: 400, code: "invalid"},
		{name: "find customer with NUL", method: "GET", path: "/v1/customers?address=a%00b", token: ag, status: 400, code: "invalid"},
		{name: "find unknown customer", method: "GET", path: "/v1/customers?address=nobody@example.com", token: ag, status: 404, code: "not_found"},
		{name: "get customer", method: "GET", path: "/v1/customers/{custA}", token: ag, status: 200, check: wantField("id", "{custA}")},
		{name: "get unknown customer", method: "GET", path: "/v1/customers/nope", token: ag, status: 404, code: "not_found"},
		{name: "timeline", method: "GET", path: "/v1/customers/{custA}/timeline", token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				var tl core.Timeline
				_ = json.Unmarshal(r.body, &tl)
				if len(tl.Conversations) != 1 || len(tl.Conversations[0].Messages) != 4 || tl.Conversations[0].Messages[2].Kind != "note" ||
					tl.Conversations[0].Messages[3].Direction != "outbound" || tl.Conversations[0].Messages[3].Status != "queued" {
					t.Errorf("timeline %s", r.body)
				}
			}},
		{name: "timeline of unknown customer", method: "GET", path: "/v1/customers/nope/timeline", token: ag, status: 404, code: "not_found"},
		{name: "timeline a page at a time", method: "GET", path: "/v1/customers/{custA}/timeline?limit=3", token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				var tl struct {
					Conversations []core.TimelineConversation
					NextCursor    *string `json:"next_cursor"`
				}
				_ = json.Unmarshal(r.body, &tl)
				if len(tl.Conversations) != 1 || len(tl.Conversations[0].Messages) != 3 || tl.NextCursor == nil {
					t.Errorf("timeline page %s", r.body)
				}
			}},
		{name: "timeline with a forged cursor", method: "GET", path: "/v1/customers/{custA}/timeline?cursor=x", token: ag, status: 400, code: "invalid"},

		{name: "merge as agent", method: "POST", path: "/v1/customers/{custA}/merge", token: ag, body: map[string]any{"from": "{custB}"}, status: 403, code: "forbidden"},
		{name: "merge into itself", method: "POST", path: "/v1/customers/{custA}/merge", token: ad, body: map[string]any{"from": "{custA}"}, status: 400, code: "invalid"},
		{name: "merge unknown", method: "POST", path: "/v1/customers/{custA}/merge", token: ad, body: map[string]any{"from": "nope"}, status: 404, code: "not_found"},
		{name: "merge into unknown", method: "POST", path: "/v1/customers/nope/merge", token: ad, body: map[string]any{"from": "{custB}"}, status: 404, code: "not_found"},
		{name: "merge without from", method: "POST", path: "/v1/customers/{custA}/merge", token: ad, body: map[string]any{}, status: 400, code: "invalid"},
		{name: "merge", method: "POST", path: "/v1/customers/{custA}/merge", token: ad, body: map[string]any{"from": "{custB}"}, status: 200,
			check: func(t *testing.T, r resp) {
				var c core.Customer
				_ = json.Unmarshal(r.body, &c)
				var addrs []string
				for _, id := range c.Identities {
					addrs = append(addrs, id.Address)
				}
				sort.Strings(addrs)
				if !slices.Equal(addrs, []string{"+14155550101", "+14155550102"}) {
					t.Errorf("merged customer %s", r.body)
				}
			}},
		{name: "merged customer is gone", method: "GET", path: "/v1/customers/{custB}", token: ag, status: 404, code: "not_found"},
		{name: "merged conversation is closed", method: "GET", path: "/v1/conversations/{convB}", token: ag, status: 200,
			check: all(wantField("status", "closed"), wantField("close_reason", "merged"), wantField("customer_id", "{custA}"))},
		{name: "stats", method: "GET", path: "/v1/stats?agent=ann", token: annToken, status: 200,
			check: func(t *testing.T, r resp) {
				var st core.Stats
				_ = json.Unmarshal(r.body, &st)
				if st.ByStatus["open"] != 1 || st.ByStatus["closed"] != 1 || st.ByStatus["new"] != 0 || st.Unassigned != 0 ||
					st.AgentAssigned == nil || *st.AgentAssigned != 1 || st.AgentUnreplied == nil || *st.AgentUnreplied != st.Unreplied {
					t.Errorf("stats %s", r.body)
				}
			}},

		{name: "set topics", method: "PUT", path: "/v1/conversations/{convA}/topics", token: ag, body: map[string]any{"topics": []string{"billing", " refund ", "billing"}}, status: 200,
			check: wantField("topics", []any{"billing", "refund"})},
		{name: "topic too long", method: "PUT", path: "/v1/conversations/{convA}/topics", token: ag, body: map[string]any{"topics": []string{strings.Repeat("x", 65)}}, status: 400, code: "invalid"},
		{name: "topics missing", method: "PUT", path: "/v1/conversations/{convA}/topics", token: ag, body: map[string]any{}, status: 400, code: "invalid"},
		{name: "topics of unknown conversation", method: "PUT", path: "/v1/conversations/nope/topics", token: ag, body: map[string]any{"topics": []string{}}, status: 404, code: "not_found"},
		{name: "list by topic", method: "GET", path: "/v1/conversations?topic=refund", token: ag, status: 200,
			check: func(t *testing.T, r resp) {
				var page struct{ Data []core.Conversation }
				_ = json.Unmarshal(r.body, &page)
				if len(page.Data) != 1 || page.Data[0].ID != r.ids["convA"] {
					t.Errorf("by topic %s", r.body)
				}
			}},
		{name: "mark read", method: "POST", path: "/v1/conversations/{convA}/read", token: annToken, status: 200, check: wantField("unread", 0)},
		{name: "mark read without a name", method: "POST", path: "/v1/conversations/{convA}/read", token: ag, status: 400, code: "invalid"},
		{name: "mark read of unknown conversation", method: "POST", path: "/v1/conversations/nope/read", token: annToken, status: 404, code: "not_found"},
		{name: "my inbox", method: "GET", path: "/v1/conversations?assignee=me", token: annToken, status: 200,
			check: func(t *testing.T, r resp) {
				var page struct{ Data []core.Conversation }
				_ = json.Unmarshal(r.body, &page)
				if len(page.Data) != 1 || page.Data[0].ID != r.ids["convA"] || page.Data[0].Unread == nil || *page.Data[0].Unread != 0 {
					t.Errorf("my inbox %s", r.body)
				}
			}},
		{name: "my inbox without a name", method: "GET", path: "/v1/conversations?assignee=me", token: ag, status: 400, code: "invalid"},
		{name: "presets none", method: "GET", path: "/v1/customers/{custA}/presets", token: ag, status: 200, check: wantField("assignees", []any{})},
		{name: "set presets", method: "PUT", path: "/v1/customers/{custA}/presets", token: ag, body: map[string]any{"assignees": []string{"ann"}, "inbox": "vip"}, status: 200,
			check: all(wantField("assignees", []any{"ann"}), wantField("inbox", "vip"))},
		{name: "two preset assignees without multi-assign", method: "PUT", path: "/v1/customers/{custA}/presets", token: ag,
			body: map[string]any{"assignees": []string{"ann", "bob"}}, status: 422, code: "unprocessable"},
		{name: "presets of unknown customer", method: "PUT", path: "/v1/customers/nope/presets", token: ag, body: map[string]any{"inbox": "x"}, status: 404, code: "not_found"},
		{name: "presets read back", method: "GET", path: "/v1/customers/{custA}/presets", token: ag, status: 200, check: wantField("inbox", "vip")},
		{name: "set visibility", method: "PUT", path: "/v1/conversations/{convA}/visibility", token: annToken,
			body: map[string]any{"visible_to": []string{"ann", "bob", "ann"}}, status: 200, check: wantField("visible_to", []any{"ann", "bob"})},
		{name: "hidden from another agent", method: "GET", path: "/v1/conversations/{convA}", token: carlToken, status: 404, code: "not_found"},
		{name: "visibility leaving out the assignee", method: "PUT", path: "/v1/conversations/{convA}/visibility", token: ad,
			body: map[string]any{"visible_to": []string{"bob"}}, status: 422, code: "unprocessable"},
		{name: "visibility missing", method: "PUT", path: "/v1/conversations/{convA}/visibility", token: ad, body: map[string]any{}, status: 400, code: "invalid"},
		{name: "visible to everyone again", method: "PUT", path: "/v1/conversations/{convA}/visibility", token: ad,
			body: map[string]any{"visible_to": []string{}}, status: 200, check: wantField("visible_to", []any{})},
		{name: "preset visibility", method: "PUT", path: "/v1/customers/{custA}/presets", token: ag,
			body: map[string]any{"assignees": []string{"ann"}, "inbox": "vip", "visible_to": []string{"ann"}}, status: 200, check: wantField("visible_to", []any{"ann"})},
		{name: "preset assignee not visible", method: "PUT", path: "/v1/customers/{custA}/presets", token: ag,
			body: map[string]any{"assignees": []string{"bob"}, "visible_to": []string{"ann"}}, status: 422, code: "unprocessable"},
		{name: "stats by topic", method: "GET", path: "/v1/stats", token: annToken, status: 200,
			check: func(t *testing.T, r resp) {
				var st core.Stats
				_ = json.Unmarshal(r.body, &st)
				if st.ByTopic["billing"].Active != 1 || st.Mine == nil || st.Mine.Agent != "ann" || st.Mine.Assigned != 1 {
					t.Errorf("stats %s", r.body)
				}
			}},
		{name: "hand over to a bot", method: "POST", path: "/v1/conversations/{convA}/handover", token: annToken,
			body: map[string]any{"to": "bot:triage"}, status: 200, check: wantField("handler", "bot:triage")},
		{name: "hand over to nobody", method: "POST", path: "/v1/conversations/{convA}/handover", token: ag, body: map[string]any{"to": "robot"}, status: 400, code: "invalid"},
		{name: "hand over without to", method: "POST", path: "/v1/conversations/{convA}/handover", token: ag, body: map[string]any{}, status: 400, code: "invalid"},
		{name: "hand over unknown conversation", method: "POST", path: "/v1/conversations/nope/handover", token: ag, body: map[string]any{"to": "human"}, status: 404, code: "not_found"},
		{name: "hand back to a human", method: "POST", path: "/v1/conversations/{convA}/handover", token: ad,
			body: map[string]any{"to": "human"}, status: 200, check: wantField("handler", "human")},

		{name: "erase as agent", method: "DELETE", path: "/v1/customers/{custA}", token: ag, status: 403, code: "forbidden"},
		{name: "erase", method: "DELETE", path: "/v1/customers/{custA}", token: ad, status: 204},
		{name: "erased customer is gone", method: "GET", path: "/v1/customers/{custA}", token: ag, status: 404, code: "not_found"},
		{name: "erased address is unknown", method: "GET", path: "/v1/customers?address=%2B14155550102", token: ag, status: 404, code: "not_found"},
		{name: "erased conversations are gone", method: "GET", path: "/v1/conversations/{convA}", token: ag, status: 404, code: "not_found"},
		{name: "erase again", method: "DELETE", path: "/v1/customers/{custA}", token: ad, status: 404, code: "not_found"},

		{name: "unknown route", method: "GET", path: "/v1/nope", token: ag, status: 404, code: "not_found"},
		{name: "unknown method", method: "PUT", path: "/v1/conversations", token: ag, status: 404, code: "not_found"},
	}
}
