package kafkabus

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stallFirstProduce makes the broker hold its next produce request until
// release is closed (other connections are served meanwhile), and counts
// the produce requests it gets from then on.
func stallFirstProduce(b *Embedded, release <-chan struct{}) (entered <-chan struct{}, requests *atomic.Int64) {
	in := make(chan struct{})
	requests = &atomic.Int64{}
	b.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		if requests.Add(1) == 1 {
			close(in)
			b.cluster.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	return in, requests
}

// warmProducer returns a producer whose metadata of topic (6 partitions)
// is read.
func warmProducer(ctx context.Context, t *testing.T, b *Embedded, topic string, cfg ProducerConfig) *Producer {
	t.Helper()
	cfg.Brokers = []string{b.Addr()}
	p := NewProducer(cfg, nil)
	if err := EnsureTopics(ctx, p.Client(), []string{topic}, 6, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.Produce(ctx, Record{Topic: topic, Key: []byte("warm"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	return p
}

// pendingRecords counts the records the producer holds that no request
// carries yet.
func pendingRecords(p *Producer) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, q := range p.queues {
		n += len(q.pending)
	}
	return n
}

// While a broker's request is in flight, the records of every partition
// that arrive wait for it and then leave together: one request for all of
// them (the old producer sent every free partition's records at once, a
// request each time).
func TestProducerOneRequestInFlightPerBroker(t *testing.T) {
	b, ctx := testBroker(t)
	const topic = "t.batch"
	p := warmProducer(ctx, t, b, topic, ProducerConfig{MaxHold: time.Minute})
	release := make(chan struct{})
	entered, requests := stallFirstProduce(b, release)

	var wg sync.WaitGroup
	produce := func(key string) {
		defer wg.Done()
		if err := p.Produce(ctx, Record{Topic: topic, Key: []byte(key), Value: []byte("v")}); err != nil {
			t.Error(err)
		}
	}
	wg.Add(1)
	go produce("first")
	<-entered
	const callers = 30 // keys over all 6 partitions
	wg.Add(callers)
	for i := range callers {
		go produce("key-" + strconv.Itoa(i))
	}
	for pendingRecords(p) < callers {
		if ctx.Err() != nil {
			close(release)
			t.Fatalf("%d of %d records wait for the request in flight; the others left in requests of their own", pendingRecords(p), callers)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if n := requests.Load(); n != 2 {
		t.Fatalf("%d produce requests, want 2 (the stalled one, then one carrying the %d records that waited)", n, callers)
	}
}

// A request the broker does not answer holds up the broker's other
// partitions no longer than MaxHold: their records then leave in a request
// of their own and are acknowledged while it is still unanswered.
func TestProducerStuckRequestHoldsOthersAtMostMaxHold(t *testing.T) {
	b, ctx := testBroker(t)
	const topic = "t.stuck"
	p := warmProducer(ctx, t, b, topic, ProducerConfig{MaxHold: 20 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	entered, _ := stallFirstProduce(b, release)

	stuck := make(chan error, 1)
	go func() { stuck <- p.Produce(ctx, Record{Topic: topic, Key: []byte("stuck"), Value: []byte("v")}) }()
	<-entered
	// A key of another partition than "stuck".
	stuckPart := p.balancer.Balance(kafka.Message{Key: []byte("stuck")}, 0, 1, 2, 3, 4, 5)
	key := ""
	for i := 0; key == ""; i++ {
		if k := "other-" + strconv.Itoa(i); p.balancer.Balance(kafka.Message{Key: []byte(k)}, 0, 1, 2, 3, 4, 5) != stuckPart {
			key = k
		}
	}
	if err := p.Produce(ctx, Record{Topic: topic, Key: []byte(key), Value: []byte("v")}); err != nil {
		t.Fatalf("a record of another partition, while a request is stuck: %v", err)
	}
	select {
	case err := <-stuck:
		t.Fatalf("the stuck request was answered first (%v)", err)
	default:
	}
}
