package httpapi_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/httpapi"
	"github.com/opengateway/gateway/core/sqlstore"
)

// A request the API cannot answer leaves one log line naming its request
// (the X-Request-Id it was answered with), its route and its outcome; the
// caller's token stays out of it.
func TestAPIFailureLinesNameTheRequest(t *testing.T) {
	e := newAPIEnv(t, sqlstore.SQLite, func(api *httpapi.API) {
		api.Handle("GET", "/test/panic", httpapi.RoleAgent, func(c *fiber.Ctx) error { panic("boom") })
		api.Handle("GET", "/test/broken", httpapi.RoleAgent, func(c *fiber.Ctx) error { return errors.New("disk on fire") })
		api.Handle("GET", "/test/busy", httpapi.RoleAgent, func(c *fiber.Ctx) error {
			return fmt.Errorf("store: %w", core.ErrTransient)
		})
	})
	for _, tc := range []struct{ path, id, msg, outcome string }{
		{"/v1/test/panic", "req-panic-1", "api: panic", "panic"},
		{"/v1/test/broken", "req-broken-1", "api: request failed", core.EINTERNAL},
		{"/v1/test/busy", "", "api: database unavailable", "unavailable"},
	} {
		before := len(e.logs.String())
		r := e.do("GET", tc.path, agentToken, nil, "X-Request-Id", tc.id)
		id := r.header.Get("X-Request-Id")
		if r.status < 500 || id == "" || tc.id != "" && id != tc.id {
			t.Errorf("%s: %d, X-Request-Id %q", tc.path, r.status, id)
		}
		var line string
		for _, l := range strings.Split(e.logs.String()[before:], "\n") {
			if strings.Contains(l, fmt.Sprintf("msg=%q", tc.msg)) {
				line = l
			}
		}
		for _, want := range []string{"request_id=" + id, "route=" + tc.path, "outcome=" + tc.outcome} {
			if !strings.Contains(line, want) {
				t.Errorf("%s: log line %q lacks %s", tc.path, line, want)
			}
		}
		if strings.Contains(line, agentToken) {
			t.Errorf("%s: the log line holds the token", tc.path)
		}
	}
}
