package httpapi_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/httpapi"
	"github.com/opengateway/gateway/normalize"
)

// Tokens of named holders.
const (
	annToken    = "ann-4c1d8e2f6a9b3c5d7e0f"
	bobToken    = "bob-9e8d7c6b5a4f3e2d1c0b"
	carlToken   = "carl-5d4c3b2a1f0e9d8c7b6a"
	opsToken    = "ops-1a2b3c4d5e6f7a8b9c0d"
	triageToken = "bot-0f1e2d3c4b5a69788796"
)

// newTeamEnv is the API with named holders: agents ann, bob and carl, admin ops,
// bot triage, and the unnamed tokens of newAPIEnv.
func newTeamEnv(t *testing.T, dialect string, multi bool) *apiEnv {
	return newAPIEnvWith(t, dialect, core.Policy{MultiAssign: multi}, map[string]string{
		annToken: "agent:ann", bobToken: "agent:bob", carlToken: "agent:carl", opsToken: "admin:ops", triageToken: "bot:triage",
		adminToken: httpapi.RoleAdmin, agentToken: httpapi.RoleAgent,
	}, nil)
}

// eventData decodes the data of published events, each validated against
// its JSON Schema.
func (e *apiEnv) eventData(evs []published, typ string) []core.EventData {
	e.t.Helper()
	var out []core.EventData
	for _, ev := range evs {
		if err := normalize.ValidateEvent("", ev.Raw); err != nil {
			e.t.Errorf("%s does not match its schema: %v\n%s", ev.Type, err, ev.Raw)
		}
		if ev.Type != typ {
			continue
		}
		var ce normalize.Event
		var d core.EventData
		if err := json.Unmarshal(ev.Raw, &ce); err != nil {
			e.t.Fatal(err)
		}
		if err := json.Unmarshal(ce.Data, &d); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func (e *apiEnv) must(r resp, status int) resp {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d %s, want %d", r.status, r.body, status)
	}
	return r
}

func (e *apiEnv) list(token, query string, hdr ...string) []core.Conversation {
	e.t.Helper()
	var page struct{ Data []core.Conversation }
	if err := json.Unmarshal(e.must(e.do("GET", "/v1/conversations"+query, token, nil, hdr...), 200).body, &page); err != nil {
		e.t.Fatal(err)
	}
	return page.Data
}

func ids(cs []core.Conversation) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(v ...string) []string { slices.Sort(v); return v }

// Seed (Converso): "Conversations can be closed by the 'assigned to' agent,
// or an admin." A bot may close too; anyone else gets 403.
func TestConversationsCanBeClosedByTheAssignedAgentOrAnAdmin(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "help"), sms("+14155550102", "hello"))
		_, conv := e.customer("+14155550101")
		_, unassigned := e.customer("+14155550102")
		e.must(e.do("POST", "/v1/conversations/"+conv+"/assign", bobToken, map[string]any{"agent": "ann"}), 200)
		e.events()
		closeAs := func(token string, hdr ...string) resp {
			return e.do("POST", "/v1/conversations/"+conv+"/status", token, map[string]any{"status": "closed"}, hdr...)
		}
		reopen := func() {
			e.must(e.do("POST", "/v1/conversations/"+conv+"/status", bobToken, map[string]any{"status": "open"}), 200)
		}
		if r := closeAs(bobToken); r.status != 403 || r.code() != "forbidden" {
			t.Fatalf("another agent closes: %d %s, want 403 forbidden", r.status, r.body)
		}
		if r := closeAs(agentToken, "X-Agent", "bob"); r.status != 403 {
			t.Fatalf("an unnamed token naming bob closes: %d %s, want 403", r.status, r.body)
		}
		if r := e.do("POST", "/v1/conversations/"+unassigned+"/status", annToken, map[string]any{"status": "closed"}); r.status != 403 {
			t.Fatalf("an agent closes a conversation nobody is assigned to: %d, want 403", r.status)
		}
		for _, tc := range []struct{ token, actor string }{{annToken, "agent:ann"}, {opsToken, "admin:ops"}, {triageToken, "bot:triage"}} {
			e.must(closeAs(tc.token), 200)
			closed := e.eventData(e.events(), normalize.TypeConversationClosed)
			if len(closed) != 1 || closed[0].Actor != tc.actor {
				t.Fatalf("closed by %s: %+v, want one conversation.closed by %s", tc.actor, closed, tc.actor)
			}
			reopen()
		}
	})
}

// Item 2: the actor of every change is the token's holder; X-Agent is
// honoured only for admin and bot tokens acting for an agent.
func TestTheActorOfEveryChangeIsTheTokensHolder(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "help"))
		custID, conv := e.customer("+14155550101")
		e.events()
		note := func(token string, hdr ...string) resp {
			return e.do("POST", "/v1/conversations/"+conv+"/notes", token, map[string]any{"text": "n"}, hdr...)
		}
		for _, tc := range []struct {
			token string
			hdr   []string
			actor string
		}{
			{annToken, nil, "agent:ann"},
			{annToken, []string{"X-Agent", "ann"}, "agent:ann"},
			{opsToken, []string{"X-Agent", "ann"}, "admin:ops"},
			{triageToken, nil, "bot:triage"},
			{adminToken, []string{"X-Agent", "zoe"}, "admin:zoe"}, // an unnamed admin acts for zoe
		} {
			if got := field(t, e.must(note(tc.token, tc.hdr...), 201), "author"); got != tc.actor {
				t.Errorf("author %v, want %s", got, tc.actor)
			}
			if evs := e.events(); len(evs) != 1 || evs[0].Actor != tc.actor {
				t.Errorf("events %v, want one by %s", evs, tc.actor)
			}
		}
		if r := note(annToken, "X-Agent", "bob"); r.status != 403 || r.code() != "forbidden" {
			t.Errorf("an agent token acting for bob: %d %s, want 403", r.status, r.body)
		}
		if r := e.do("POST", "/v1/customers/"+custID+"/merge", triageToken, map[string]any{"from": custID}); r.status != 403 {
			t.Errorf("a bot on an admin route: %d, want 403", r.status)
		}
		// An admin acting for ann sees ann's inbox.
		e.must(e.do("POST", "/v1/conversations/"+conv+"/assign", annToken, map[string]any{"agent": "ann"}), 200)
		if got := ids(e.list(opsToken, "?assignee=me", "X-Agent", "ann")); !slices.Equal(got, []string{conv}) {
			t.Errorf("ops for ann: my inbox %v, want %s", got, conv)
		}
		if got := e.list(opsToken, "?assignee=me"); len(got) != 0 {
			t.Errorf("ops's own inbox %v, want none", ids(got))
		}
	})
}

// Seed (Gladly): "A Conversation stays in a single Inbox and Agent at a
// time": assigning another agent transfers it.
func TestAConversationStaysInASingleInboxAndAgentAtATime(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "help"))
		_, conv := e.customer("+14155550101")
		e.must(e.do("POST", "/v1/conversations/"+conv+"/assign", annToken, map[string]any{"agent": "ann", "inbox": "support"}), 200)
		e.events()
		r := e.must(e.do("POST", "/v1/conversations/"+conv+"/assign", annToken, map[string]any{"agent": "bob", "inbox": "sales"}), 200)
		var c core.Conversation
		_ = json.Unmarshal(r.body, &c)
		if c.Assignee != "bob" || !slices.Equal(c.Assignees, []string{"bob"}) || c.Inbox != "sales" {
			t.Fatalf("after the transfer: %s", r.body)
		}
		as := e.eventData(e.events(), normalize.TypeConversationAssigned)
		if len(as) != 1 || !slices.Equal(as[0].Assignees, []string{"bob"}) || as[0].PreviousAgent != "ann" || as[0].Actor != "agent:ann" {
			t.Fatalf("assigned events %+v", as)
		}
		if got := e.list(annToken, "?assignee=me"); len(got) != 0 {
			t.Errorf("ann's inbox after the transfer: %v", ids(got))
		}
	})
}

// Seed (Converso): "the subsequent conversation can be assigned to a user,
// or multiple users" (GATEWAY_MULTI_ASSIGN): assign adds, unassign removes
// one, events carry the list, and each assignee finds it in My inbox.
func TestAConversationCanBeAssignedToMultipleUsers(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, true)
		e.receive(sms("+14155550101", "help"))
		_, conv := e.customer("+14155550101")
		e.must(e.do("POST", "/v1/conversations/"+conv+"/assign", opsToken, map[string]any{"agent": "ann", "inbox": "support"}), 200)
		r := e.must(e.do("POST", "/v1/conversations/"+conv+"/assign", opsToken, map[string]any{"agent": "bob"}), 200)
		var c core.Conversation
		_ = json.Unmarshal(r.body, &c)
		if !slices.Equal(c.Assignees, []string{"ann", "bob"}) || c.Assignee != "ann" || c.Inbox != "support" || c.Status != "open" {
			t.Fatalf("two assignees: %s", r.body)
		}
		as := e.eventData(e.events(), normalize.TypeConversationAssigned)
		if len(as) != 2 || !slices.Equal(as[1].Assignees, []string{"ann", "bob"}) || as[1].Assignee != "bob" {
			t.Fatalf("assigned events %+v", as)
		}
		for _, tok := range []string{annToken, bobToken} {
			if got := ids(e.list(tok, "?assignee=me")); !slices.Equal(got, []string{conv}) {
				t.Errorf("my inbox %v, want %s", got, conv)
			}
		}
		// Either assignee may close.
		e.must(e.do("POST", "/v1/conversations/"+conv+"/status", bobToken, map[string]any{"status": "closed"}), 200)
		e.must(e.do("POST", "/v1/conversations/"+conv+"/status", bobToken, map[string]any{"status": "open"}), 200)
		e.events()
		r = e.must(e.do("POST", "/v1/conversations/"+conv+"/unassign", opsToken, map[string]any{"agent": "ann"}), 200)
		_ = json.Unmarshal(r.body, &c)
		if !slices.Equal(c.Assignees, []string{"bob"}) || c.Assignee != "bob" || c.Status != "open" {
			t.Fatalf("after removing ann: %s", r.body)
		}
		un := e.eventData(e.events(), normalize.TypeConversationAssigned)
		if len(un) != 1 || un[0].Reason != "unassigned" || un[0].PreviousAgent != "ann" || !slices.Equal(un[0].Assignees, []string{"bob"}) {
			t.Fatalf("unassigned events %+v", un)
		}
		r = e.must(e.do("POST", "/v1/conversations/"+conv+"/unassign", opsToken, map[string]any{"agent": "bob"}), 200)
		c = core.Conversation{}
		_ = json.Unmarshal(r.body, &c)
		if len(c.Assignees) != 0 || c.Assignee != "" || c.Status != "new" {
			t.Fatalf("after removing bob: %s", r.body)
		}
	})
}

// Seed (Converso): "In contacts, you can choose a contact name and set
// assignment to a user or users ... This will auto set assignment to the
// selected users for subsequent inbound messages from that contact."
func TestAutoAssignmentToTheSelectedUsersForSubsequentMessagesFromThatContact(t *testing.T) {
	for _, multi := range []bool{false, true} {
		forEachStore(t, func(t *testing.T, dialect string) {
			e := newTeamEnv(t, dialect, multi)
			e.receive(sms("+14155550101", "help"))
			cust, first := e.customer("+14155550101")
			e.must(e.do("POST", "/v1/conversations/"+first+"/status", opsToken, map[string]any{"status": "closed"}), 200)
			want := []string{"ann"}
			if multi {
				want = []string{"ann", "bob"}
			}
			e.must(e.do("PUT", "/v1/customers/"+cust+"/presets", opsToken, map[string]any{"assignees": want, "inbox": "vip"}), 200)
			if first := e.list(annToken, "?assignee=me"); len(first) != 0 {
				t.Fatalf("presets changed an existing conversation: %v", ids(first))
			}
			e.events()
			e.clock.Advance(73 * time.Hour) // past the reopen window: a new conversation
			e.receive(sms("+14155550101", "me again"))
			_, conv := e.customer("+14155550101")
			if conv == first {
				t.Fatal("the old conversation was reopened")
			}
			var c core.Conversation
			_ = json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+conv, annToken, nil), 200).body, &c)
			if !slices.Equal(c.Assignees, want) || c.Inbox != "vip" || c.Status != "open" {
				t.Fatalf("new conversation: %+v, want assigned to %v in vip", c, want)
			}
			evs := e.events()
			as := e.eventData(evs, normalize.TypeConversationAssigned)
			if len(as) != 1 || as[0].Actor != "system:presets" || as[0].Reason != "preset" || !slices.Equal(as[0].Assignees, want) {
				t.Fatalf("assigned events %+v", as)
			}
			if types := eventTypes(evs); types[0] != normalize.TypeConversationCreated {
				t.Errorf("events %v: conversation.created first", types)
			}
		})
	}
}

// Seed (Converso): "After the conversation has been assigned, the
// conversation will then be copied into the My inbox of the assignee(s)";
// it stays in the Team inbox.
func TestMyInboxListsTheConversationsOfTheAssignee(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "a"), sms("+14155550102", "b"), sms("+14155550103", "c"))
		_, a := e.customer("+14155550101")
		_, b := e.customer("+14155550102")
		e.must(e.do("POST", "/v1/conversations/"+a+"/assign", opsToken, map[string]any{"agent": "ann"}), 200)
		e.must(e.do("POST", "/v1/conversations/"+b+"/assign", opsToken, map[string]any{"agent": "bob"}), 200)
		if got := ids(e.list(annToken, "?assignee=me")); !slices.Equal(got, []string{a}) {
			t.Errorf("ann's inbox %v, want %s", got, a)
		}
		if got := ids(e.list(bobToken, "?assignee=me")); !slices.Equal(got, []string{b}) {
			t.Errorf("bob's inbox %v, want %s", got, b)
		}
		if got := e.list(annToken, ""); len(got) != 3 {
			t.Errorf("team inbox has %d conversations, want 3", len(got))
		}
	})
}

// Seed (Converso): "Unread messages are indicated in bold in the chat
// lists, and include all conversations including those you have not been
// assigned to." Read marks are per agent.
func TestUnreadMessagesIncludeConversationsYouAreNotAssignedTo(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "one"), sms("+14155550101", "two"))
		_, conv := e.customer("+14155550101")
		e.must(e.do("POST", "/v1/conversations/"+conv+"/assign", opsToken, map[string]any{"agent": "bob"}), 200)
		unread := func(token string) string {
			var c core.Conversation
			_ = json.Unmarshal(e.must(e.do("GET", "/v1/conversations/"+conv, token, nil), 200).body, &c)
			got := e.list(token, "")
			if c.Unread == nil || len(got) != 1 || got[0].Unread == nil || *got[0].Unread != *c.Unread {
				t.Fatalf("unread of GET %v and of the list %v differ", c.Unread, got)
			}
			return fmt.Sprint(*c.Unread)
		}
		if u := unread(annToken); u != "2" {
			t.Fatalf("ann, not assigned, unread %s, want 2", u)
		}
		e.clock.Advance(time.Minute)
		e.must(e.do("POST", "/v1/conversations/"+conv+"/read", annToken, nil), 200)
		if u, v := unread(annToken), unread(bobToken); u != "0" || v != "2" {
			t.Fatalf("after ann read it: ann %s, bob %s; want 0 and 2", u, v)
		}
		e.clock.Advance(time.Minute)
		e.receive(sms("+14155550101", "three"))
		if u := unread(annToken); u != "1" {
			t.Fatalf("ann after a new message: %s, want 1", u)
		}
		// A reply marks the conversation read for its writer; to anyone
		// else an outbound reply is not something to read.
		e.must(e.do("POST", "/v1/conversations/"+conv+"/messages", bobToken, map[string]any{"text": "on it"}), 202)
		if u, v := unread(bobToken), unread(annToken); u != "0" || v != "1" {
			t.Fatalf("after bob replied: bob %s, ann %s; want 0 and 1", u, v)
		}
		// Unnamed callers have no read marks.
		if got := e.list(agentToken, ""); got[0].Unread != nil {
			t.Errorf("unread %v for an unnamed caller", *got[0].Unread)
		}
	})
}

// Seed (Converso): "Conversations assigned to me shows the number of
// conversations that you have been assigned to ... My unreplied messages
// shows the number of messages from contacts in your assigned
// conversations that you have not replied to" — beside the group's figures.
func TestDashboardShowsMyFiguresBesideTheGroups(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "a1"), sms("+14155550101", "a2"), sms("+14155550102", "b"), sms("+14155550103", "c"))
		_, a := e.customer("+14155550101")
		_, c := e.customer("+14155550103")
		e.must(e.do("POST", "/v1/conversations/"+a+"/assign", opsToken, map[string]any{"agent": "ann"}), 200)
		e.must(e.do("POST", "/v1/conversations/"+c+"/assign", opsToken, map[string]any{"agent": "ann"}), 200)
		e.must(e.do("POST", "/v1/conversations/"+c+"/status", annToken, map[string]any{"status": "closed"}), 200)
		e.clock.Advance(time.Minute)
		e.must(e.do("POST", "/v1/conversations/"+a+"/read", annToken, nil), 200)
		var st core.Stats
		_ = json.Unmarshal(e.must(e.do("GET", "/v1/stats", annToken, nil), 200).body, &st)
		want := core.AgentFigures{Agent: "ann", Assigned: 1, Unreplied: 2, Unread: 1, UnreadConversations: 1}
		if st.Mine == nil || *st.Mine != want {
			t.Fatalf("mine %+v, want %+v", st.Mine, want)
		}
		if st.Unassigned != 1 || st.Unreplied != 3 {
			t.Errorf("group: unassigned %d unreplied %d, want 1 and 3", st.Unassigned, st.Unreplied)
		}
		st = core.Stats{}
		_ = json.Unmarshal(e.must(e.do("GET", "/v1/stats", agentToken, nil), 200).body, &st)
		if st.Mine != nil {
			t.Errorf("figures %+v for an unnamed caller", st.Mine)
		}
	})
}

// Seed (Gladly): "Each Conversation is separated by Topic." Topics are set
// by API, filter lists, count in stats and emit conversation.topics_changed.
func TestEachConversationIsSeparatedByTopic(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "a"), sms("+14155550102", "b"))
		_, a := e.customer("+14155550101")
		_, b := e.customer("+14155550102")
		e.events()
		put := func(conv string, topics ...string) resp {
			if topics == nil {
				topics = []string{}
			}
			return e.do("PUT", "/v1/conversations/"+conv+"/topics", annToken, map[string]any{"topics": topics})
		}
		e.must(put(a, "billing", "refund"), 200)
		e.must(put(b, "billing"), 200)
		ch := e.eventData(e.events(), normalize.TypeConversationTopicsChanged)
		if len(ch) != 2 || !slices.Equal(ch[0].Topics, []string{"billing", "refund"}) || len(ch[0].PreviousTopics) != 0 || ch[0].Actor != "agent:ann" {
			t.Fatalf("topics_changed %+v", ch)
		}
		e.must(put(a, "billing", "refund"), 200)
		if evs := e.events(); len(evs) != 0 {
			t.Errorf("unchanged topics emitted %v", eventTypes(evs))
		}
		if got := ids(e.list(annToken, "?topic=billing")); !slices.Equal(got, sorted(a, b)) {
			t.Errorf("billing %v", got)
		}
		if got := ids(e.list(annToken, "?topic=refund")); !slices.Equal(got, []string{a}) {
			t.Errorf("refund %v", got)
		}
		e.must(e.do("POST", "/v1/conversations/"+b+"/status", opsToken, map[string]any{"status": "closed"}), 200)
		var st core.Stats
		_ = json.Unmarshal(e.must(e.do("GET", "/v1/stats", annToken, nil), 200).body, &st)
		if st.ByTopic["billing"] != (core.TopicFigures{Active: 1, Closed: 1, Unreplied: 1}) || st.ByTopic["refund"] != (core.TopicFigures{Active: 1, Unreplied: 1}) {
			t.Errorf("by topic %+v", st.ByTopic)
		}
		e.must(put(a), 200)
		ch = e.eventData(e.events(), normalize.TypeConversationTopicsChanged)
		if len(ch) != 1 || ch[0].Topics == nil || len(ch[0].Topics) != 0 || !slices.Equal(ch[0].PreviousTopics, []string{"billing", "refund"}) {
			t.Fatalf("cleared: %+v", ch)
		}
		many := make([]string, core.MaxTopics+1)
		for i := range many {
			many[i] = fmt.Sprint("t", i)
		}
		if r := put(a, many...); r.status != 400 {
			t.Errorf("%d topics: %d, want 400", len(many), r.status)
		}
	})
}
