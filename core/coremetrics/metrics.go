// Package coremetrics records the conversation engine's measurements in
// Prometheus: it implements core.Metrics and exports the dashboard figures
// as gauges. It owns the gateway_core_* metric names; core itself imports
// nothing of Prometheus.
package coremetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/core"
)

// Metrics of the conversation engine.
type Metrics struct {
	messages    *prometheus.CounterVec
	events      *prometheus.CounterVec
	dlq         *prometheus.CounterVec
	batch       prometheus.Histogram
	firstResp   prometheus.Histogram
	resolutionH prometheus.Histogram
	relayed     prometheus.Counter
	// entryPoints bounds the entry_point label.
	entryPoints core.EntryPointLabels
}

var _ core.Metrics = (*Metrics)(nil)

var timeBuckets = []float64{10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600, 7 * 24 * 3600}

// New registers the core's metrics on reg (nil: unregistered). The
// entry_point label of messages_total is one of entryPoints (the
// configured entry points' ids), a derived id (core.DerivedEntryPoints) or
// core.EntryPointOther.
func New(reg prometheus.Registerer, entryPoints ...string) *Metrics {
	m := &Metrics{
		entryPoints: core.NewEntryPointLabels(entryPoints),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "core", Name: "messages_total",
			Help: "Inbound messages handled by the core, by result: created (new conversation), attached, reopened, duplicate, noise (kept without waking a conversation), updated; and by the entry point they came in at (other: one not configured; an update counts at the entry point derived from its provider and channel).",
		}, []string{"result", "entry_point"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "core", Name: "events_total",
			Help: "Events written to the event outbox, by type.",
		}, []string{"type"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "core", Name: "dead_letters_total",
			Help: "Records sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "gateway", Subsystem: "core", Name: "batch_records",
			Help:    "Records handled per database transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 6),
		}),
		firstResp: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "gateway", Subsystem: "core", Name: "first_response_seconds",
			Help: "Time from the gateway's receipt of a conversation's first inbound message to the first human reply.", Buckets: timeBuckets,
		}),
		resolutionH: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "gateway", Subsystem: "core", Name: "resolution_seconds",
			Help: "Time from a conversation's creation, or its last reopen, to its closing (once per close).", Buckets: timeBuckets,
		}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "core", Name: "events_published_total",
			Help: "Events relayed from the event outbox to Kafka.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.events, m.dlq, m.batch, m.firstResp, m.resolutionH, m.relayed)
	}
	return m
}

func (m *Metrics) Message(result, entryPoint string) {
	m.messages.WithLabelValues(result, m.entryPoints.Of(entryPoint)).Inc()
}
func (m *Metrics) Event(typ string)              { m.events.WithLabelValues(typ).Inc() }
func (m *Metrics) DeadLetter(reason string)      { m.dlq.WithLabelValues(reason).Inc() }
func (m *Metrics) Batch(records int)             { m.batch.Observe(float64(records)) }
func (m *Metrics) FirstResponse(seconds float64) { m.firstResp.Observe(seconds) }
func (m *Metrics) Resolution(seconds float64)    { m.resolutionH.Observe(seconds) }
func (m *Metrics) Relayed(events int)            { m.relayed.Add(float64(events)) }
