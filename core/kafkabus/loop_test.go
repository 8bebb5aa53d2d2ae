package kafkabus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// flakySource fails its first fetches, then hands out its batches.
type flakySource struct {
	source
	failures int
}

func (s *flakySource) FetchBatch(ctx context.Context, max int) ([]kafka.Message, error) {
	s.mu.Lock()
	if s.failures > 0 {
		s.failures--
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: broker gone", kafkabus.ErrUnavailable)
	}
	s.mu.Unlock()
	return s.source.FetchBatch(ctx, max)
}

func (s *flakySource) committedOffsets() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.committed...)
}

// The loop retries failed fetches, hands each batch to the handler, and
// commits a batch's offsets only after the handler returned nil for it.
func TestLoopCommitsOnlyAfterTheHandler(t *testing.T) {
	src := &flakySource{failures: 2, source: source{commits: make(chan struct{}, 2), batches: [][]kafka.Message{
		{{Offset: 1}, {Offset: 2}}, {{Offset: 3}},
	}}}
	var seen [][]int64 // committed offsets when each batch was handed over
	h := kafkabus.HandlerFunc(func(_ context.Context, batch []kafka.Message) error {
		seen = append(seen, src.committedOffsets())
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- kafkabus.Loop{Name: "test", Source: src, Handler: h, Log: discard()}.Run(ctx)
	}()
	for range 2 {
		select {
		case <-src.commits:
		case <-time.After(10 * time.Second):
			t.Fatal("a batch was never committed")
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[[] [1 2]]" {
		t.Fatalf("committed offsets when each batch was handled: %v, want [[] [1 2]]", seen)
	}
	if fmt.Sprint(src.committedOffsets()) != "[1 2 3]" {
		t.Fatalf("committed %v", src.committedOffsets())
	}
}

// A handler that fails for another reason than the end of its context
// stops the loop with its error, and the batch is not committed.
func TestLoopHandlerFailureCommitsNothing(t *testing.T) {
	src := &source{commits: make(chan struct{}, 1), batches: [][]kafka.Message{{{Offset: 7}}}}
	boom := errors.New("boom")
	h := kafkabus.HandlerFunc(func(context.Context, []kafka.Message) error { return boom })
	err := kafkabus.Loop{Name: "test", Source: src, Handler: h, Log: discard()}.Run(context.Background())
	if !errors.Is(err, boom) {
		t.Fatalf("Run returned %v, want the handler's error", err)
	}
	if len(src.committed) != 0 {
		t.Fatalf("committed %v after a failed batch", src.committed)
	}
}

// When the loop's context ends during a batch, the handler keeps a live
// context: the batch is finished and committed, and Run returns nil.
func TestLoopFinishesTheBatchUnderWay(t *testing.T) {
	src := &source{commits: make(chan struct{}, 1), batches: [][]kafka.Message{{{Offset: 4}}}}
	ctx, cancel := context.WithCancel(context.Background())
	h := kafkabus.HandlerFunc(func(work context.Context, _ []kafka.Message) error {
		cancel()
		return work.Err()
	})
	if err := (kafkabus.Loop{Name: "test", Source: src, Handler: h, Log: discard()}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(src.committed) != "[4]" {
		t.Fatalf("committed %v, want [4]", src.committed)
	}
}

// Records dead-letters the records Apply refuses, with the reason, and
// goes on; Done is called once the batch is applied.
func TestRecordsDeadLetterRefused(t *testing.T) {
	dl := &dlq{}
	done := 0
	r := kafkabus.Records{Name: "test", DLQ: dl, Log: discard(), Done: func() { done++ },
		Apply: func(_ context.Context, m kafka.Message) (string, error) {
			if m.Offset == 2 {
				return "conversation_closed", errors.New("closed")
			}
			return "", nil
		}}
	if err := r.Handle(context.Background(), []kafka.Message{{Offset: 1}, {Offset: 2}, {Offset: 3}}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(dl.offsets, dl.reasons) != "[2] [conversation_closed: closed]" || done != 1 {
		t.Fatalf("dead letters %v %v, done %d", dl.offsets, dl.reasons, done)
	}
}

// stopping ends the consumer's context at its first transaction, before
// running it.
type stopping struct {
	core.Store
	once sync.Once
	stop context.CancelFunc
}

func (s *stopping) InTx(ctx context.Context, fn func(core.Tx) error) error {
	s.once.Do(s.stop)
	return s.Store.InTx(ctx, fn)
}

// A command under way when the gateway stops is applied and committed, not
// cut short and redelivered.
func TestCommandsFinishTheBatchUnderWayOnStop(t *testing.T) {
	e := newCmdEnv(t, sqltest.Dialects[0])
	conv := e.customer("+14155550101")
	ctx, cancel := context.WithCancel(context.Background())
	st := &stopping{Store: e.store, stop: cancel}
	svc := core.NewService(st, core.Policy{}, core.EventTopics{Events: "gateway.events.v1"}, discard(), core.NewMetrics(nil))
	src := &source{commits: make(chan struct{}, 1), batches: [][]kafka.Message{{
		cmd(1, "t1", "/bots/triage", "note.add", conv.ID, map[string]any{"conversation_id": conv.ID, "text": "x"}),
	}}}
	c := kafkabus.NewCommandConsumer(svc.Store(), bindOf(svc), src, e.dlq, "gateway.events.v1", discard(), func() {})
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(src.committed) != "[1]" {
		t.Fatalf("committed %v, want [1]", src.committed)
	}
	if evs := e.events(has(normalize.TypeNoteAdded)); len(evs) != 1 || evs[0].Type != normalize.TypeNoteAdded {
		t.Fatalf("events %v", typesOf(evs))
	}
}
