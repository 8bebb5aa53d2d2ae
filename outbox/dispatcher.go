package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/retry"
)

// Queue is the port through which the dispatcher works the dispatch queue
// (core.DispatchQueue, which records each outcome in one transaction with
// the events and conversation changes it makes).
type Queue interface {
	// Claim leases due replies to this dispatcher.
	Claim(ctx context.Context, lease time.Duration, limit int) ([]core.DispatchJob, error)
	// SentAlready reports whether the provider already has a reply whose
	// dispatcher died, and under which id.
	SentAlready(ctx context.Context, j core.DispatchJob) (provider, providerMessageID string, ok bool, err error)
	MarkSent(ctx context.Context, j core.DispatchJob, provider, providerMessageID string) error
	MarkSentBatch(ctx context.Context, sent []core.Sent) error
	RetryLater(ctx context.Context, j core.DispatchJob, at time.Time, derr core.DeliveryError) error
	MarkFailed(ctx context.Context, j core.DispatchJob, derr core.DeliveryError) error
	Parts
}

// Parts records the sends of a reply split into several (Splitter).
type Parts interface {
	// SentParts returns the parts of a reply the provider took.
	SentParts(ctx context.Context, messageID string) ([]core.MessagePart, error)
	// MarkPartSent records that the provider took part of parts, under its
	// id; the last one completes the reply.
	MarkPartSent(ctx context.Context, j core.DispatchJob, part, parts int, provider, providerMessageID string) error
}

var _ Queue = (*core.DispatchQueue)(nil)

// Config tunes the dispatcher.
type Config struct {
	// Workers is how many sends run at once, across conversations (default 64).
	Workers int
	// Lease is how long a claimed row is held before another dispatcher may
	// take it, longer than SendTimeout (default 60s).
	Lease time.Duration
	// SendTimeout bounds one provider request (default 30s).
	SendTimeout time.Duration
	// MaxAttempts fails a reply after this many tries (default 8,
	// GATEWAY_OUTBOX_MAX_ATTEMPTS).
	MaxAttempts int
	// MaxAge fails a reply that keeps failing temporarily once its next try
	// would come later than this after it was queued or retried (default
	// 24h, GATEWAY_OUTBOX_MAX_AGE).
	MaxAge time.Duration
	// BaseBackoff and MaxBackoff bound the exponential backoff (1s, 10m).
	BaseBackoff, MaxBackoff time.Duration
	// Poll is how often the table is checked without a wake-up (default 500ms).
	Poll time.Duration
	// RatePerSecond limits sends per channel and sender address; a channel
	// absent from the map is not limited.
	RatePerSecond map[string]float64
}

func (c *Config) defaults() {
	if c.Workers <= 0 {
		c.Workers = 64
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 30 * time.Second
	}
	if c.Lease <= c.SendTimeout {
		c.Lease = 2 * c.SendTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Minute
	}
	if c.Poll <= 0 {
		c.Poll = 500 * time.Millisecond
	}
}

// Dispatcher sends queued replies: for each conversation the oldest unsent
// one, many conversations at once, each through its provider's Sender.
type Dispatcher struct {
	q       Queue
	senders map[string]Sender
	cfg     Config
	log     *slog.Logger
	m       *metrics

	wake     chan struct{}
	sent     chan core.Sent
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// New returns a dispatcher; senders are keyed by provider name (twilio,
// sendgrid, meta_whatsapp, meta_messenger, meta_instagram, webchat).
func New(q Queue, senders map[string]Sender, cfg Config, log *slog.Logger, reg prometheus.Registerer) *Dispatcher {
	cfg.defaults()
	return &Dispatcher{q: q, senders: senders, cfg: cfg, log: log, m: newMetrics(reg),
		wake: make(chan struct{}, 1), sent: make(chan core.Sent, cfg.Workers), limiters: map[string]*rate.Limiter{}}
}

// Wake tells the dispatcher there may be work. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run dispatches until ctx ends, then waits for the sends under way and
// records them. Sends and database writes under way finish after ctx ends;
// the waits between retries do not.
//
// Workers take replies from a queue of claimed ones that the loop keeps
// filled ahead of them (up to half as many as there are workers), so a
// worker that finishes a send starts the next at once instead of waiting
// for a claim; the loop claims in batches of a quarter of the workers.
func (d *Dispatcher) Run(ctx context.Context) {
	recorded := make(chan struct{})
	go func() { d.recordSent(ctx); close(recorded) }()
	defer func() { close(d.sent); <-recorded }()
	ready := make(chan claimed, max(1, d.cfg.Workers/2))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(ready)
	for range d.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range ready {
				d.take(ctx, c)
			}
		}()
	}
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	// While replies wait (the last claim filled the queue), a claim waits
	// for a quarter of the workers' worth of room: one transaction then
	// leases many rows instead of one per finished send.
	backlog, least := false, max(1, d.cfg.Workers/4)
	for ctx.Err() == nil {
		room := cap(ready) - len(ready)
		var jobs []core.DispatchJob
		if room > 0 && (!backlog || room >= least) {
			var err error
			at := time.Now()
			jobs, err = d.q.Claim(ctx, d.cfg.Lease, room)
			if err != nil && ctx.Err() == nil {
				d.log.Warn("outbox: claim", "error", err)
			}
			backlog = len(jobs) == room
			for _, j := range jobs {
				ready <- claimed{job: j, at: at}
			}
		}
		if backlog && cap(ready)-len(ready) >= least {
			continue
		}
		select {
		case <-ctx.Done():
		case <-d.wake:
		case <-t.C:
		}
	}
}

// claimed is a reply leased to this dispatcher at a time.
type claimed struct {
	job core.DispatchJob
	at  time.Time
}

// take processes a claimed reply unless shutting down, or unless its lease
// could run out before its send ends: another dispatcher may then take it,
// as a resend, once the lease has run out.
func (d *Dispatcher) take(ctx context.Context, c claimed) {
	if ctx.Err() != nil {
		return // shutting down: the lease runs out and the row is sent later
	}
	if time.Since(c.at)+d.cfg.SendTimeout >= d.cfg.Lease {
		d.log.Warn("outbox: a claimed reply waited too long for a worker; it is sent once its lease runs out", "message_id", c.job.MessageID)
		return
	}
	d.process(ctx, c.job)
	d.Wake() // the conversation's next reply may be due now
}

// process sends one reply and records the outcome; the one switch that
// decides what a send's outcome means. The send and the writes run to the
// end after ctx ends (work); only waits end with ctx.
func (d *Dispatcher) process(ctx context.Context, j core.DispatchJob) {
	work := context.WithoutCancel(ctx)
	ob, err := core.DecodeOutbound(j)
	if err != nil {
		d.fail(ctx, j, "invalid", core.DeliveryError{Code: "send_failed", Message: err.Error()})
		return
	}
	sender, ok := d.senders[ob.Provider]
	if !ok {
		d.fail(ctx, j, ob.Channel, core.DeliveryError{Code: core.ECHANNELUNAVAILABLE, Message: "the sender of provider " + ob.Provider + " is off"})
		return
	}
	if sp, ok := sender.(Splitter); ok {
		if parts := sp.Split(ob); len(parts) > 1 {
			d.processParts(ctx, j, sender, ob, parts)
			return
		}
	}
	if j.Resend {
		// Its dispatcher died after claiming it: if the provider has told us
		// about the message meanwhile, it was sent; record it, do not send again.
		if provider, id, ok, err := d.q.SentAlready(work, j); err == nil && ok {
			d.log.Info("outbox: resend avoided, the provider already has the message", "message_id", j.MessageID, "channel", ob.Channel)
			d.record(ctx, "mark sent", func() error { return d.q.MarkSent(work, j, provider, id) })
			return
		}
	}
	if err := d.limiter(ob.Channel, ob.From.Address).Wait(ctx); err != nil {
		return // shutting down: the lease runs out and the row is sent later
	}
	res, err := d.send(work, sender, ob)
	if err != nil {
		d.retryOrFail(ctx, j, ob.Channel, -1, err)
		return
	}
	d.m.attempts.WithLabelValues(ob.Channel, "sent").Inc()
	d.sent <- core.Sent{Job: j, Provider: ob.Provider, ProviderMessageID: res.ProviderMessageID}
}

// retryOrFail is the one place that decides what a failed send means: a
// permanent error fails the reply for good at once; a temporary one fails
// it after its last attempt (max_attempts) or when the next would come
// past its max age (max_age), and otherwise it waits its backoff. part is
// the part of a split reply that failed, -1 for a whole one.
func (d *Dispatcher) retryOrFail(ctx context.Context, j core.DispatchJob, channel string, part int, err error) {
	derr := DeliveryErrorOf(err)
	at := time.Now().Add(d.backoff(j.Attempts, err))
	since := j.QueuedAt
	if since.IsZero() {
		since = j.CreatedAt
	}
	switch {
	case errors.Is(err, ErrPermanent):
	case j.Attempts+1 >= d.cfg.MaxAttempts:
		derr.Code, derr.Message = "max_attempts", fmt.Sprintf("%d attempts failed; the last: %s", j.Attempts+1, derr.Message)
	case !since.IsZero() && at.Sub(since) > d.cfg.MaxAge:
		derr.Code, derr.Message = "max_age", fmt.Sprintf("not sent within %s (GATEWAY_OUTBOX_MAX_AGE); the last error: %s", d.cfg.MaxAge, derr.Message)
	default:
		d.m.attempts.WithLabelValues(channel, "retry").Inc()
		d.log.Info("outbox: send will be retried", "message_id", j.MessageID, "channel", channel, "part", part,
			"attempt", j.Attempts+1, "at", at, "code", derr.Code, "error", err)
		work := context.WithoutCancel(ctx)
		d.record(ctx, "retry later", func() error { return d.q.RetryLater(work, j, at, derr) })
		return
	}
	d.fail(ctx, j, channel, derr)
}

// processParts sends a reply its channel carries only as several provider
// messages, in order, recording each part as the provider takes it: a
// retry, or another dispatcher after this one died, sends only the parts
// not recorded. A part that fails for good fails the reply, and the parts
// after it are not sent. Parts stop before the row's lease could run out;
// the rest go on the next turn.
func (d *Dispatcher) processParts(ctx context.Context, j core.DispatchJob, sender Sender, ob Send, parts []Send) {
	work := context.WithoutCancel(ctx)
	start := time.Now()
	done, err := d.q.SentParts(work, j.MessageID)
	if err != nil {
		at := time.Now().Add(d.backoff(j.Attempts, err))
		derr := core.DeliveryError{Code: "internal", Message: "the sent parts could not be read"}
		d.record(ctx, "retry later", func() error { return d.q.RetryLater(work, j, at, derr) })
		return
	}
	recorded := map[int]core.MessagePart{}
	for _, p := range done {
		recorded[p.Part] = p
	}
	last := len(parts) - 1
	for k, part := range parts {
		if p, ok := recorded[k]; ok {
			if k == last { // every part was taken, the reply's completion was not recorded
				d.record(ctx, "mark sent", func() error { return d.q.MarkPartSent(work, j, k, len(parts), p.Provider, p.ProviderMessageID) })
			}
			continue
		}
		if k > 0 && time.Since(start)+d.cfg.SendTimeout >= d.cfg.Lease {
			derr := core.DeliveryError{Code: "parts_pending", Message: "the lease ended before every part was sent; the rest follow"}
			d.record(ctx, "retry later", func() error { return d.q.RetryLater(work, j, time.Now(), derr) })
			return
		}
		part.MessageID = core.PartID(j.MessageID, k)
		if err := d.limiter(ob.Channel, ob.From.Address).Wait(ctx); err != nil {
			return // shutting down: the lease runs out and the rest is sent later
		}
		res, err := d.send(work, sender, part)
		if err != nil {
			d.retryOrFail(ctx, j, ob.Channel, k, err)
			return
		}
		d.m.attempts.WithLabelValues(ob.Channel, "sent").Inc()
		if d.record(ctx, "mark part sent", func() error {
			return d.q.MarkPartSent(work, j, k, len(parts), ob.Provider, res.ProviderMessageID)
		}) != nil {
			return // not recorded: the next part waits, or it could be sent before this one is known
		}
	}
}

// send makes one provider request within SendTimeout.
func (d *Dispatcher) send(work context.Context, sender Sender, s Send) (Result, error) {
	sctx, cancel := context.WithTimeout(work, d.cfg.SendTimeout)
	defer cancel()
	start := time.Now()
	res, err := sender.Send(sctx, s)
	d.m.latency.WithLabelValues(s.Channel).Observe(time.Since(start).Seconds())
	return res, err
}

func (d *Dispatcher) fail(ctx context.Context, j core.DispatchJob, channel string, derr core.DeliveryError) {
	d.m.attempts.WithLabelValues(channel, "failed").Inc()
	d.m.dead.WithLabelValues(channel).Inc()
	d.log.Warn("outbox: send failed", "message_id", j.MessageID, "channel", channel, "code", derr.Code, "provider_code", derr.ProviderCode)
	work := context.WithoutCancel(ctx)
	d.record(ctx, "mark failed", func() error { return d.q.MarkFailed(work, j, derr) })
}

// recordSent writes accepted sends in groups, one transaction for all that
// are waiting, so that the database commit is not paid per message. It
// runs until d.sent is closed, after ctx ended.
func (d *Dispatcher) recordSent(ctx context.Context) {
	work := context.WithoutCancel(ctx)
	for first := range d.sent {
		batch := d.gather(first)
		if err := d.q.MarkSentBatch(work, batch); err != nil {
			// One at a time, so one bad row cannot hold back the others.
			for _, x := range batch {
				d.record(ctx, "mark sent", func() error { return d.q.MarkSent(work, x.Job, x.Provider, x.ProviderMessageID) })
			}
		}
		d.Wake() // the conversations' next replies are due now
	}
}

// gather returns first and the accepted sends that follow it: all that
// are waiting and, while fewer than a quarter of the workers' are, those
// that come within recordLinger (the worker does not wait for it: d.sent
// holds a send of every worker).
func (d *Dispatcher) gather(first core.Sent) []core.Sent {
	batch := []core.Sent{first}
	least := max(1, d.cfg.Workers/4)
	linger := time.NewTimer(recordLinger)
	defer linger.Stop()
	for len(batch) < 200 {
		var x core.Sent
		ok := true
		select {
		case x, ok = <-d.sent:
		default:
			if len(batch) >= least {
				return batch
			}
			select {
			case x, ok = <-d.sent:
			case <-linger.C:
				return batch
			}
		}
		if !ok {
			return batch
		}
		batch = append(batch, x)
	}
	return batch
}

// recordLinger is how long the record of an accepted send waits for others
// to share its transaction.
const recordLinger = 5 * time.Millisecond

// recordPolicy tries a database update nine times over up to 25 seconds:
// a send the provider took must be recorded, or the row is sent again once
// its lease runs out. Shutdown ends the waits (the row's lease then runs
// out and SentAlready keeps the provider from getting it twice where it
// reports the gateway's id).
var recordPolicy = retry.Policy{Base: 100 * time.Millisecond, Max: 12800 * time.Millisecond, Attempts: 9}

// record runs fn, an update that does not take ctx, retrying with waits
// that end with ctx.
func (d *Dispatcher) record(ctx context.Context, what string, fn func() error) error {
	err := retry.Do(ctx, recordPolicy, fn)
	if err != nil {
		d.log.Error("outbox: could not record the outcome of a send", "what", what, "error", err)
	}
	return err
}

// backoff is exponential with jitter, at least the provider's Retry-After.
func (d *Dispatcher) backoff(attempts int, err error) time.Duration {
	return retry.Policy{Base: d.cfg.BaseBackoff, Max: d.cfg.MaxBackoff}.Backoff(attempts, err)
}

func (d *Dispatcher) limiter(channel, sender string) *rate.Limiter {
	perSec, ok := d.cfg.RatePerSecond[channel]
	if !ok || perSec <= 0 {
		return unlimited
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	key := channel + "|" + sender
	l := d.limiters[key]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(perSec), max(1, int(perSec)))
		d.limiters[key] = l
	}
	return l
}

var unlimited = rate.NewLimiter(rate.Inf, 0)

type metrics struct {
	attempts *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	dead     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "outbox", Name: "attempts_total",
			Help: "Send attempts by channel and outcome: sent, retry, failed.",
		}, []string{"channel", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "gateway", Subsystem: "outbox", Name: "send_seconds",
			Help:    "Provider send request duration.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"channel"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "gateway", Subsystem: "outbox", Name: "dead_letters_total",
			Help: "Replies that failed for good and went to dlq.v1.",
		}, []string{"channel"}),
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.latency, m.dead)
	}
	return m
}
