// Package publishertest is the conformance suite of kafkabus.Publisher:
// every implementation (the Kafka producer, the spool's publisher) runs
// Run, and so keeps the contract the webhooks, the relay and the
// dead-letter topic rely on.
package publishertest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/kafkabus"
)

// Backend is one implementation under test, with what it writes to.
type Backend struct {
	Publisher kafkabus.Publisher
	// Topic is a topic Publisher takes records for.
	Topic string
	// Durable stops what Publisher writes to, starts it again from what it
	// left on disk (a broker from its data dir, a spool reopened), and
	// returns the records of Topic found there, each partition (or the
	// spool) in its order. The Backend is not used after it.
	Durable func(t *testing.T) []kafkabus.Record
	// Refused returns records the backend cannot take, and may put it in a
	// state where it cannot (a full spool): Produce must return an error.
	Refused func(t *testing.T) []kafkabus.Record
	// Close closes what Publisher writes to (the broker, the spool):
	// Produce must fail from then on, and what it acknowledged before stays
	// durable.
	Close func(t *testing.T)
}

// Run runs the suite; open returns a fresh Backend for each case.
func Run(t *testing.T, open func(t *testing.T) Backend) {
	t.Run("OrderPerKey", func(t *testing.T) { orderPerKey(t, open(t)) })
	t.Run("AckedIsDurable", func(t *testing.T) { ackedIsDurable(t, open(t)) })
	t.Run("ErrorsSurface", func(t *testing.T) { errorsSurface(t, open(t)) })
	t.Run("Close", func(t *testing.T) { closed(t, open(t)) })
}

func rec(topic, key string, n int) kafkabus.Record {
	return kafkabus.Record{Topic: topic, Key: []byte(key), Value: []byte(key + ":" + strconv.Itoa(n))}
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Records of one key, handed over by concurrent callers of many keys, one
// or a few per call, are durable in the order they were handed over.
func orderPerKey(t *testing.T, b Backend) {
	ctx := timeout(t)
	const keys, per = 6, 40
	var wg sync.WaitGroup
	for k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "key" + strconv.Itoa(k)
			for n := 0; n < per; {
				batch := []kafkabus.Record{rec(b.Topic, key, n)}
				if n%3 == 1 && n+1 < per {
					batch = append(batch, rec(b.Topic, key, n+1))
				}
				if err := b.Publisher.Produce(ctx, batch...); err != nil {
					t.Errorf("produce %s: %v", key, err)
					return
				}
				n += len(batch)
			}
		}()
	}
	wg.Wait()
	got := map[string][]string{}
	for _, r := range b.Durable(t) {
		got[string(r.Key)] = append(got[string(r.Key)], string(r.Value))
	}
	for k := range keys {
		key := "key" + strconv.Itoa(k)
		want := make([]string, per)
		for n := range want {
			want[n] = key + ":" + strconv.Itoa(n)
		}
		if strings.Join(got[key], " ") != strings.Join(want, " ") {
			t.Errorf("records of %s in order %v, want %v", key, got[key], want)
		}
	}
}

// Every record of a call that returned nil survives a restart of what the
// publisher writes to.
func ackedIsDurable(t *testing.T, b Backend) {
	ctx := timeout(t)
	var want []string
	for n := range 20 {
		r := rec(b.Topic, "k"+strconv.Itoa(n%4), n)
		if err := b.Publisher.Produce(ctx, r); err != nil {
			t.Fatalf("produce %d: %v", n, err)
		}
		want = append(want, string(r.Value))
	}
	have := map[string]bool{}
	for _, r := range b.Durable(t) {
		have[string(r.Value)] = true
	}
	for _, v := range want {
		if !have[v] {
			t.Errorf("acknowledged record %s is gone after a restart", v)
		}
	}
}

// A record the backend cannot take is an error, wrapping ErrUnavailable or
// ErrRejected, never a nil that drops it; the records acknowledged before
// it are kept.
func errorsSurface(t *testing.T, b Backend) {
	ctx := timeout(t)
	if err := b.Publisher.Produce(ctx, rec(b.Topic, "k", 0)); err != nil {
		t.Fatal(err)
	}
	refused := b.Refused(t)
	err := b.Publisher.Produce(ctx, refused...)
	if err == nil {
		t.Fatal("a record the backend cannot take was acknowledged")
	}
	if !errors.Is(err, kafkabus.ErrUnavailable) && !errors.Is(err, kafkabus.ErrRejected) {
		t.Fatalf("refusal %v wraps neither ErrUnavailable nor ErrRejected", err)
	}
	values := map[string]bool{}
	for _, r := range b.Durable(t) {
		values[string(r.Value)] = true
	}
	if !values["k:0"] {
		t.Error("the record acknowledged before the refusal is gone")
	}
	for _, r := range refused {
		if values[string(r.Value)] {
			t.Errorf("refused record %.40q is durable", r.Value)
		}
	}
}

// Once what the publisher writes to is closed, Produce fails with
// ErrUnavailable before its context ends, and what was acknowledged before
// the close is durable.
func closed(t *testing.T, b Backend) {
	ctx := timeout(t)
	if err := b.Publisher.Produce(ctx, rec(b.Topic, "k", 0)); err != nil {
		t.Fatal(err)
	}
	b.Close(t)
	err := b.Publisher.Produce(ctx, rec(b.Topic, "k", 1))
	if !errors.Is(err, kafkabus.ErrUnavailable) {
		t.Fatalf("produce after close: %v, want ErrUnavailable", err)
	}
	if ctx.Err() != nil {
		t.Fatal("produce after close returned only when its context ended")
	}
	var got []string
	for _, r := range b.Durable(t) {
		got = append(got, string(r.Value))
	}
	if fmt.Sprint(got) != "[k:0]" {
		t.Fatalf("durable after close: %v, want [k:0]", got)
	}
}
