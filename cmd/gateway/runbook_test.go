package main

import (
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Every alert links to a runbook section of the README that exists: its
// runbook_url ends in the anchor of a "### Runbook: <alert>" heading.
func TestEveryAlertHasARunbook(t *testing.T) {
	b, err := os.ReadFile(alertsPath)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !strings.Contains(string(readme), "\n### Runbook: "+r.Alert+"\n") {
				t.Errorf("%s: no \"### Runbook: %s\" section in README.md", r.Alert, r.Alert)
			}
			if want := "README.md#runbook-" + strings.ToLower(r.Alert); !strings.HasSuffix(r.Annotations["runbook_url"], want) {
				t.Errorf("%s: runbook_url %q, want it to end in %s", r.Alert, r.Annotations["runbook_url"], want)
			}
		}
	}
	if n < 12 {
		t.Fatalf("%d alerts read, want at least 12", n)
	}
}
