package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/opengateway/gateway/core/httpapi"
	"github.com/opengateway/gateway/core/sqlstore"
)

// implementedElsewhere are documented routes another package mounts on the
// API. Nothing else may be documented and missing (none today).
var implementedElsewhere = map[string]bool{}

// apiSpec is openapi.yaml loaded once.
var apiSpec = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpapi.OpenAPIDocument())
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not valid: %w", err)
	}
	return gorillamux.NewRouter(doc)
})

// validate checks an answer against the document: its status is documented
// for the operation (a 413, 415 or 5xx may fall under default), the body
// matches the schema, and a request that succeeded matches the document too.
func (e *apiEnv) validate(req *http.Request, r resp) {
	e.t.Helper()
	router, err := apiSpec()
	if err != nil {
		e.t.Fatal(err)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return // not a documented route: the 404 tests
	}
	ctx := context.Background()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if r.status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			e.t.Errorf("%s %s answered %d but the request does not match openapi.yaml: %v", req.Method, req.URL.Path, r.status, err)
		}
	}
	switch r.status {
	case 413, 415:
	default:
		if r.status < 500 && route.Operation.Responses.Status(r.status) == nil {
			e.t.Errorf("%s %s: status %d is not documented in openapi.yaml", req.Method, route.Path, r.status)
		}
	}
	err = openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: r.status, Header: r.header, Body: io.NopCloser(bytes.NewReader(r.body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	})
	if err != nil {
		e.t.Errorf("%s %s: the %d answer does not match openapi.yaml: %v\n%s", req.Method, req.URL.Path, r.status, err, r.body)
	}
	e.seenMu.Lock()
	e.seen[fmt.Sprintf("%s %s %d", req.Method, route.Path, r.status)] = true
	e.seenMu.Unlock()
}

// TestOpenAPIMatchesLiveRoutes checks that openapi.yaml and the mounted
// routes are the same set, and that every documented operation answers as
// documented on a real app and store.
func TestOpenAPIMatchesLiveRoutes(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpapi.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" /v1"+strings.ReplaceAll(strings.ReplaceAll(path, "{", ":"), "}", "")] = true
		}
	}
	e := newAPIEnv(t, sqlstore.SQLite, nil)
	mounted := map[string]bool{}
	for _, r := range e.app.GetRoutes(true) {
		if strings.HasPrefix(r.Path, "/v1/") {
			mounted[r.Method+" "+r.Path] = true
		}
	}
	for r := range mounted {
		if !documented[r] {
			t.Errorf("%s is mounted but not in openapi.yaml", r)
		}
	}
	for r := range documented {
		if !mounted[r] && !implementedElsewhere[r] {
			t.Errorf("%s is in openapi.yaml but not mounted", r)
		}
	}
	for r := range implementedElsewhere {
		if !documented[r] {
			t.Errorf("%s is allowed to be mounted elsewhere but is not documented", r)
		}
	}

	// Every operation, through the answers the scenario gives, validated by
	// apiEnv.do against the document.
	forEachStore(t, func(t *testing.T, dialect string) {
		e, ids := scenarioEnv(t, dialect)
		e.run(t, contactSteps(), ids)
		e.run(t, customerSteps(), ids)
		e.run(t, scenario(), ids)
		e.retryScenario(t, ids)
		e.run(t, []step{
			{name: "list", method: "GET", path: "/v1/conversations?limit=1", token: agentToken, status: 200},
			{name: "document", method: "GET", path: "/v1/openapi.yaml", status: 200},
			{name: "event contract", method: "GET", path: "/v1/asyncapi.yaml", status: 200},
			{name: "schema", method: "GET", path: "/v1/schemas/defs.json", status: 200},
			{name: "schema in a folder", method: "GET", path: "/v1/schemas/inbound/message.received.json", status: 200},
			{name: "entry points", method: "GET", path: "/v1/entry-points", token: adminToken, status: 200},
		}, ids)
		for r := range documented {
			if implementedElsewhere[r] && !mounted[r] {
				continue
			}
			method, path, _ := strings.Cut(r, " ")
			path = regexp.MustCompile(`:(\w+)`).ReplaceAllString(strings.TrimPrefix(path, "/v1"), "{$1}")
			ok := false
			for s := range e.seen {
				if strings.HasPrefix(s, method+" "+path+" 2") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("no successful answer of %s was validated", r)
			}
		}
		if strings.Contains(e.logs.String(), agentToken) || strings.Contains(e.logs.String(), adminToken) {
			t.Error("a token is in the logs")
		}
	})
}
