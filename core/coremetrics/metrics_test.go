package coremetrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The entry_point label of messages_total is bounded by the configured
// ids: those and the derived ones as they are, anything else other.
func TestMessagesByEntryPointBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg, "support-us")
	for _, ep := range []string{"support-us", "support-us", "whatsapp", "made-up-1", "made-up-2", ""} {
		m.Message("created", ep)
	}
	if n := testutil.CollectAndCount(m.messages); n != 3 {
		t.Fatalf("%d series, want 3 (support-us, whatsapp, other)", n)
	}
	for ep, want := range map[string]float64{"support-us": 2, "whatsapp": 1, "other": 3} {
		if got := testutil.ToFloat64(m.messages.WithLabelValues("created", ep)); got != want {
			t.Errorf("entry_point %q: %v, want %v", ep, got, want)
		}
	}
}
