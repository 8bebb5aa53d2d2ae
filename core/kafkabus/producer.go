// Package kafkabus is the gateway's Kafka adapter (segmentio/kafka-go): the
// one producer interface (Publisher) and a producer that group-commits
// concurrent callers into shared batches, a consumer-group reader (Source),
// the one consume loop every consumer group runs (Loop, with its Handler),
// the dead-letter topic (DeadLetters), the handlers of inbound.v1 and
// commands.v1 that feed the conversation engine, the relay that publishes
// the event outbox, topic setup and the embedded broker.
//
// It reaches the engine only through small interfaces it declares
// (InboundHandler, EventClaimer) and imports core, core/retry and normalize
// of the gateway; never the database, HTTP or the outbox.
package kafkabus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/produce"
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

// ErrUnavailable wraps every error that means Kafka did not take a record
// this time: trying again later may succeed.
var ErrUnavailable = errors.New("kafka unavailable")

// ErrRejected wraps Kafka's refusal of one record for what it is (larger
// than the topic's max.message.bytes, invalid): trying it again will not
// succeed. Records batched with it are not refused with it: a batch Kafka
// refuses for its content is sent again one record at a time.
var ErrRejected = errors.New("kafka rejected the record")

// errRecord marks a produce answer that names the records it refused.
var errRecord = errors.New("records refused")

// rejects are the produce error codes that refuse a record batch for its
// content rather than for the state of the cluster.
func rejects(err error) bool {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke {
	case kafka.MessageSizeTooLarge, kafka.InvalidRecord, kafka.InvalidTimestamp, kafka.UnsupportedForMessageFormat:
		return true
	}
	return false
}

// Producer sends records with acks from all in-sync replicas. Calls from many
// goroutines share produce requests (group commit): each broker has one
// request in flight, and every record that arrives meanwhile, for any
// partition of any topic that broker leads, rides in the next one: one
// write, one answer and one wake-up for many callers' records. A
// partition never has two requests in flight, which keeps its records in
// order. Nothing waits for a linger timer: a lone record goes out at once,
// and a busy producer sends batches as large as the broker's round trip
// lets them grow. A request the broker takes longer than MaxHold to answer
// (a partition waiting for a slow replica) no longer holds up the other
// partitions: they leave in a request of their own.
type Producer struct {
	client   *kafka.Client
	balancer kafka.Murmur2Balancer
	timeout  time.Duration
	maxBatch int
	maxBytes int
	maxHold  time.Duration

	mu     sync.Mutex
	topics map[string]*topicMeta
	queues map[topicPartition]*queue
	// ready are the partitions with records to send and no request in flight.
	ready []*queue
	// brokers are the requests in flight to each broker, by id.
	brokers map[int]*broker

	// spawned counts the requests sent from a goroutine of their own
	// rather than by a caller of Produce (tests).
	spawned atomic.Int64

	latency *prometheus.HistogramVec
	errs    *prometheus.CounterVec
	batch   prometheus.Histogram
}

type topicPartition struct {
	topic     string
	partition int
}

// topicMeta is what the producer knows of a topic: its partitions and the
// broker leading each.
type topicMeta struct {
	parts   []int
	leaders []int
}

// call is one Produce call: it returns once none of its records is held by
// the producer any more (each acknowledged, failed or withdrawn).
type call struct {
	left int
	err  error
	done chan struct{}
	tps  []topicPartition
	// few holds tps for a call of up to callFew records (a webhook's raw
	// and inbound records): the call is one allocation.
	few [callFew]topicPartition
}

// callFew is how many records a call holds without allocating more than
// itself (and its channel) for them.
const callFew = 4

// pending is a record waiting in a queue. Its kafka.Record is made for
// each request that carries it: kafka-go consumes the key and value
// readers of a record it writes.
type pending struct {
	at         time.Time
	key, value []byte
	headers    []kafka.Header
	size       int // of the key, value and headers
	call       *call
}

type queue struct {
	tp      topicPartition
	leader  int
	busy    bool // a request of this partition is in flight
	queued  bool // in Producer.ready
	pending []pending
}

// partBatch is what one request carries for one partition.
type partBatch struct {
	q      *queue
	leader int // the broker the request goes to
	items  []pending
}

// broker is what the producer knows of the requests in flight to one
// broker.
type broker struct {
	inflight int
	last     time.Time // when the youngest request in flight left
	armed    bool      // a timer sends the held partitions at last+maxHold
}

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	Brokers []string
	Timeout time.Duration // one produce request, default 5s
	// MaxBatch caps the records of one partition in one produce request,
	// default 2000.
	MaxBatch int
	// MaxBatchBytes caps the keys, values and headers of one partition's
	// records in one produce request (a larger record goes alone), default
	// 512 KiB: well under Kafka's default max.message.bytes, so batching
	// never makes a batch of acceptable records too large.
	MaxBatchBytes int
	// MaxHold is how long records wait for a broker's request in flight
	// before they leave in a request of their own, default 10ms: far above
	// a healthy round trip, so it only bounds what a stuck partition
	// costs the others.
	MaxHold time.Duration
}

// NewProducer returns a producer for the given brokers.
func NewProducer(cfg ProducerConfig, reg prometheus.Registerer) *Producer {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2000
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = 512 << 10
	}
	if cfg.MaxHold <= 0 {
		cfg.MaxHold = 10 * time.Millisecond
	}
	p := &Producer{
		client:   NewClient(cfg.Brokers, cfg.Timeout),
		timeout:  cfg.Timeout,
		maxBatch: cfg.MaxBatch,
		maxBytes: cfg.MaxBatchBytes,
		maxHold:  cfg.MaxHold,
		topics:   map[string]*topicMeta{},
		queues:   map[topicPartition]*queue{},
		brokers:  map[int]*broker{},
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
			// kafka-go does not read the cluster again after a failed
			// read until this has passed: short, so a broker that comes up
			// (or moves) is used within seconds.
			MetadataTTL: 5 * time.Second,
		},
	}
}

// Client returns the underlying kafka-go client.
func (p *Producer) Client() *kafka.Client { return p.client }

// Produce sends the records and returns once every one is acknowledged, or
// with the first error. Records with the same topic and partition keep
// their order. Produce never returns while the producer still holds one of
// recs (when ctx ends, the records not yet sent are withdrawn and a request
// in flight is waited for, at most the request timeout), so the caller may
// reuse their memory as soon as it returns.
func (p *Producer) Produce(ctx context.Context, recs ...Record) error {
	if len(recs) == 0 {
		return nil
	}
	at := time.Now()
	c := &call{left: len(recs), done: make(chan struct{})}
	// items and leaders are copied into the queues under the lock: on the
	// stack for a call of a few records.
	var itemsFew [callFew]pending
	var leadersFew [callFew]int
	items, leaders := itemsFew[:], leadersFew[:]
	c.tps = c.few[:]
	if len(recs) > callFew {
		items, leaders, c.tps = make([]pending, len(recs)), make([]int, len(recs)), make([]topicPartition, len(recs))
	}
	items, leaders, c.tps = items[:len(recs)], leaders[:len(recs)], c.tps[:len(recs)]
	for i, r := range recs {
		tm, err := p.meta(ctx, r.Topic)
		if err != nil {
			return err
		}
		part := r.Partition
		if !r.PartitionSet {
			part = p.balancer.Balance(kafka.Message{Key: r.Key}, tm.parts...)
		}
		if part < 0 || part >= len(tm.leaders) {
			return fmt.Errorf("%w: %s has no partition %d", ErrUnavailable, r.Topic, part)
		}
		size := len(r.Key) + len(r.Value)
		for _, h := range r.Headers {
			size += len(h.Key) + len(h.Value)
		}
		items[i] = pending{
			at: at, key: r.Key, value: r.Value, headers: r.Headers,
			size: size,
			call: c,
		}
		c.tps[i] = topicPartition{r.Topic, part}
		leaders[i] = tm.leaders[part]
	}
	p.mu.Lock()
	for i, tp := range c.tps {
		q := p.queue(tp, leaders[i])
		q.pending = append(q.pending, items[i])
		if !q.busy && !q.queued {
			q.queued = true
			p.ready = append(p.ready, q)
		}
	}
	batches := p.take()
	p.mu.Unlock()
	if i := carrying(batches, c); i >= 0 {
		// The caller would only wait for this request: it sends it itself
		// (no goroutine to start and wake, no hand-off back), and hands
		// the others, and whatever became ready meanwhile, to goroutines
		// of their own.
		mine := batches[i]
		batches[i] = batches[len(batches)-1]
		p.spawn(batches[:len(batches)-1])
		p.spawn(p.exchange(mine))
	} else {
		p.spawn(batches)
	}

	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
	}
	p.withdraw(c, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err()))
	<-c.done
	return c.err
}

// carrying returns the index of a request that carries records of c, or
// -1. A call's records of a partition are the end of its queue when the
// requests are cut, so a request carries some of them only if its last
// record of that partition is one.
func carrying(batches [][]partBatch, c *call) int {
	for i, b := range batches {
		for _, pb := range b {
			if pb.items[len(pb.items)-1].call == c {
				return i
			}
		}
	}
	return -1
}

// queue returns the queue of a partition, made on first use. Called with
// p.mu held.
func (p *Producer) queue(tp topicPartition, leader int) *queue {
	q := p.queues[tp]
	if q == nil {
		q = &queue{tp: tp}
		p.queues[tp] = q
	}
	q.leader = leader
	return q
}

// withdraw takes the records of c that no request carries yet out of the
// queues; c is done once those in flight are answered.
func (p *Producer) withdraw(c *call, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tp := range c.tps {
		q := p.queues[tp]
		if q == nil {
			continue
		}
		kept := q.pending[:0]
		for _, pe := range q.pending {
			if pe.call == c {
				p.settle(c, err)
				continue
			}
			kept = append(kept, pe)
		}
		clear(q.pending[len(kept):])
		q.pending = kept
	}
}

// settle marks one record of c as no longer held. Called with p.mu held.
func (p *Producer) settle(c *call, err error) {
	if err != nil && c.err == nil {
		c.err = err
	}
	c.left--
	if c.left == 0 {
		close(c.done)
	}
}

// take makes the requests for the ready partitions, one per leading broker
// that has no request in flight (or only ones older than maxHold), and
// marks their partitions busy. The partitions of a busy broker stay ready:
// the request in flight takes them when it is answered. Called with p.mu
// held.
func (p *Producer) take() [][]partBatch {
	if len(p.ready) == 0 {
		return nil
	}
	now := time.Now()
	var out [][]partBatch
	byLeader := map[int]int{} // index in out, -1 while the broker is busy
	held := p.ready[:0]
	for _, q := range p.ready {
		if q.busy || len(q.pending) == 0 {
			q.queued = false
			continue
		}
		i, ok := byLeader[q.leader]
		if !ok {
			i = -1
			if p.free(q.leader, now) {
				i = len(out)
				out = append(out, nil)
			}
			byLeader[q.leader] = i
		}
		if i < 0 {
			held = append(held, q)
			continue
		}
		q.queued = false
		out[i] = append(out[i], partBatch{q: q, leader: q.leader, items: p.cut(q)})
	}
	clear(p.ready[len(held):])
	p.ready = held
	return out
}

// free reports whether a request to a broker may leave now, and if so
// counts it in flight. A broker whose youngest request in flight left less
// than maxHold ago is busy; a timer then sends what waits at the end of
// the hold, should that request still be unanswered. Called with p.mu
// held.
func (p *Producer) free(leader int, now time.Time) bool {
	b := p.brokers[leader]
	if b == nil {
		b = &broker{}
		p.brokers[leader] = b
	}
	if b.inflight > 0 {
		wait := p.maxHold - now.Sub(b.last)
		if wait > 0 {
			if !b.armed {
				b.armed = true
				time.AfterFunc(wait, func() { p.release(leader) })
			}
			return false
		}
	}
	b.inflight++
	b.last = now
	return true
}

// release ends a broker's hold: what waited for its request in flight
// leaves now.
func (p *Producer) release(leader int) {
	p.mu.Lock()
	p.brokers[leader].armed = false
	batches := p.take()
	p.mu.Unlock()
	p.spawn(batches)
}

// spawn sends each request in a goroutine of its own.
func (p *Producer) spawn(batches [][]partBatch) {
	for _, b := range batches {
		p.spawned.Add(1)
		go p.run(b)
	}
}

// cut takes a partition's next batch out of its queue and marks the
// partition busy. Called with p.mu held.
func (p *Producer) cut(q *queue) []pending {
	n, size := 0, 0
	for n < min(len(q.pending), p.maxBatch) {
		size += q.pending[n].size
		if n > 0 && size > p.maxBytes {
			break
		}
		n++
	}
	items := make([]pending, n)
	copy(items, q.pending)
	rest := copy(q.pending, q.pending[n:])
	clear(q.pending[rest:])
	q.pending = q.pending[:rest]
	q.busy = true
	return items
}

// run sends a request, answers its callers, and goes on with what became
// ready meanwhile: the first of the next requests in this goroutine, the
// others in their own.
func (p *Producer) run(b []partBatch) {
	for b != nil {
		next := p.exchange(b)
		b = nil
		if len(next) > 0 {
			b = next[0]
			p.spawn(next[1:])
		}
	}
}

// exchange sends a request, answers its callers and returns the requests
// that became ready meanwhile (marked in flight: the caller must send
// them).
func (p *Producer) exchange(b []partBatch) [][]partBatch {
	errs := p.send(b)
	var alone [][]error
	for i, pb := range b {
		if errors.Is(errs[i], ErrRejected) && len(pb.items) > 1 {
			// The partition is still busy: its order holds.
			if alone == nil {
				alone = make([][]error, len(b))
			}
			alone[i] = p.sendAlone(pb)
		}
	}
	p.mu.Lock()
	p.brokers[b[0].leader].inflight--
	for i, pb := range b {
		for j, pe := range pb.items {
			if alone != nil && alone[i] != nil {
				p.settle(pe.call, alone[i][j])
			} else {
				p.settle(pe.call, errs[i])
			}
		}
		pb.q.busy = false
		if len(pb.q.pending) > 0 && !pb.q.queued {
			pb.q.queued = true
			p.ready = append(p.ready, pb.q)
		}
	}
	next := p.take()
	p.mu.Unlock()
	return next
}

// sendAlone sends the records of a batch Kafka refused one per request, in
// order, and returns each one's outcome.
func (p *Producer) sendAlone(pb partBatch) []error {
	errs := make([]error, len(pb.items))
	for j := range pb.items {
		errs[j] = p.send([]partBatch{{q: pb.q, leader: pb.leader, items: pb.items[j : j+1]}})[0]
	}
	return errs
}

// recordBytes reads a record's key or value for kafka-go (kafka.NewBytes,
// but the readers of a batch are allocated together).
type recordBytes struct{ bytes.Reader }

// Close does nothing: the bytes are the caller's.
func (*recordBytes) Close() error { return nil }

// of returns r reading b, or nil (a null key or value) when b is nil.
func (r *recordBytes) of(b []byte) kafka.Bytes {
	if b == nil {
		return nil
	}
	r.Reset(b)
	return r
}

// send writes one produce request carrying every partition of b and
// returns each partition's outcome.
func (p *Producer) send(b []partBatch) []error {
	req := &produce.Request{Acks: int16(kafka.RequireAll), Timeout: int32(p.timeout / time.Millisecond)}
	topicIndex := map[string]int{}
	records := 0
	for _, pb := range b {
		recs := make([]kafka.Record, len(pb.items))
		readers := make([]recordBytes, 2*len(pb.items))
		for i, pe := range pb.items {
			recs[i] = kafka.Record{Time: pe.at, Key: readers[2*i].of(pe.key), Value: readers[2*i+1].of(pe.value), Headers: pe.headers}
		}
		records += len(recs)
		i, ok := topicIndex[pb.q.tp.topic]
		if !ok {
			i = len(req.Topics)
			topicIndex[pb.q.tp.topic] = i
			req.Topics = append(req.Topics, produce.RequestTopic{Topic: pb.q.tp.topic})
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, produce.RequestPartition{
			Partition: int32(pb.q.tp.partition),
			RecordSet: protocol.RecordSet{Records: kafka.NewRecordReader(recs...)},
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	start := time.Now()
	msg, err := p.client.Transport.RoundTrip(ctx, p.client.Addr, req)
	errs := make([]error, len(b))
	if err == nil {
		res, ok := msg.(*produce.Response)
		if !ok {
			err = fmt.Errorf("unexpected response %T", msg)
		} else {
			got := map[topicPartition]error{}
			answered := map[topicPartition]bool{}
			for _, t := range res.Topics {
				for _, pr := range t.Partitions {
					tp := topicPartition{t.Topic, int(pr.Partition)}
					answered[tp] = true
					if pr.ErrorCode != 0 {
						got[tp] = kafka.Error(pr.ErrorCode)
					}
					if len(pr.RecordErrors) > 0 {
						got[tp] = fmt.Errorf("%w: %v: %s", errRecord, got[tp], pr.RecordErrors[0].BatchIndexErrorMessage)
					}
				}
			}
			for i, pb := range b {
				if e := got[pb.q.tp]; e != nil {
					errs[i] = e
				} else if !answered[pb.q.tp] {
					errs[i] = errors.New("no answer for the partition")
				}
			}
		}
	}
	elapsed := time.Since(start).Seconds()
	seen := map[string]bool{}
	for i, pb := range b {
		e := errs[i]
		if err != nil {
			e = err
		}
		tp := pb.q.tp
		if e != nil && err == nil && (rejects(e) || errors.Is(e, errRecord)) {
			errs[i] = fmt.Errorf("%w: produce to %s/%d: %v", ErrRejected, tp.topic, tp.partition, e)
			p.errs.WithLabelValues(tp.topic).Inc()
		} else if e != nil {
			errs[i] = fmt.Errorf("%w: produce to %s/%d: %v", ErrUnavailable, tp.topic, tp.partition, e)
			if !seen[tp.topic] {
				p.errs.WithLabelValues(tp.topic).Inc()
				p.forget(tp.topic)
			}
		} else if !seen[tp.topic] {
			p.latency.WithLabelValues(tp.topic).Observe(elapsed)
		}
		seen[tp.topic] = true
	}
	p.batch.Observe(float64(records))
	return errs
}

// meta returns a topic's partitions and their leaders, read once and
// again after a failure.
func (p *Producer) meta(ctx context.Context, topic string) (*topicMeta, error) {
	p.mu.Lock()
	tm, ok := p.topics[topic]
	p.mu.Unlock()
	if ok {
		return tm, nil
	}
	leaders, err := partitionLeaders(ctx, p.client, topic)
	if err != nil {
		return nil, err
	}
	tm = &topicMeta{parts: make([]int, len(leaders)), leaders: leaders}
	for i := range tm.parts {
		tm.parts[i] = i
	}
	p.mu.Lock()
	p.topics[topic] = tm
	p.mu.Unlock()
	return tm, nil
}

// forget drops the cached partition list of a topic so that the next produce
// reads it again (partitions may have been added, or the broker replaced).
func (p *Producer) forget(topic string) {
	p.mu.Lock()
	delete(p.topics, topic)
	p.mu.Unlock()
}

// PartitionCount returns the number of partitions of a topic.
func PartitionCount(ctx context.Context, c *kafka.Client, topic string) (int, error) {
	leaders, err := partitionLeaders(ctx, c, topic)
	return len(leaders), err
}

// partitionLeaders returns, for each partition of a topic by number, the id
// of the broker leading it.
func partitionLeaders(ctx context.Context, c *kafka.Client, topic string) ([]int, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("%w: metadata for %s: %v", ErrUnavailable, topic, err)
	}
	for _, t := range md.Topics {
		if t.Name == topic {
			if t.Error != nil {
				return nil, fmt.Errorf("%w: metadata for %s: %v", ErrUnavailable, topic, t.Error)
			}
			if len(t.Partitions) == 0 {
				break
			}
			leaders := make([]int, len(t.Partitions))
			for _, pt := range t.Partitions {
				if pt.ID < 0 || pt.ID >= len(leaders) {
					return nil, fmt.Errorf("%w: metadata for %s: partition %d of %d", ErrUnavailable, topic, pt.ID, len(leaders))
				}
				leaders[pt.ID] = pt.Leader.ID
			}
			return leaders, nil
		}
	}
	return nil, fmt.Errorf("%w: topic %s has no partitions", ErrUnavailable, topic)
}

// Ping reports whether a broker answers (ApiVersions: never served from the
// client's metadata cache).
func Ping(ctx context.Context, c *kafka.Client) error {
	if _, err := c.ApiVersions(ctx, &kafka.ApiVersionsRequest{}); err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return nil
}
