package httpapi

import (
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/opengateway/gateway/core"
)

// Every route of the operator API that changes something takes an operator
// action of core.Actions, with the action's method, path and role, and
// every action has its route and a handler: an API route without an action
// (so without a command on gateway.commands.v1), or an action without a
// route, fails here. Routes that read (GET) are not actions.
func TestRoutesAreActions(t *testing.T) {
	a := &API{}
	routes := a.builtinRoutes()
	seen := map[string]int{}
	for _, rt := range routes {
		if rt.method == fiber.MethodGet {
			if rt.action != "" {
				t.Errorf("GET %s reads but takes the action %s", rt.path, rt.action)
			}
			continue
		}
		act, ok := core.ActionNamed(rt.action)
		switch {
		case !ok:
			t.Errorf("%s %s changes something but takes no operator action of core.Actions", rt.method, rt.path)
			continue
		case act.Method != rt.method || act.Route != rt.path:
			t.Errorf("%s %s takes %s, whose route is %s %s", rt.method, rt.path, act.Name, act.Method, act.Route)
		case rt.handler == nil:
			t.Errorf("%s %s (%s) has no handler", rt.method, rt.path, act.Name)
		case rt.role != roleOf(act):
			t.Errorf("%s %s (%s) needs role %q, want %q", rt.method, rt.path, act.Name, rt.role, roleOf(act))
		}
		seen[rt.action]++
	}
	for _, act := range core.Actions() {
		if seen[act.Name] != 1 {
			t.Errorf("action %s has %d routes, want 1", act.Name, seen[act.Name])
		}
	}
	if h := a.actionHandlers(); len(h) != len(core.Actions()) {
		t.Errorf("%d handlers for %d actions: a handler names no action", len(h), len(core.Actions()))
	}
	for _, name := range []string{"customer.merge", "conversation.delete", "customer.erase"} {
		if !core.AdminOnly(name) {
			t.Errorf("%s is not admin-only", name)
		}
	}
}
