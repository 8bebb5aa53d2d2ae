package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opengateway/gateway/config"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/kafkabus/spool"
)

// replayRejected hands the records of files the spool set aside (Kafka
// refused them for good, usually for their size) to KAFKA_BROKERS again,
// once the operator has raised the topic's limit. A file whose records
// Kafka took is renamed with the suffix .replayed, so running it twice
// sends nothing twice; one Kafka still refuses stays as it is.
//
//	KAFKA_BROKERS=kafka:9092 gateway replay-rejected /data/spool/rejected/*.seg
func replayRejected(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: gateway replay-rejected FILE... (the files under GATEWAY_DATA_DIR/spool/rejected/)")
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if cfg.Embedded() {
		return errors.New("replay-rejected: needs KAFKA_BROKERS (for the embedded broker, the GATEWAY_EMBEDDED_KAFKA_ADDR of the running gateway)")
	}
	p := kafkabus.NewProducer(kafkabus.ProducerConfig{Brokers: cfg.KafkaBrokers}, nil)
	topics := kafkabus.Topics{Prefix: cfg.TopicPrefix}
	if err := kafkabus.EnsureTopics(ctx, p.Client(), topics.All(), cfg.KafkaPartitions, cfg.KafkaReplication); err != nil {
		return fmt.Errorf("replay-rejected: KAFKA_BROKERS: %w", err)
	}
	failed := 0
	for _, path := range args {
		recs, err := spool.ReadRejected(path)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err = p.Produce(pctx, recs...)
			cancel()
		}
		if err == nil {
			err = os.Rename(path, path+".replayed")
		}
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "%s: %v\n", path, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: %d records replayed\n", path, len(recs))
	}
	if failed > 0 {
		return fmt.Errorf("replay-rejected: %d of %d files not replayed", failed, len(args))
	}
	return nil
}
