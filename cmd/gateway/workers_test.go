package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore"
)

// A worker that fails makes /readyz fail while it is down, and ends the
// gateway with an error that names it (run returns it; main exits 1).
func TestFailedWorkerEndsGateway(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, nil)
	if got := get(t, g, "/readyz"); !strings.HasPrefix(got, "200") {
		t.Fatalf("readyz before: %s", got)
	}
	g.goWork("test worker", func() error { return errors.New("boom") })
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := get(t, g, "/readyz")
		if strings.HasPrefix(got, "503") && strings.Contains(got, `"workers":"failing"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz with a worker down: %s", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := g.Wait(ctx)
	if err == nil || err.Error() != "test worker: boom" {
		t.Fatalf("Wait after a worker failed: %v, want the worker named", err)
	}
}

// The HTTP listener failing ends the gateway too, and a worker that
// returns without an error while the gateway runs has failed as well.
func TestListenerFailureEndsGateway(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, nil)
	g.ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.Wait(ctx); err == nil || !strings.HasPrefix(err.Error(), "http listener: ") {
		t.Fatalf("Wait after the listener closed: %v", err)
	}

	g = startGateway(t, sqlstore.SQLite, nil)
	g.goWork("quiet worker", func() error { return nil })
	if err := g.Wait(ctx); err == nil || err.Error() != "quiet worker: stopped unexpectedly" {
		t.Fatalf("Wait after a worker returned: %v", err)
	}
}

// A clean stop is not a failure.
func TestCleanStopIsNotAFailure(t *testing.T) {
	g := startGateway(t, sqlstore.SQLite, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Wait(ctx); err != nil {
		t.Fatalf("Wait after the context ended: %v", err)
	}
	select {
	case err := <-g.work.Failed():
		t.Fatalf("a worker reported a failure on a clean stop: %v", err)
	default:
	}
}
