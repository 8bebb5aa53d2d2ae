package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// Webhooks to two entry points are counted under each one's id, by the
// ingest (messages by connector) and by the core (messages by result);
// every entry_point label is an id of the file, a derived id or other.
func TestMetricsByEntryPoint(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			g, _ := startTwoAccounts(t, dialect)
			postToTwoAccounts(t, g)
			consume(t, g, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 2 })
			for _, ep := range []string{usEntryPoint, ukEntryPoint} {
				waitMetric(t, g, `gateway_webhook_events_total{connector="twilio_messaging",entry_point="`+ep+`",type="message.received"} 1`+"\n")
				waitMetric(t, g, `gateway_core_messages_total{entry_point="`+ep+`",result="created"} 1`+"\n")
			}
			allowed := append(core.DerivedEntryPoints(), usEntryPoint, ukEntryPoint, core.EntryPointOther)
			label := regexp.MustCompile(`entry_point="([^"]*)"`)
			for _, l := range strings.Split(get(t, g, "/metrics"), "\n") {
				if strings.HasPrefix(l, "#") {
					continue
				}
				if m := label.FindStringSubmatch(l); m != nil && !slices.Contains(allowed, m[1]) {
					t.Errorf("an entry_point label no entry point has: %s", l)
				}
			}
		})
	}
}
