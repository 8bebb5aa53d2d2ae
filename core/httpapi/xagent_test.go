package httpapi_test

import "testing"

// Only admin and bot tokens act for an agent with X-Agent: an unnamed agent
// token (agent:TOKEN) naming ann is refused (403), so it never sees ann's
// hidden conversation nor acts as her; without X-Agent it acts as itself.
// (Before, it became ann: saw her hidden conversation and wrote as
// agent:ann.)
func TestUnnamedAgentTokenNeverActsAsAnother(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "confidential"))
		cust, hidden := e.customer("+14155550101")
		e.must(e.do("POST", "/v1/conversations/"+hidden+"/assign", opsToken, map[string]any{"agent": "ann"}), 200)
		e.must(e.setVisibility(hidden, opsToken, "ann"), 200)
		e.events()

		asAnn := []string{"X-Agent", "ann"}
		for _, rq := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/conversations/" + hidden, nil},
			{"GET", "/v1/conversations/" + hidden + "/messages", nil},
			{"GET", "/v1/conversations?assignee=me", nil},
			{"GET", "/v1/customers/" + cust + "/timeline", nil},
			{"GET", "/v1/stats", nil},
			{"POST", "/v1/conversations/" + hidden + "/notes", map[string]any{"text": "as ann"}},
			{"POST", "/v1/conversations/" + hidden + "/read", nil},
			{"POST", "/v1/conversations/" + hidden + "/status", map[string]any{"status": "closed"}},
		} {
			if r := e.do(rq.method, rq.path, agentToken, rq.body, asAnn...); r.status != 403 || r.code() != "forbidden" {
				t.Errorf("%s %s as ann: %d %s, want 403", rq.method, rq.path, r.status, r.body)
			}
		}
		if evs := e.events(); len(evs) != 0 {
			t.Errorf("refused requests emitted %v", eventTypes(evs))
		}
		// Without X-Agent the token acts as itself: the conversation hidden
		// to all but ann does not exist for it.
		if r := e.do("GET", "/v1/conversations/"+hidden, agentToken, nil); r.status != 404 {
			t.Errorf("unnamed agent: %d on ann's hidden conversation, want 404", r.status)
		}
		if got := ids(e.list(agentToken, "")); len(got) != 0 {
			t.Errorf("unnamed agent lists %v, want none", got)
		}
		// Admins and bots still act for ann.
		e.must(e.do("GET", "/v1/conversations?assignee=me", adminToken, nil, asAnn...), 200)
		e.must(e.do("GET", "/v1/conversations/"+hidden, triageToken, nil, asAnn...), 200)
	})
}
