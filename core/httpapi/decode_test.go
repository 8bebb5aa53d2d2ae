package httpapi_test

import (
	"strings"
	"testing"

	"github.com/opengateway/gateway/core/httpapi"
	"github.com/opengateway/gateway/core/sqlstore"
)

func TestAPIBadInput(t *testing.T) {
	e := newAPIEnv(t, sqlstore.SQLite, nil)
	e.receive(sms("+14155550101", "help"))
	_, convID := e.customer("+14155550101")
	notes := "/v1/conversations/" + convID + "/notes"
	big := `{"text":"` + strings.Repeat("a", httpapi.BodyLimit) + `"}`
	tests := map[string]struct {
		path   string
		body   string
		hdr    []string
		status int
		code   string
	}{
		"over 1 MiB":         {notes, big, nil, 413, "too_large"},
		"compressed":         {notes, `{"text":"x"}`, []string{"Content-Encoding", "gzip"}, 415, "unsupported_media_type"},
		"note with NUL":      {notes, `{"text":"a\u0000"}`, nil, 400, "invalid"},
		"note too long":      {notes, `{"text":"` + strings.Repeat("a", 64<<10+1) + `"}`, nil, 400, "invalid"},
		"text is a number":   {notes, `{"text":1}`, nil, 400, "invalid"},
		"text is null":       {notes, `{"text":null}`, nil, 400, "invalid"},
		"null body":          {notes, `null`, nil, 400, "invalid"},
		"truncated":          {notes, `{"text":"a`, nil, 400, "invalid"},
		"not JSON":           {notes, `text=a`, nil, 400, "invalid"},
		"invalid UTF-8 text": {notes, "{\"text\":\"\xff\xfe\"}", nil, 201, ""},
		"long id":            {"/v1/conversations/" + strings.Repeat("a", 300) + "/notes", `{"text":"x"}`, nil, 404, "not_found"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := e.with(t).do("POST", tc.path, agentToken, tc.body, tc.hdr...)
			if r.status != tc.status || r.code() != tc.code {
				t.Errorf("%d %.200s, want %d %q", r.status, r.body, tc.status, tc.code)
			}
		})
	}
}

// FuzzAPIBody sends arbitrary bodies to every route that reads one: a bad
// body is a 4xx with the JSON error shape, never a 5xx.
func FuzzAPIBody(f *testing.F) {
	for _, s := range []string{`{"agent":"ann","inbox":"s"}`, `{"text":"x"}`, `{"status":"closed","reason":"r"}`,
		`{"customer_id":"x","channel":"sms"}`, `{"from":"x"}`, `{`, `[]`, `null`, `{"text":"\u0000"}`, `{"agent":{}}`, "", `""`, `{"Agent":"000","inBoX":"0"}`, " "} {
		f.Add(s)
	}
	e := newAPIEnv(f, sqlstore.SQLite, nil)
	f.Fuzz(func(t *testing.T, body string) {
		e := e.with(t)
		e.receive(sms("+14155550199", "x"))
		custID, convID := e.customer("+14155550199")
		for _, p := range []string{"/conversations/" + convID + "/assign", "/conversations/" + convID + "/notes",
			"/conversations/" + convID + "/status", "/conversations/" + convID + "/unassign", "/conversations", "/customers/" + custID + "/merge"} {
			r := e.do("POST", "/v1"+p, adminToken, body)
			if r.status >= 500 {
				t.Fatalf("POST %s %q: %d %s", p, body, r.status, r.body)
			}
		}
	})
}
