package httpapi_test

import (
	"context"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/httpapi"
)

// The figures of GET /v1/stats come from running counts that each change of
// a conversation updates (conversation_counts): after a mix of operations
// (new conversations, assigning one and several agents, topics, a
// restricted visibility, replies, a bot's handover, closing, a reopen, a
// deletion, a merge, an erasure) they equal a recount of the conversations
// each viewer sees.
func TestStatsCountersEqualARecount(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newAPIEnvWith(t, dialect, core.Policy{MultiAssign: true}, map[string]string{adminToken: httpapi.RoleAdmin,
			agentToken: httpapi.RoleAgent, annToken: "agent:ann", bobToken: "agent:bob"}, nil)
		phones := []string{"+14155550101", "+14155550102", "+14155550103", "+14155550104", "+14155550105", "+14155550106", "+14155550107"}
		for i, p := range phones {
			for range i%3 + 1 {
				e.receive(sms(p, "hello"))
			}
		}
		conv := map[string]string{}
		cust := map[string]string{}
		for _, p := range phones {
			cust[p], conv[p] = e.customer(p)
		}
		ok := func(method, path, token string, body any) {
			t.Helper()
			if r := e.do(method, path, token, body); r.status/100 != 2 {
				t.Fatalf("%s %s: %d %s", method, path, r.status, r.body)
			}
		}
		c := func(i int) string { return "/v1/conversations/" + conv[phones[i]] }
		ok("POST", c(0)+"/assign", annToken, map[string]any{"agent": "ann"})
		ok("POST", c(0)+"/assign", bobToken, map[string]any{"agent": "bob", "inbox": "support"})
		ok("PUT", c(0)+"/topics", annToken, map[string]any{"topics": []string{"billing", "vip"}})
		ok("PUT", c(1)+"/topics", agentToken, map[string]any{"topics": []string{"billing"}})
		ok("POST", c(1)+"/assign", bobToken, map[string]any{"agent": "bob", "inbox": "sales"})
		e.clock.Advance(90 * time.Second)
		ok("POST", c(1)+"/messages", bobToken, map[string]any{"text": "on it"})
		ok("PUT", c(2)+"/visibility", adminToken, map[string]any{"visible_to": []string{"ann"}})
		ok("POST", c(2)+"/assign", annToken, map[string]any{"agent": "ann", "inbox": "sales"})
		ok("POST", c(3)+"/handover", adminToken, map[string]any{"to": "bot:triage"})
		e.clock.Advance(time.Hour)
		ok("POST", c(1)+"/status", bobToken, map[string]any{"status": "closed"})
		ok("POST", c(4)+"/status", adminToken, map[string]any{"status": "closed"})
		e.receive(sms(phones[4], "one more thing")) // reopens
		ok("POST", c(0)+"/unassign", annToken, map[string]any{"agent": "ann"})
		ok("DELETE", c(5), adminToken, nil)
		ok("POST", "/v1/customers/"+cust[phones[3]]+"/merge", adminToken, map[string]any{"from": cust[phones[6]]})
		ok("DELETE", "/v1/customers/"+cust[phones[2]], adminToken, nil)
		e.receive(sms(phones[0], "again"), sms(phones[1], "new one after closing"))
		viewers := map[string]*core.Viewer{"all": {All: true}, "ann": {Agent: "ann"}, "bob": {Agent: "bob"}, "unnamed": {}}
		for name, v := range viewers {
			for _, agent := range []string{"", "ann", "bob", "zed"} {
				for _, inbox := range []string{"", "sales", "support", "none"} {
					got := storeStats(t, e, agent, inbox, v)
					want := recount(t, e, agent, inbox, v)
					if got.DispatchPending != want.DispatchPending {
						want.DispatchPending = got.DispatchPending // not a count of conversations
					}
					if !sameStats(got, want) {
						t.Errorf("%s, agent %q, inbox %q: counters %+v, recount %+v", name, agent, inbox, got, want)
					}
				}
			}
		}
	})
}

func storeStats(t *testing.T, e *apiEnv, agent, inbox string, v *core.Viewer) core.Stats {
	t.Helper()
	var st core.Stats
	err := e.store.InTx(context.Background(), func(tx core.Tx) error {
		var err error
		st, err = tx.Query.Stats(context.Background(), agent, inbox, v)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// recount counts the figures from the conversations v sees of inbox ("":
// of every inbox).
func recount(t *testing.T, e *apiEnv, agent, inbox string, v *core.Viewer) core.Stats {
	t.Helper()
	convs, err := e.svc.ListConversations(context.Background(), core.ConversationFilter{Viewer: v, Inbox: inbox, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	st := core.Stats{ByStatus: map[string]int{core.StatusNew: 0, core.StatusOpen: 0, core.StatusWaiting: 0, core.StatusClosed: 0},
		ByTopic: map[string]core.TopicFigures{}}
	var fr, res float64
	assigned, agentUnreplied := 0, 0
	for _, c := range convs {
		st.ByStatus[c.Status]++
		active := c.Status != core.StatusClosed
		unreplied := 0
		if active && c.Handler == "human" {
			unreplied = c.Unreplied
		}
		if active && c.Assignee == "" {
			st.Unassigned++
		}
		st.Unreplied += unreplied
		if c.FirstResponseSeconds != nil {
			st.ConversationsWithReplies++
			fr += *c.FirstResponseSeconds
		}
		if c.ResolutionSeconds != nil {
			st.Resolved++
			res += *c.ResolutionSeconds
		}
		if active && slices.Contains(c.Assignees, agent) {
			assigned++
			agentUnreplied += unreplied
		}
		for _, topic := range c.Topics {
			f := st.ByTopic[topic]
			if active {
				f.Active++
			} else {
				f.Closed++
			}
			f.Unreplied += unreplied
			st.ByTopic[topic] = f
		}
	}
	if st.ConversationsWithReplies > 0 {
		avg := fr / float64(st.ConversationsWithReplies)
		st.FirstResponseSecondsAvg = &avg
	}
	if st.Resolved > 0 {
		avg := res / float64(st.Resolved)
		st.ResolutionSecondsAvg = &avg
	}
	if agent != "" {
		st.AgentAssigned, st.AgentUnreplied = &assigned, &agentUnreplied
	}
	return st
}

func sameStats(a, b core.Stats) bool {
	samePtr := func(x, y *float64) bool {
		return (x == nil) == (y == nil) && (x == nil || math.Abs(*x-*y) < 1e-6)
	}
	sameInt := func(x, y *int) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	return maps.Equal(a.ByStatus, b.ByStatus) && a.Unassigned == b.Unassigned && a.Unreplied == b.Unreplied &&
		a.ConversationsWithReplies == b.ConversationsWithReplies && a.Resolved == b.Resolved &&
		samePtr(a.FirstResponseSecondsAvg, b.FirstResponseSecondsAvg) && samePtr(a.ResolutionSecondsAvg, b.ResolutionSecondsAvg) &&
		sameInt(a.AgentAssigned, b.AgentAssigned) && sameInt(a.AgentUnreplied, b.AgentUnreplied) && maps.Equal(a.ByTopic, b.ByTopic)
}
