// Package kafkabus is the gateway's Kafka adapter (segmentio/kafka-go): a
// producer that group-commits concurrent callers into shared batches, a
// consumer-group reader (Source) and the dead-letter topic (DeadLetters),
// the inbound.v1 consumer loop that feeds the conversation engine, the
// relay that publishes the event outbox, topic setup and the embedded
// broker.
//
// It reaches the engine only through small interfaces it declares
// (InboundHandler, EventClaimer) and imports core, core/retry and normalize
// of the gateway; never the database, HTTP or the outbox.
package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Record is one Kafka record to produce.
type Record struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []kafka.Header
	// Partition, when >= 0 with PartitionSet, bypasses the key hash.
	Partition    int
	PartitionSet bool
}

// ErrUnavailable wraps every error that means Kafka did not take a record.
var ErrUnavailable = errors.New("kafka unavailable")

// Producer sends records with acks from all in-sync replicas. Calls from many
// goroutines share produce requests: each partition has at most one request
// in flight, and every record that arrives meanwhile rides in the next one.
// No record waits for a timer, so a lone request goes out at once and a busy
// partition sends large batches.
type Producer struct {
	client   *kafka.Client
	balancer kafka.Murmur2Balancer
	timeout  time.Duration
	maxBatch int

	mu     sync.Mutex
	parts  map[string][]int
	queues map[topicPartition]*queue

	latency *prometheus.HistogramVec
	errs    *prometheus.CounterVec
	batch   prometheus.Histogram
}

type topicPartition struct {
	topic     string
	partition int
}

type pending struct {
	rec  kafka.Record
	done chan<- error
}

type queue struct {
	mu      sync.Mutex
	busy    bool
	pending []pending
}

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	Brokers []string
	Timeout time.Duration // one produce request, default 5s
	// MaxBatch caps the records in one produce request, default 2000.
	MaxBatch int
}

// NewProducer returns a producer for the given brokers.
func NewProducer(cfg ProducerConfig, reg prometheus.Registerer) *Producer {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2000
	}
	p := &Producer{
		client:   NewClient(cfg.Brokers, cfg.Timeout),
		timeout:  cfg.Timeout,
		maxBatch: cfg.MaxBatch,
		parts:    map[string][]int{},
		queues:   map[topicPartition]*queue{},
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gateway", Subsystem: "kafka", Name: "produce_seconds",
			Help:    "Time from handing records to Kafka to the acknowledgement of all in-sync replicas.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"topic"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "kafka", Name: "produce_errors_total",
			Help: "Produce requests Kafka did not acknowledge.",
		}, []string{"topic"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "gateway", Subsystem: "kafka", Name: "produce_batch_records",
			Help:    "Records per produce request.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7),
		}),
	}
	if reg != nil {
		reg.MustRegister(p.latency, p.errs, p.batch)
	}
	return p
}

// NewClient returns a kafka-go client whose dials and requests are bounded.
func NewClient(brokers []string, timeout time.Duration) *kafka.Client {
	return &kafka.Client{
		Addr:    kafka.TCP(brokers...),
		Timeout: timeout,
		Transport: &kafka.Transport{
			Dial:        (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			DialTimeout: 2 * time.Second,
			IdleTimeout: 5 * time.Minute,
			MetadataTTL: 30 * time.Second,
		},
	}
}

// Client returns the underlying kafka-go client.
func (p *Producer) Client() *kafka.Client { return p.client }

// Produce sends the records and returns once every one is acknowledged, or
// the first error. Records with the same topic and partition keep their order.
func (p *Producer) Produce(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	done := make(chan error, len(recs))
	for _, r := range recs {
		part := r.Partition
		if !r.PartitionSet {
			parts, err := p.partitions(ctx, r.Topic)
			if err != nil {
				return err
			}
			part = p.balancer.Balance(kafka.Message{Key: r.Key}, parts...)
		}
		p.enqueue(topicPartition{r.Topic, part}, pending{
			rec:  kafka.Record{Time: time.Now(), Key: kafka.NewBytes(r.Key), Value: kafka.NewBytes(r.Value), Headers: r.Headers},
			done: done,
		})
	}
	var first error
	for range recs {
		select {
		case err := <-done:
			if err != nil && first == nil {
				first = err
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
		}
	}
	return first
}

func (p *Producer) enqueue(tp topicPartition, pe pending) {
	p.mu.Lock()
	q := p.queues[tp]
	if q == nil {
		q = &queue{}
		p.queues[tp] = q
	}
	p.mu.Unlock()
	q.mu.Lock()
	q.pending = append(q.pending, pe)
	start := !q.busy
	q.busy = true
	q.mu.Unlock()
	if start {
		go p.drain(tp, q)
	}
}

// drain sends what is pending on one partition, one request at a time, until
// nothing is left.
func (p *Producer) drain(tp topicPartition, q *queue) {
	for {
		q.mu.Lock()
		n := len(q.pending)
		if n == 0 {
			q.busy = false
			q.mu.Unlock()
			return
		}
		if n > p.maxBatch {
			n = p.maxBatch
		}
		batch := make([]pending, n)
		copy(batch, q.pending)
		rest := copy(q.pending, q.pending[n:])
		clear(q.pending[rest:])
		q.pending = q.pending[:rest]
		q.mu.Unlock()

		err := p.send(tp, batch)
		for _, pe := range batch {
			pe.done <- err
		}
	}
}

func (p *Producer) send(tp topicPartition, batch []pending) error {
	recs := make([]kafka.Record, len(batch))
	for i, pe := range batch {
		recs[i] = pe.rec
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	start := time.Now()
	resp, err := p.client.Produce(ctx, &kafka.ProduceRequest{
		Topic: tp.topic, Partition: tp.partition, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(recs...),
	})
	if err == nil && resp.Error != nil {
		err = resp.Error
	}
	if err == nil {
		for _, e := range resp.RecordErrors {
			err = e
			break
		}
	}
	if err != nil {
		p.errs.WithLabelValues(tp.topic).Inc()
		p.forget(tp.topic)
		return fmt.Errorf("%w: produce to %s/%d: %v", ErrUnavailable, tp.topic, tp.partition, err)
	}
	p.latency.WithLabelValues(tp.topic).Observe(time.Since(start).Seconds())
	p.batch.Observe(float64(len(batch)))
	return nil
}

func (p *Producer) partitions(ctx context.Context, topic string) ([]int, error) {
	p.mu.Lock()
	parts, ok := p.parts[topic]
	p.mu.Unlock()
	if ok {
		return parts, nil
	}
	n, err := PartitionCount(ctx, p.client, topic)
	if err != nil {
		return nil, err
	}
	parts = make([]int, n)
	for i := range parts {
		parts[i] = i
	}
	p.mu.Lock()
	p.parts[topic] = parts
	p.mu.Unlock()
	return parts, nil
}

// forget drops the cached partition list of a topic so that the next produce
// reads it again (partitions may have been added, or the broker replaced).
func (p *Producer) forget(topic string) {
	p.mu.Lock()
	delete(p.parts, topic)
	p.mu.Unlock()
}

// PartitionCount returns the number of partitions of a topic.
func PartitionCount(ctx context.Context, c *kafka.Client, topic string) (int, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("%w: metadata for %s: %v", ErrUnavailable, topic, err)
	}
	for _, t := range md.Topics {
		if t.Name == topic {
			if t.Error != nil {
				return 0, fmt.Errorf("%w: metadata for %s: %v", ErrUnavailable, topic, t.Error)
			}
			if len(t.Partitions) == 0 {
				break
			}
			return len(t.Partitions), nil
		}
	}
	return 0, fmt.Errorf("%w: topic %s has no partitions", ErrUnavailable, topic)
}

// Ping reports whether a broker answers (ApiVersions: never served from the
// client's metadata cache).
func Ping(ctx context.Context, c *kafka.Client) error {
	if _, err := c.ApiVersions(ctx, &kafka.ApiVersionsRequest{}); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}
