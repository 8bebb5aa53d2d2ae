package httpapi_test

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports holds the package to what its doc says: of the gateway it
// imports only core, normalize, connectors/httperr and connectors/edge.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/opengateway/gateway/core":               true,
		"github.com/opengateway/gateway/normalize":          true,
		"github.com/opengateway/gateway/connectors/httperr": true,
		"github.com/opengateway/gateway/connectors/edge":    true,
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/opengateway/gateway/") && !allowed[imp] {
			t.Errorf("httpapi imports %s", imp)
		}
		if strings.Contains(imp, "kafka") {
			t.Errorf("httpapi imports %s", imp)
		}
	}
}
