package coremetrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opengateway/gateway/core"
)

// StatsReader reads the dashboard figures (core.Service).
type StatsReader interface {
	Stats(ctx context.Context, agent, inbox string) (core.Stats, error)
}

// StatsCollector exports the dashboard figures as gauges, read from the
// database at most every few seconds whatever the scrape rate.
type StatsCollector struct {
	svc StatsReader
	ttl time.Duration

	mu    sync.Mutex
	at    time.Time
	stats core.Stats
	err   error

	conversations, unreplied, unassigned, pending *prometheus.Desc
}

// NewStatsCollector returns the collector of gateway_conversations{status},
// gateway_unreplied_messages, gateway_unassigned_conversations and
// gateway_outbox_pending.
func NewStatsCollector(svc StatsReader) *StatsCollector {
	return &StatsCollector{svc: svc, ttl: 5 * time.Second,
		conversations: prometheus.NewDesc("gateway_conversations", "Conversations by status.", []string{"status"}, nil),
		unreplied:     prometheus.NewDesc("gateway_unreplied_messages", "Customer messages since the last human reply, in conversations that are not closed and that a human handles.", nil, nil),
		unassigned:    prometheus.NewDesc("gateway_unassigned_conversations", "Conversations that are not closed and have no assignee.", nil, nil),
		pending:       prometheus.NewDesc("gateway_outbox_pending", "Replies queued and not sent yet (including those being sent).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *StatsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conversations
	ch <- c.unreplied
	ch <- c.unassigned
	ch <- c.pending
}

// Collect implements prometheus.Collector.
func (c *StatsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) > c.ttl {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c.stats, c.err = c.svc.Stats(ctx, "", "")
		cancel()
		c.at = time.Now()
	}
	st, err := c.stats, c.err
	c.mu.Unlock()
	if err != nil {
		return
	}
	for status, n := range st.ByStatus {
		ch <- prometheus.MustNewConstMetric(c.conversations, prometheus.GaugeValue, float64(n), status)
	}
	ch <- prometheus.MustNewConstMetric(c.unreplied, prometheus.GaugeValue, float64(st.Unreplied))
	ch <- prometheus.MustNewConstMetric(c.unassigned, prometheus.GaugeValue, float64(st.Unassigned))
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.DispatchPending))
}
