// Command kfakebroker runs the Kafka-protocol broker kfake in a process of
// its own (6 partitions per topic by default, topics created on first use),
// so that a benchmark's broker does not share a Go runtime with the server
// under test.
//
//	go run ./cmd/kfakebroker -addr 127.0.0.1:19092 -partitions 6
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/opengateway/gateway/core/kafkabus"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19092", "listen address")
	partitions := flag.Int("partitions", 6, "partitions of every topic")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b, err := kafkabus.StartEmbedded("", *addr, *partitions)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("kfake listening on", b.Addr())
	<-ctx.Done()
	b.Close()
}
