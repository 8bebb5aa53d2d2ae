package httpapi_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

func (e *apiEnv) setVisibility(conv, token string, visibleTo ...string) resp {
	e.t.Helper()
	if visibleTo == nil {
		visibleTo = []string{}
	}
	return e.do("PUT", "/v1/conversations/"+conv+"/visibility", token, map[string]any{"visible_to": visibleTo})
}

func (e *apiEnv) stats(token string, hdr ...string) core.Stats {
	e.t.Helper()
	var st core.Stats
	if err := json.Unmarshal(e.must(e.do("GET", "/v1/stats", token, nil, hdr...), 200).body, &st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// Seed (Converso): "It's possible to set visibility of conversations to a
// defined list of users ... restricting the visibility of its messages to
// specific users in that group." To anyone else the conversation does not
// exist: 404 on it, its messages and notes, absent from lists, filters,
// timelines and figures; admins and bots still see it.
func TestVisibilityOfAConversationCanBeSetToADefinedListOfUsers(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "confidential"), sms("+14155550102", "hello"))
		custA, a := e.customer("+14155550101")
		_, b := e.customer("+14155550102")
		for _, conv := range []string{a, b} {
			e.must(e.do("POST", "/v1/conversations/"+conv+"/assign", opsToken, map[string]any{"agent": "ann"}), 200)
			e.must(e.do("PUT", "/v1/conversations/"+conv+"/topics", opsToken, map[string]any{"topics": []string{"billing"}}), 200)
		}
		e.eventsUntil(normalize.TypeConversationTopicsChanged, 2)

		r := e.must(e.setVisibility(a, annToken, "ann"), 200)
		if got := field(t, r, "visible_to"); !slices.Equal(toStrings(got), []string{"ann"}) {
			t.Fatalf("visible_to %v", got)
		}
		ch := e.eventData(e.eventsUntil(normalize.TypeConversationVisibilityChanged, 1), normalize.TypeConversationVisibilityChanged)
		if len(ch) != 1 || !slices.Equal(ch[0].VisibleTo, []string{"ann"}) || ch[0].PrevVisibleTo == nil || len(ch[0].PrevVisibleTo) != 0 ||
			ch[0].Actor != "agent:ann" || ch[0].ConversationID != a {
			t.Fatalf("visibility_changed %+v", ch)
		}
		e.must(e.setVisibility(a, annToken, "ann"), 200)
		if evs := e.events(); len(evs) != 0 {
			t.Errorf("unchanged visibility emitted %v", eventTypes(evs))
		}

		// Others: bob's token, and an unnamed agent token.
		for _, who := range []struct {
			name  string
			token string
			hdr   []string
		}{{"bob", bobToken, nil}, {"unnamed agent", agentToken, nil}} {
			t.Run(who.name, func(t *testing.T) {
				e := e.with(t)
				for _, rq := range []struct{ method, path string }{
					{"GET", "/v1/conversations/" + a},
					{"GET", "/v1/conversations/" + a + "/messages"},
				} {
					if r := e.do(rq.method, rq.path, who.token, nil, who.hdr...); r.status != 404 || r.code() != "not_found" {
						t.Errorf("%s %s: %d %s, want 404", rq.method, rq.path, r.status, r.body)
					}
				}
				if r := e.do("POST", "/v1/conversations/"+a+"/notes", who.token, map[string]any{"text": "peek"}, who.hdr...); r.status != 404 {
					t.Errorf("note on a hidden conversation: %d, want 404", r.status)
				}
				if r := e.do("POST", "/v1/conversations/"+a+"/read", who.token, nil, who.hdr...); r.status != 404 && r.status != 400 {
					t.Errorf("read mark on a hidden conversation: %d, want 404", r.status)
				}
				for _, q := range []string{"", "?assignee=ann", "?topic=billing", "?customer_id=" + custA} {
					got := ids(e.list(who.token, q, who.hdr...))
					if slices.Contains(got, a) {
						t.Errorf("list%s holds the hidden conversation: %v", q, got)
					}
				}
				var tl core.Timeline
				_ = json.Unmarshal(e.must(e.do("GET", "/v1/customers/"+custA+"/timeline", who.token, nil, who.hdr...), 200).body, &tl)
				if len(tl.Conversations) != 0 {
					t.Errorf("timeline holds %d conversations, want none", len(tl.Conversations))
				}
				st := e.stats(who.token, who.hdr...)
				if st.ByStatus["open"] != 1 || st.ByTopic["billing"].Active != 1 || st.Unreplied != 1 {
					t.Errorf("stats count the hidden conversation: %+v", st)
				}
			})
		}
		if r := e.do("GET", "/v1/stats?agent=ann", bobToken, nil); r.status == 200 {
			var st core.Stats
			_ = json.Unmarshal(r.body, &st)
			if st.AgentAssigned == nil || *st.AgentAssigned != 1 {
				t.Errorf("ann's figures seen by bob count the hidden conversation: %s", r.body)
			}
		}

		// The listed agent, admins and bots (with or without X-Agent) see it.
		for _, who := range []struct {
			name  string
			token string
			hdr   []string
		}{{"ann", annToken, nil}, {"admin", opsToken, nil},
			{"admin for bob", opsToken, []string{"X-Agent", "bob"}}, {"bot", triageToken, nil}, {"unnamed admin", adminToken, nil}} {
			t.Run(who.name, func(t *testing.T) {
				e := e.with(t)
				e.must(e.do("GET", "/v1/conversations/"+a, who.token, nil, who.hdr...), 200)
				e.must(e.do("GET", "/v1/conversations/"+a+"/messages", who.token, nil, who.hdr...), 200)
				if got := ids(e.list(who.token, "?assignee=ann", who.hdr...)); !slices.Equal(got, sorted(a, b)) {
					t.Errorf("list %v, want both", got)
				}
				var tl core.Timeline
				_ = json.Unmarshal(e.must(e.do("GET", "/v1/customers/"+custA+"/timeline", who.token, nil, who.hdr...), 200).body, &tl)
				if len(tl.Conversations) != 1 {
					t.Errorf("timeline holds %d conversations, want 1", len(tl.Conversations))
				}
				if st := e.stats(who.token, who.hdr...); st.ByStatus["open"] != 2 || st.ByTopic["billing"].Active != 2 {
					t.Errorf("stats %+v, want both conversations", st)
				}
			})
		}

		// Visible to everyone again.
		e.must(e.setVisibility(a, opsToken), 200)
		if ch := e.eventData(e.eventsUntil(normalize.TypeConversationVisibilityChanged, 1), normalize.TypeConversationVisibilityChanged); len(ch) != 1 || ch[0].VisibleTo == nil ||
			len(ch[0].VisibleTo) != 0 || !slices.Equal(ch[0].PrevVisibleTo, []string{"ann"}) || ch[0].Actor != "admin:ops" {
			t.Fatalf("cleared: %+v", ch)
		}
		e.must(e.do("GET", "/v1/conversations/"+a, bobToken, nil), 200)
		if r := e.setVisibility("nope", annToken, "ann"); r.status != 404 {
			t.Errorf("unknown conversation: %d, want 404", r.status)
		}
	})
}

// Seed (Converso): "It's also possible to define the assignment of the
// conversation: this can only include those users who have visibility of
// the conversation." Assigning anyone else is 422, and so is a visibility
// leaving out an assignee.
func TestAssignmentCanOnlyIncludeUsersWhoHaveVisibility(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, true)
		e.receive(sms("+14155550101", "confidential"))
		_, a := e.customer("+14155550101")
		e.must(e.setVisibility(a, opsToken, "ann", "carl"), 200)
		e.eventsUntil(normalize.TypeConversationVisibilityChanged, 1)
		assign := func(agent string) resp {
			return e.do("POST", "/v1/conversations/"+a+"/assign", opsToken, map[string]any{"agent": agent})
		}
		if r := assign("bob"); r.status != 422 || r.code() != "unprocessable" {
			t.Fatalf("assign an agent without visibility: %d %s, want 422", r.status, r.body)
		}
		if evs := e.events(); len(evs) != 0 {
			t.Errorf("a refused assignment emitted %v", eventTypes(evs))
		}
		e.must(assign("ann"), 200)
		e.must(assign("carl"), 200)
		if r := e.setVisibility(a, opsToken, "ann"); r.status != 422 {
			t.Fatalf("visibility leaving out assignee carl: %d %s, want 422", r.status, r.body)
		}
		e.must(e.do("POST", "/v1/conversations/"+a+"/unassign", opsToken, map[string]any{"agent": "carl"}), 200)
		r := e.must(e.setVisibility(a, opsToken, "ann"), 200)
		if got := toStrings(field(t, r, "visible_to")); !slices.Equal(got, []string{"ann"}) {
			t.Errorf("visible_to %v", got)
		}
		e.must(e.do("GET", "/v1/conversations/"+a, annToken, nil), 200)
		if r := e.do("GET", "/v1/conversations/"+a, carlToken, nil); r.status != 404 {
			t.Errorf("carl after losing visibility: %d, want 404", r.status)
		}
	})
}

// Seed (Converso): "It's also possible to pre-define the visibility and
// assignment of a particular contact's conversations ... to apply to all
// new inbound conversations from that Contact." The presets route accepts
// visible_to; each new conversation starts visible only to those agents.
func TestVisibilityAndAssignmentOfAContactsConversationsCanBePredefined(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "first"))
		cust, first := e.customer("+14155550101")
		presets := "/v1/customers/" + cust + "/presets"
		if r := e.do("PUT", presets, annToken, map[string]any{"assignees": []string{"bob"}, "visible_to": []string{"ann"}}); r.status != 422 {
			t.Fatalf("preset assignee without visibility: %d %s, want 422", r.status, r.body)
		}
		r := e.must(e.do("PUT", presets, annToken, map[string]any{"assignees": []string{"ann"}, "visible_to": []string{"ann", "ann"}}), 200)
		if got := toStrings(field(t, r, "visible_to")); !slices.Equal(got, []string{"ann"}) {
			t.Fatalf("preset visible_to %v", got)
		}
		r = e.must(e.do("GET", presets, bobToken, nil), 200)
		if got := toStrings(field(t, r, "visible_to")); !slices.Equal(got, []string{"ann"}) {
			t.Fatalf("presets read back: visible_to %v", got)
		}
		// The conversation that existed before keeps its visibility.
		e.must(e.do("GET", "/v1/conversations/"+first, bobToken, nil), 200)
		e.must(e.do("POST", "/v1/conversations/"+first+"/status", opsToken, map[string]any{"status": "closed"}), 200)
		e.clock.Advance(100 * time.Hour) // past the reopen window: the next message starts a new conversation
		e.eventsUntil(normalize.TypeConversationClosed, 1)

		e.receive(sms("+14155550101", "second"))
		_, second := e.customer("+14155550101")
		if second == first {
			t.Fatal("no new conversation")
		}
		vis := e.eventData(e.eventsUntil(normalize.TypeConversationVisibilityChanged, 1), normalize.TypeConversationVisibilityChanged)
		if len(vis) != 1 || !slices.Equal(vis[0].VisibleTo, []string{"ann"}) || vis[0].Actor != "system:presets" {
			t.Fatalf("visibility_changed %+v", vis)
		}
		var c core.Conversation
		_ = json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+second, annToken, nil), 200).body, &c)
		if !slices.Equal(c.VisibleTo, []string{"ann"}) || !slices.Equal(c.Assignees, []string{"ann"}) {
			t.Errorf("new conversation visible to %v, assigned to %v", c.VisibleTo, c.Assignees)
		}
		if r := e.do("GET", "/v1/conversations/"+second, bobToken, nil); r.status != 404 {
			t.Errorf("bob sees the new conversation: %d, want 404", r.status)
		}
		if got := ids(e.list(bobToken, "?customer_id="+cust)); !slices.Equal(got, []string{first}) {
			t.Errorf("bob's list %v, want only the earlier conversation", got)
		}

		// An agent opening the customer's next conversation joins its visibility.
		e.must(e.do("POST", "/v1/conversations/"+second+"/status", opsToken, map[string]any{"status": "closed"}), 200)
		e.eventsUntil(normalize.TypeConversationClosed, 1)
		r = e.must(e.do("POST", "/v1/conversations", bobToken, map[string]any{"customer_id": cust, "channel": "sms"}), 201)
		third, _ := r.object(t)["id"].(string)
		_ = json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+third, bobToken, nil), 200).body, &c)
		if !slices.Equal(c.VisibleTo, []string{"ann", "bob"}) || !slices.Equal(c.Assignees, []string{"bob"}) {
			t.Errorf("opened conversation visible to %v, assigned to %v", c.VisibleTo, c.Assignees)
		}
		e.eventData(e.eventsUntil(normalize.TypeConversationVisibilityChanged, 1), "") // every event matches its schema
	})
}

// eventsUntil collects published events until n of type typ are among
// them: on PostgreSQL another test process may hold the relay's turn for a
// moment, and events() then returns none yet.
func (e *apiEnv) eventsUntil(typ string, n int) []published {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var out []published
	for {
		out = append(out, e.events()...)
		got := 0
		for _, p := range out {
			if p.Type == typ {
				got++
			}
		}
		if got >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func toStrings(v any) []string {
	out := []string{}
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
