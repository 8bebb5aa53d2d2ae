package main

import (
	"os"
	"testing"
)

// runMainEnv makes the test binary run the gateway's main instead of the
// tests: the fault suite starts it as a child process it can SIGKILL.
const runMainEnv = "GATEWAY_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}
