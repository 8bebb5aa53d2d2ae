package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
)

// workers runs the gateway's long-lived goroutines (listeners, consumers,
// relay, dispatcher) by name. One that returns before the gateway stops has
// failed: it is logged by name, /readyz fails while it is down, and the
// first failure ends the process (run returns it, main exits non-zero).
type workers struct {
	log *slog.Logger
	wg  sync.WaitGroup

	mu       sync.Mutex
	stopping bool
	down     map[string]error
	failed   chan error // the first failure
}

func newWorkers(log *slog.Logger) *workers {
	return &workers{log: log, down: map[string]error{}, failed: make(chan error, 1)}
}

// Go runs fn as the worker called name.
func (w *workers) Go(name string, fn func() error) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		err := fn()
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.stopping {
			return
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		err = fmt.Errorf("%s: %w", name, err)
		w.down[name] = err
		w.log.Error("worker failed; the gateway stops", "worker", name, "error", err)
		select {
		case w.failed <- err:
		default:
		}
	}()
}

// Failed delivers the first worker failure.
func (w *workers) Failed() <-chan error { return w.failed }

// Ping fails while a worker is down (/readyz names only "workers"; the
// log says which and why).
func (w *workers) Ping(context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.down) == 0 {
		return nil
	}
	names := make([]string, 0, len(w.down))
	for n := range w.down {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Errorf("down: %s", strings.Join(names, ", "))
}

// Stopping says that workers returning from now on are shutting down, not failing.
func (w *workers) Stopping() {
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
}

// Wait returns when every worker has returned.
func (w *workers) Wait() { w.wg.Wait() }
