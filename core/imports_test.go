package core_test

import (
	"os/exec"
	"strings"
	"testing"
)

// Package core is the domain in the middle: it must not depend, even
// indirectly, on Kafka, HTTP, fiber or any gateway package but normalize.
func TestCoreImportsOnlyNormalize(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const module = "github.com/opengateway/gateway/"
	allowed := map[string]bool{module + "core": true, module + "normalize": true}
	forbidden := []string{"github.com/segmentio/kafka-go", "github.com/twmb/franz-go", "net/http", "github.com/gofiber/", "github.com/valyala/fasthttp"}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !allowed[deps[len(deps)-1]] {
		t.Fatalf("go list printed no dependency list for core:\n%s", out)
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, module) && !allowed[dep] {
			t.Errorf("core depends on %s; it may import only normalize of the gateway", dep)
		}
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, strings.TrimSuffix(f, "/")+"/") {
				t.Errorf("core depends on %s", dep)
			}
		}
	}
}
