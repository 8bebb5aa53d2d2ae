package httpapi_test

import (
	"strings"
	"testing"
	"time"
)

// The 409 of opening a conversation, and of reopening one, while the
// customer has another active conversation names that conversation only to
// a caller who may see it. (Before, it named it to anyone: an agent who got
// 404 on the conversation learnt its id.)
func TestConflictNamesOnlyAConversationTheCallerSees(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newTeamEnv(t, dialect, false)
		e.receive(sms("+14155550101", "first"))
		cust, old := e.customer("+14155550101")
		e.must(e.do("POST", "/v1/conversations/"+old+"/status", opsToken, map[string]any{"status": "closed"}), 200)
		e.clock.Advance(100 * time.Hour) // past the reopen window: a new conversation
		e.receive(sms("+14155550101", "confidential"))
		_, hidden := e.customer("+14155550101")
		if hidden == old {
			t.Fatal("the second message reopened the first conversation")
		}
		e.must(e.setVisibility(hidden, opsToken, "ann"), 200)
		if r := e.do("GET", "/v1/conversations/"+hidden, bobToken, nil); r.status != 404 {
			t.Fatalf("bob gets %d on the hidden conversation, want 404", r.status)
		}

		open := func(token string) resp {
			return e.do("POST", "/v1/conversations", token, map[string]any{"customer_id": cust})
		}
		reopen := func(token string) resp {
			return e.do("POST", "/v1/conversations/"+old+"/status", token, map[string]any{"status": "open"})
		}
		for name, req := range map[string]func(string) resp{"open": open, "reopen": reopen} {
			for _, who := range []struct {
				name  string
				token string
				names bool
			}{{"bob", bobToken, false}, {"unnamed agent", agentToken, false}, {"ann", annToken, true}, {"admin", opsToken, true}} {
				r := req(who.token)
				if r.status != 409 || r.code() != "conflict" {
					t.Errorf("%s as %s: %d %s, want 409", name, who.name, r.status, r.body)
					continue
				}
				if got := strings.Contains(string(r.body), hidden); got != who.names {
					t.Errorf("%s as %s: the 409 names the active conversation: %v, want %v (%s)", name, who.name, got, who.names, r.body)
				}
			}
		}
	})
}
