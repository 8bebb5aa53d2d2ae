package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/opengateway/gateway/core/kafkabus"
)

// runMainEnv makes the test binary run the gateway's main instead of the
// tests: the fault suite starts it as a child process it can SIGKILL.
const runMainEnv = "GATEWAY_TEST_RUN_MAIN"

// runBrokerEnv makes the test binary run only the embedded broker, on the
// address it names (data under runBrokerDirEnv), until SIGTERM: the fault
// suite's broker in a process of its own.
const (
	runBrokerEnv    = "GATEWAY_TEST_RUN_BROKER"
	runBrokerDirEnv = "GATEWAY_TEST_RUN_BROKER_DIR"
)

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	if addr := os.Getenv(runBrokerEnv); addr != "" {
		runBroker(addr, os.Getenv(runBrokerDirEnv))
		return
	}
	os.Exit(m.Run())
}

func runBroker(addr, dir string) {
	b, err := kafkabus.StartEmbedded(dir, addr, 4)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	<-stop
	b.Close()
}
