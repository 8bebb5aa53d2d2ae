package httpapi_test

import (
	"fmt"
	"maps"
	"testing"
	"time"
)

func TestAPIStats(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newAPIEnv(t, dialect, nil)
		e.receive(sms("+14155550101", "a1"), sms("+14155550101", "a2"), sms("+14155550102", "b"), sms("+14155550103", "c"))
		_, convB := e.customer("+14155550102")
		_, convC := e.customer("+14155550103")
		e.do("POST", "/v1/conversations/"+convB+"/assign", agentToken, map[string]any{"agent": "ann", "inbox": "support"})
		e.clock.Advance(time.Hour)
		e.do("POST", "/v1/conversations/"+convC+"/status", adminToken, map[string]any{"status": "closed"})
		everyone := map[string]any{"by_status": map[string]any{"closed": 1, "new": 1, "open": 1, "waiting": 0},
			"unassigned": 1, "unreplied": 3, "resolution_seconds_avg": 3600, "conversations_with_replies": 0, "resolved": 1}
		with := func(extra map[string]any) map[string]any {
			m := maps.Clone(everyone)
			maps.Copy(m, extra)
			return m
		}
		// Another agent's own figures are for admins (Converso: "analytics
		// for you, which can only be seen by you").
		tests := map[string]struct {
			query, token string
			hdr          []string
			want         map[string]any
			absent       []string
		}{
			"everyone":                     {"", agentToken, nil, everyone, []string{"agent_assigned", "agent_unreplied", "first_response_seconds_avg"}},
			"an agent's own":               {"?agent=ann", annToken, nil, with(map[string]any{"agent_assigned": 1, "agent_unreplied": 1}), nil},
			"an agent for an admin":        {"?agent=ann", adminToken, nil, with(map[string]any{"agent_assigned": 1, "agent_unreplied": 1}), nil},
			"an agent with nothing":        {"?agent=zed", adminToken, nil, with(map[string]any{"agent_assigned": 0, "agent_unreplied": 0}), nil},
			"another agent's for an agent": {"?agent=ann", bobToken, nil, nil, nil},
			"an agent's for nobody":        {"?agent=ann", agentToken, nil, nil, nil},
			"one inbox": {"?inbox=support", agentToken, nil, map[string]any{"by_status": map[string]any{"closed": 0, "new": 0, "open": 1, "waiting": 0},
				"unassigned": 0, "unreplied": 1, "resolved": 0}, []string{"resolution_seconds_avg"}},
			"one inbox and an agent": {"?inbox=support&agent=ann", annToken, nil, map[string]any{"agent_assigned": 1, "agent_unreplied": 1, "unreplied": 1}, nil},
			"an inbox with none": {"?inbox=sales&agent=ann", annToken, nil, map[string]any{"by_status": map[string]any{"closed": 0, "new": 0, "open": 0, "waiting": 0},
				"unassigned": 0, "unreplied": 0, "agent_assigned": 0, "agent_unreplied": 0}, nil},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				r := e.with(t).do("GET", "/v1/stats"+tc.query, tc.token, nil, tc.hdr...)
				if tc.want == nil {
					if r.status != 403 || r.code() != "forbidden" {
						t.Fatalf("%d %s, want 403 forbidden", r.status, r.body)
					}
					return
				}
				if r.status != 200 {
					t.Fatalf("%d %s", r.status, r.body)
				}
				got := r.object(t)
				for k, want := range tc.want {
					if fmt.Sprint(got[k]) != fmt.Sprint(want) {
						t.Errorf("%s = %v, want %v", k, got[k], want)
					}
				}
				for _, k := range tc.absent {
					if v, ok := got[k]; ok {
						t.Errorf("%s = %v, want none", k, v)
					}
				}
			})
		}
		if r := e.do("GET", "/v1/stats?inbox=%07", agentToken, nil); r.status != 400 || r.code() != "invalid" {
			t.Errorf("an unprintable inbox: %d %s, want 400 invalid", r.status, r.body)
		}
	})
}
