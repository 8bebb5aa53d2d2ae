package connector_test

import (
	"os/exec"
	"strings"
	"testing"
)

// providers are the provider packages and the shared packages they build
// on, relative to this directory.
var providers = []string{".", "../twilio", "../meta", "../sendgrid", "../webchat", "../fetch", "../webhook", "../edge", "../httperr"}

// A provider package is built from its own settings and sends through the
// outbox's Sender: neither it nor anything it imports may compile a Kafka
// client, the Kafka adapter or the gateway's configuration.
func TestProvidersCompileNoKafka(t *testing.T) {
	args := append([]string{"list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}"}, providers...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(providers) {
		t.Fatalf("go list printed %d packages, want %d:\n%s", len(lines), len(providers), out)
	}
	forbidden := []string{"github.com/segmentio/kafka-go", "github.com/twmb/franz-go",
		"github.com/opengateway/gateway/core/kafkabus", "github.com/opengateway/gateway/config"}
	for _, line := range lines {
		deps := strings.Fields(line)
		if len(deps) < 10 {
			t.Fatalf("go list printed no dependency list: %q", line)
		}
		for _, dep := range deps[1:] {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s depends on %s", deps[0], dep)
				}
			}
		}
	}
}
