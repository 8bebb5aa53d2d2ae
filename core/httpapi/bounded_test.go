package httpapi_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
)

// A conversation shows its latest 50 contacts, oldest first, however many
// it had: in GET, in lists and in the answer of ending one. (Before, every
// contact of every conversation of a page.)
func TestConversationShowsItsLatestContacts(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newAPIEnv(t, dialect, nil)
		var started []string
		conv := ""
		for i := range core.MaxContactsShown + 5 {
			e.receive(sms("+14155550101", fmt.Sprintf("again %d", i)))
			if conv == "" {
				_, conv = e.customer("+14155550101")
			}
			contact := latestContact(t, e.must(e.do("GET", "/v1/conversations/"+conv, annToken, nil), 200))
			started = append(started, contact)
			e.must(e.do("POST", "/v1/conversations/"+conv+"/contacts/"+contact+"/end", annToken, nil), 200)
			e.clock.Advance(time.Minute)
		}
		want := started[len(started)-core.MaxContactsShown:]
		check := func(what string, cts []core.Contact) {
			t.Helper()
			got := make([]string, len(cts))
			for i, ct := range cts {
				got[i] = ct.ID
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s shows %d contacts, want the latest %d in order", what, len(got), len(want))
			}
		}
		var one core.Conversation
		_ = json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+conv, annToken, nil), 200).body, &one)
		check("GET", one.Contacts)
		if list := e.list(annToken, ""); len(list) == 1 {
			check("the list", list[0].Contacts)
		} else {
			t.Errorf("list holds %d conversations, want 1", len(list))
		}
		var ended core.Conversation
		_ = json.Unmarshal(e.must(e.do("POST", "/v1/conversations/"+conv+"/contacts/"+want[0]+"/end", annToken, nil), 200).body, &ended)
		check("ending a contact", ended.Contacts)
	})
}

// latestContact is the id of the last contact a conversation shows.
func latestContact(t *testing.T, r resp) string {
	t.Helper()
	var c core.Conversation
	if err := json.Unmarshal(r.body, &c); err != nil || len(c.Contacts) == 0 {
		t.Fatalf("conversation %s: %v", r.body, err)
	}
	return c.Contacts[len(c.Contacts)-1].ID
}

// The figures count by at most 100 topics, those of the most active
// conversations. (Before, by_topic held every topic ever set.)
func TestStatsCountByAtMost100Topics(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newAPIEnv(t, dialect, nil)
		for c := range 6 {
			addr := fmt.Sprintf("+1415555020%d", c)
			e.receive(sms(addr, "hi"))
			_, conv := e.customer(addr)
			topics := make([]string, core.MaxTopics)
			for i := range topics {
				topics[i] = fmt.Sprintf("t%d-%02d", c, i)
			}
			if c == 5 {
				topics[0] = "popular" // also on the first conversation
			}
			if c == 0 {
				topics[core.MaxTopics-1] = "popular"
			}
			e.must(e.do("PUT", "/v1/conversations/"+conv+"/topics", annToken, map[string]any{"topics": topics}), 200)
		}
		st := e.stats(annToken)
		if len(st.ByTopic) != core.MaxStatsTopics || st.ByTopic["popular"].Active != 2 {
			t.Errorf("by_topic holds %d topics (popular: %+v), want %d with popular first", len(st.ByTopic), st.ByTopic["popular"], core.MaxStatsTopics)
		}
	})
}

// With multi-assign a conversation has at most 20 assignees: the 21st is
// 422. (Before, every assign added one more.)
func TestAConversationHasAtMost20Assignees(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, true)
		e.receive(sms("+14155550101", "hi"))
		_, conv := e.customer("+14155550101")
		assign := func(agent string) resp {
			return e.do("POST", "/v1/conversations/"+conv+"/assign", opsToken, map[string]any{"agent": agent})
		}
		for i := range core.MaxAssignees {
			e.must(assign(fmt.Sprintf("agent%02d", i)), 200)
		}
		if r := assign("one-too-many"); r.status != 422 || r.code() != "unprocessable" {
			t.Errorf("assignee %d: %d %s, want 422", core.MaxAssignees+1, r.status, r.body)
		}
		e.must(assign("agent00"), 200) // one already assigned adds nothing
		var c core.Conversation
		_ = json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+conv, opsToken, nil), 200).body, &c)
		if len(c.Assignees) != core.MaxAssignees {
			t.Errorf("%d assignees, want %d", len(c.Assignees), core.MaxAssignees)
		}
	})
}
