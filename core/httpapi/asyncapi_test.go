package httpapi_test

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/normalize"
)

// The event contract is served with every schema it refers to, so a
// downstream team can point an AsyncAPI tool at the gateway itself.
func TestAsyncAPIServedWithItsSchemas(t *testing.T) {
	e := newAPIEnv(t, sqlstore.SQLite, nil)
	doc := e.do("GET", "/v1/asyncapi.yaml", "", nil)
	if doc.status != 200 || string(doc.body) != string(normalize.AsyncAPIDocument()) {
		t.Fatalf("GET /v1/asyncapi.yaml: %d, %d bytes", doc.status, len(doc.body))
	}
	refs := map[string]bool{}
	for _, m := range regexp.MustCompile(`'\./schemas/([^'#]+)`).FindAllStringSubmatch(string(doc.body), -1) {
		refs[m[1]] = true
	}
	if len(refs) < 10 {
		t.Fatalf("only %d schema files referred to", len(refs))
	}
	for name := range refs {
		r := e.do("GET", "/v1/schemas/"+name, "", nil)
		if r.status != 200 || !json.Valid(r.body) {
			t.Errorf("GET /v1/schemas/%s: %d %.80s", name, r.status, r.body)
		}
	}
	for _, bad := range []string{"nope.json", "..%2Fasyncapi.yaml", "inbound/..%2F..%2Fschema.go", "defs.yaml"} {
		if r := e.do("GET", "/v1/schemas/"+bad, "", nil); r.status != 404 {
			t.Errorf("GET /v1/schemas/%s: %d, want 404", bad, r.status)
		}
	}
}
