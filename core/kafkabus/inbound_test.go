package kafkabus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// source hands out its batches in turn, records the committed offsets and
// signals each commit on commits (buffered by the caller).
type source struct {
	mu        sync.Mutex
	batches   [][]kafka.Message
	committed []int64
	commits   chan struct{}
}

func (s *source) FetchBatch(ctx context.Context, max int) ([]kafka.Message, error) {
	s.mu.Lock()
	if len(s.batches) > 0 {
		b := s.batches[0]
		s.batches = s.batches[1:]
		s.mu.Unlock()
		return b, nil
	}
	s.mu.Unlock()
	<-ctx.Done()
	return nil, ctx.Err()
}

func (s *source) Commit(_ context.Context, msgs ...kafka.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.committed = append(s.committed, m.Offset)
	}
	s.commits <- struct{}{}
	return nil
}

type dlq struct {
	mu      sync.Mutex
	offsets []int64
	reasons []string
}

func (d *dlq) ProduceDLQ(_ context.Context, m kafka.Message, reason string, err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.offsets = append(d.offsets, m.Offset)
	d.reasons = append(d.reasons, reason+": "+err.Error())
	return nil
}

// flaky fails the first n transactions with a transient error.
type flaky struct {
	core.Store
	mu sync.Mutex
	n  int
}

func (f *flaky) InTx(ctx context.Context, fn func(core.Tx) error) error {
	f.mu.Lock()
	fail := f.n > 0
	f.n--
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("database restarting: %w", core.ErrTransient)
	}
	return f.Store.InTx(ctx, fn)
}

var seq atomic.Int64

func sms(from, text string) normalize.Message {
	return normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelSMS, Provider: "twilio",
		ProviderMessageID: fmt.Sprintf("SM%032d", seq.Add(1)), Direction: normalize.Inbound,
		From: normalize.Party{Kind: normalize.KindPhone, Address: from},
		To:   normalize.Party{Kind: normalize.KindPhone, Address: "+15558675310"}, Text: text}
}

func record(offset int64, v any) kafka.Message {
	b, _ := json.Marshal(v)
	return kafka.Message{Topic: "gateway.inbound.v1", Offset: offset, Value: b}
}

// A poison record goes to the dead-letter topic with the reason and the
// consumer moves on; a transient database failure is retried, and the
// offsets are committed only once the batch is in the database.
func TestConsumerPoisonAndTransient(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			store := &flaky{Store: sqltest.Open(t, dialect), n: 2}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			svc := core.NewService(store, core.Policy{ReopenWindow: 72 * time.Hour, AutoCloseAfter: 96 * time.Hour}, core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"}, log, core.NewMetrics(nil))
			good := sms("+14155550101", "hello")
			ev, _ := normalize.NewEvent("/test", normalize.TypeMessageReceived, "sms:+14155550101", time.Now(), good)
			noFrom := sms("+14155550102", "x")
			noFrom.From = normalize.Party{}
			bad, _ := normalize.NewEvent("/test", normalize.TypeMessageReceived, "k", time.Now(), noFrom)
			src := &source{commits: make(chan struct{}, 1), batches: [][]kafka.Message{{
				{Topic: "gateway.inbound.v1", Offset: 10, Value: []byte("{not json")},
				record(11, bad),
				record(12, ev),
			}}}
			dl := &dlq{}
			c := kafkabus.NewInboundConsumer(svc, src, dl, log, core.NewMetrics(nil), 0)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- c.Run(ctx) }()
			select {
			case <-src.commits:
			case <-time.After(10 * time.Second):
				t.Fatal("the batch was never committed")
			}
			cancel()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(dl.offsets) != "[10 11]" {
				t.Fatalf("dead letters at %v (%v), want 10 and 11", dl.offsets, dl.reasons)
			}
			if fmt.Sprint(src.committed) != "[10 11 12]" {
				t.Fatalf("committed %v", src.committed)
			}
			if store.n >= 0 {
				t.Fatalf("the transient failures were not retried (%d left)", store.n)
			}
			if _, err := svc.Customers().FindCustomer(context.Background(), "+14155550101"); err != nil {
				t.Fatalf("the good record is not in the database: %v", err)
			}
		})
	}
}

// claimer fails its first claims, then hands out events once.
type claimer struct {
	mu    sync.Mutex
	fail  int
	evs   []core.OutboxEvent
	calls int
}

func (c *claimer) ClaimEvents(_ context.Context, limit int, publish func([]core.OutboxEvent) error) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.fail > 0 {
		c.fail--
		return 0, fmt.Errorf("database restarting: %w", core.ErrTransient)
	}
	evs := c.evs[:min(limit, len(c.evs))]
	if err := publish(evs); err != nil {
		return 0, err
	}
	c.evs = c.evs[len(evs):]
	return len(evs), nil
}

type producer struct {
	mu   sync.Mutex
	recs []kafkabus.Record
	got  chan struct{}
}

func (p *producer) Produce(_ context.Context, recs ...kafkabus.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recs = append(p.recs, recs...)
	if len(recs) > 0 {
		close(p.got)
	}
	return nil
}

// The relay retries a failed claim after a backoff, publishes each event
// with its key and content type, and stops as soon as ctx ends.
func TestRelayRetriesAndPublishes(t *testing.T) {
	store := &claimer{fail: 2, evs: []core.OutboxEvent{{Topic: "gateway.events.v1", Key: "cus_1", Value: []byte(`{"id":"1"}`)}}}
	prod := &producer{got: make(chan struct{})}
	r := kafkabus.NewRelay(store, prod, slog.New(slog.NewTextHandler(io.Discard, nil)), core.NewMetrics(nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	select {
	case <-prod.got:
	case <-time.After(10 * time.Second):
		t.Fatal("the event was never published after the claim failures")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not stop when ctx ended")
	}
	if len(prod.recs) != 1 || string(prod.recs[0].Key) != "cus_1" || prod.recs[0].Topic != "gateway.events.v1" {
		t.Fatalf("published %+v", prod.recs)
	}
	if h := prod.recs[0].Headers; len(h) != 1 || h[0].Key != "content-type" || string(h[0].Value) != normalize.ContentType {
		t.Fatalf("headers %+v", h)
	}
	if store.calls < 3 {
		t.Fatalf("%d claims, want the two failures retried", store.calls)
	}
}

// slowProducer holds each Produce until release is closed, and reports
// whether the context it was given had ended by then.
type slowProducer struct {
	started, release chan struct{}
	once             sync.Once
	cut              atomic.Bool
}

func (p *slowProducer) Produce(ctx context.Context, recs ...kafkabus.Record) error {
	if len(recs) == 0 {
		return nil
	}
	p.once.Do(func() { close(p.started) })
	<-p.release
	if ctx.Err() != nil {
		p.cut.Store(true)
		return ctx.Err()
	}
	return nil
}

// A batch the relay has begun when its context ends (SIGTERM) is finished
// and marked, not cut short: a batch cut after Kafka took some of it would
// be published again after the restart (the same event id twice).
func TestRelayFinishesTheBatchUnderWay(t *testing.T) {
	store := &claimer{evs: []core.OutboxEvent{{Topic: "gateway.events.v1", Key: "cus_1", Value: []byte(`{"id":"1"}`)}}}
	prod := &slowProducer{started: make(chan struct{}), release: make(chan struct{})}
	r := kafkabus.NewRelay(store, prod, slog.New(slog.NewTextHandler(io.Discard, nil)), core.NewMetrics(nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	<-prod.started
	cancel()
	close(prod.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not stop")
	}
	if prod.cut.Load() {
		t.Fatal("the batch under way was cut short when the relay's context ended")
	}
	if len(store.evs) != 0 {
		t.Fatalf("%d events left unmarked", len(store.evs))
	}
}
