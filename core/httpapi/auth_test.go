package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/normalize"
)

func TestAPIAuth(t *testing.T) {
	e := newAPIEnv(t, sqlstore.SQLite, nil)
	e.receive(sms("+14155550101", "help"))
	custID, convID := e.customer("+14155550101")
	tests := map[string]struct {
		method, path string
		hdr          []string
		status       int
		code         string
	}{
		"no token":                     {"GET", "/v1/conversations", nil, 401, "unauthorized"},
		"unknown token":                {"GET", "/v1/conversations", []string{"Authorization", "Bearer nope"}, 401, "unauthorized"},
		"token prefix":                 {"GET", "/v1/conversations", []string{"Authorization", "Bearer " + agentToken[:10]}, 401, "unauthorized"},
		"token with a suffix":          {"GET", "/v1/conversations", []string{"Authorization", "Bearer " + agentToken + "x"}, 401, "unauthorized"},
		"basic scheme":                 {"GET", "/v1/conversations", []string{"Authorization", "Basic " + agentToken}, 401, "unauthorized"},
		"empty bearer":                 {"GET", "/v1/conversations", []string{"Authorization", "Bearer "}, 401, "unauthorized"},
		"agent token":                  {"GET", "/v1/conversations", []string{"Authorization", "Bearer " + agentToken}, 200, ""},
		"lower-case scheme":            {"GET", "/v1/conversations", []string{"Authorization", "bearer " + agentToken}, 200, ""},
		"admin on agent route":         {"GET", "/v1/conversations/" + convID, []string{"Authorization", "Bearer " + adminToken}, 200, ""},
		"no token, mutation":           {"POST", "/v1/conversations/" + convID + "/notes", nil, 401, "unauthorized"},
		"agent deletes":                {"DELETE", "/v1/conversations/" + convID, []string{"Authorization", "Bearer " + agentToken}, 403, "forbidden"},
		"agent merges":                 {"POST", "/v1/customers/" + custID + "/merge", []string{"Authorization", "Bearer " + agentToken}, 403, "forbidden"},
		"agent erases":                 {"DELETE", "/v1/customers/" + custID, []string{"Authorization", "Bearer " + agentToken}, 403, "forbidden"},
		"bad token on admin":           {"DELETE", "/v1/customers/" + custID, []string{"Authorization", "Bearer x"}, 401, "unauthorized"},
		"document is public":           {"GET", "/v1/openapi.yaml", nil, 200, ""},
		"X-Agent with newline":         {"GET", "/v1/stats", []string{"Authorization", "Bearer " + agentToken, "X-Agent", "ann\u0085"}, 400, "invalid"}, // NEL: the server itself refuses ASCII controls
		"unnamed agent with X-Agent":   {"GET", "/v1/stats", []string{"Authorization", "Bearer " + agentToken, "X-Agent", "ann"}, 403, "forbidden"},
		"named agent with its X-Agent": {"GET", "/v1/stats", []string{"Authorization", "Bearer " + annToken, "X-Agent", "ann"}, 200, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var body any
			if tc.method == "POST" {
				body = `{"from":"x"}`
			}
			r := e.with(t).do(tc.method, tc.path, "", body, tc.hdr...)
			if r.status != tc.status || r.code() != tc.code {
				t.Fatalf("%d %s, want %d %q", r.status, r.body, tc.status, tc.code)
			}
			if www := r.header.Get("WWW-Authenticate"); (tc.status == 401) != strings.HasPrefix(www, "Bearer") {
				t.Errorf("WWW-Authenticate %q on a %d", www, r.status)
			}
		})
	}
	// Nothing the forbidden requests asked for happened.
	if _, err := e.svc.Conversation(context.Background(), convID); err != nil {
		t.Errorf("conversation after forbidden requests: %v", err)
	}
	if strings.Contains(e.logs.String(), agentToken) || strings.Contains(e.logs.String(), adminToken) {
		t.Error("a token is in the logs")
	}
}

// The actor of a change by an unnamed token is the agent an admin names
// with X-Agent, else the token's label, and never the token.
func TestAPIActor(t *testing.T) {
	e := newAPIEnv(t, sqlstore.SQLite, nil)
	e.receive(sms("+14155550101", "help"))
	_, convID := e.customer("+14155550101")
	e.events()
	sum := sha256.Sum256([]byte(agentToken))
	label := "agent:" + hex.EncodeToString(sum[:])[:6]
	tests := map[string]struct {
		token string
		hdr   []string
		actor string
	}{
		"X-Agent names the agent": {adminToken, []string{"X-Agent", "ann"}, "admin:ann"},
		"else the token's label":  {agentToken, nil, label},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := e.with(t)
			if r := e.do("POST", "/v1/conversations/"+convID+"/notes", tc.token, map[string]any{"text": "n"}, tc.hdr...); r.status != 201 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			evs := e.events()
			if len(evs) != 1 || evs[0].Type != normalize.TypeNoteAdded || evs[0].Actor != tc.actor {
				t.Fatalf("events %v, actor %q, want one note.added by %q", eventTypes(evs), evs[0].Actor, tc.actor)
			}
			if bytes.Contains(evs[0].Raw, []byte(tc.token)) {
				t.Error("the token is in the event")
			}
		})
	}
}
