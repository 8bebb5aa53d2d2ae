package kafkabus

import (
	"slices"
	"testing"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// Every operator action of core.Actions is a command type of
// gateway.commands.v1 (normalize.CommandTypes), with a JSON Schema and a
// decoder here, and every command type is an action: an action the API
// has but the commands lack, or the reverse, fails here.
func TestEveryActionIsACommand(t *testing.T) {
	schemas := normalize.SchemaNames()
	names := map[string]bool{}
	for _, act := range core.Actions() {
		names[act.Name] = true
		if decoders[act.Name] == nil {
			t.Errorf("action %s has no command decoder", act.Name)
		}
		if !slices.Contains(normalize.CommandTypes, act.Name) {
			t.Errorf("action %s is not in normalize.CommandTypes", act.Name)
		}
		if !slices.Contains(schemas, "commands/"+act.Name) {
			t.Errorf("action %s has no schema normalize/schemas/commands/%s.json", act.Name, act.Name)
		}
	}
	for _, typ := range normalize.CommandTypes {
		if !names[typ] {
			t.Errorf("command type %s is no operator action of core.Actions", typ)
		}
	}
	for typ := range decoders {
		if !names[typ] {
			t.Errorf("decoder for %s, which is no operator action", typ)
		}
	}
	if len(normalize.CommandTypes) != len(names) {
		t.Errorf("%d command types for %d actions", len(normalize.CommandTypes), len(names))
	}
}
