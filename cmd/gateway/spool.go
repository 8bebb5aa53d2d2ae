package main

import (
	"context"
	"log/slog"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/kafkabus/spool"
)

// kafkaCheck is the kafka check of /readyz: "ok" when a broker answers and
// nothing waits in the spool; "spooling" (still ready: providers get their
// 2xx) when Kafka does not answer or records wait, as long as the spool
// takes writes; "failing" otherwise.
type kafkaCheck struct {
	client *kafka.Client
	spool  *spool.Spool // nil with GATEWAY_SPOOL=off or without the ingest role
	log    *slog.Logger
}

var _ connectors.Stater = kafkaCheck{}

func (k kafkaCheck) Ping(ctx context.Context) error { return kafkabus.Ping(ctx, k.client) }

func (k kafkaCheck) Status(ctx context.Context) (string, bool) {
	err := k.Ping(ctx)
	switch {
	case k.spool == nil && err == nil, err == nil && k.spool.Empty():
		return "ok", true
	case k.spool != nil && k.spool.Writable():
		if err != nil {
			k.log.Warn("readyz: kafka failing; webhooks go to the spool", "check", "kafka", "error", err)
		}
		return "spooling", true
	case err == nil:
		k.log.Warn("readyz: kafka answers but the spool is full", "check", "kafka", "spool_bytes", k.spool.Bytes())
	default:
		k.log.Warn("readyz: check failing", "check", "kafka", "error", err)
	}
	return "failing", false
}
