package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/config"
	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/normalize"
)

// replayUsage is the synopsis of `gateway replay`.
const replayUsage = "usage: gateway replay --from RFC3339 --to RFC3339 [--route /webhooks/...] [--dry-run] [--late 1h]"

// replayOptions are the flags of `gateway replay`.
type replayOptions struct {
	from, to time.Time
	// route is the route name (twilio_messaging) --route names by its path.
	route  string
	dryRun bool
	// late is how long after --to a request received in the range may have
	// reached Kafka (the spool keeps webhooks while Kafka is down).
	late time.Duration
}

func parseReplayArgs(args []string) (replayOptions, string, error) {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "start of the range (RFC 3339), included")
	to := fs.String("to", "", "end of the range (RFC 3339), excluded")
	route := fs.String("route", "", "only the requests of this webhook path")
	dry := fs.Bool("dry-run", false, "publish nothing; report what would change")
	late := fs.Duration("late", time.Hour, "how long after --to a request of the range may have reached Kafka")
	if err := fs.Parse(args); err != nil {
		return replayOptions{}, "", fmt.Errorf("replay: %v\n%s", err, replayUsage)
	}
	if fs.NArg() > 0 {
		return replayOptions{}, "", fmt.Errorf("replay: unexpected argument %q\n%s", fs.Arg(0), replayUsage)
	}
	o := replayOptions{dryRun: *dry, late: *late}
	var err error
	if o.from, err = time.Parse(time.RFC3339Nano, *from); err != nil {
		return o, "", fmt.Errorf("replay: --from %q is not an RFC 3339 time\n%s", *from, replayUsage)
	}
	if o.to, err = time.Parse(time.RFC3339Nano, *to); err != nil {
		return o, "", fmt.Errorf("replay: --to %q is not an RFC 3339 time\n%s", *to, replayUsage)
	}
	if !o.from.Before(o.to) {
		return o, "", errors.New("replay: --from must be before --to")
	}
	if o.late < 0 {
		return o, "", errors.New("replay: --late must not be negative")
	}
	return o, *route, nil
}

// replayRaw re-derives inbound.v1 from raw.v1 over a time range with
// today's parsers: each request the gateway accepted in [--from, --to)
// goes through its route's Replay handler (the webhook's parser without
// the credential check: the request was verified when it was accepted, so
// no provider secret is needed), and the events are published to
// inbound.v1 under the keys the webhook uses. Events carry new ids; the
// core drops a message it already has by (provider, provider_message_id)
// and never moves a delivery state backwards, so running it twice changes
// nothing. --dry-run publishes nothing and compares with inbound.v1.
//
//	gateway replay --from 2026-12-01T00:00:00Z --to 2026-12-02T00:00:00Z --route /webhooks/twilio/messaging --dry-run
func replayRaw(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	opts, routePath, err := parseReplayArgs(args)
	if err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	brokers := cfg.KafkaBrokers
	if cfg.Embedded() {
		brokers = []string{cfg.EmbeddedKafkaAddr} // the running gateway's broker
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	routes, err := replayRoutes(cfg, log, opts.dryRun)
	if err != nil {
		return err
	}
	if routePath != "" {
		if opts.route, err = routeNamed(routes, routePath); err != nil {
			return err
		}
	}
	r := &replayer{opts: opts, brokers: brokers, topics: kafkabus.Topics{Prefix: cfg.TopicPrefix}, routes: routes,
		client: kafkabus.NewClient(brokers, 10*time.Second), progress: os.Stderr, lastReport: time.Now()}
	if !opts.dryRun {
		r.producer = kafkabus.NewProducer(kafkabus.ProducerConfig{Brokers: brokers}, nil)
	}
	if err := r.run(ctx); err != nil {
		return err
	}
	r.report(true)
	fmt.Fprintln(stdout, r.summary())
	return nil
}

// replayRoutes are every provider's routes by name, built from the
// configuration with the media store of the gateway (an email's
// attachments are stored again where ingest stores them; a dry run stores
// nothing).
func replayRoutes(cfg config.Config, log *slog.Logger, dryRun bool) (map[string]webhook.Route, error) {
	g := &Gateway{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	deps := connector.Deps{UserAgent: userAgent(), Media: func() connector.MediaStore {
		if dryRun {
			return nil
		}
		c, err := g.mediaCopier()
		if err != nil {
			log.Error("replay: media store", "error", err)
			return nil
		}
		return c
	}}
	routes := map[string]webhook.Route{}
	for _, newConn := range providers {
		c, err := newConn(cfg, deps)
		if err != nil {
			return nil, err
		}
		for _, rt := range c.Routes {
			routes[rt.Name] = rt
		}
	}
	return routes, nil
}

// routeNamed is the name of the route served at path.
func routeNamed(routes map[string]webhook.Route, path string) (string, error) {
	var paths []string
	for name, rt := range routes {
		if rt.Path == path {
			return name, nil
		}
		if rt.Replay != nil {
			paths = append(paths, rt.Path)
		}
	}
	sort.Strings(paths)
	return "", fmt.Errorf("replay: --route %q is no webhook route (%s)", path, strings.Join(paths, ", "))
}

// partRange is a partition's offsets [Start, End).
type partRange struct {
	Partition  int
	Start, End int64
}

// offsetRange finds, in every partition of topic, the records whose Kafka
// timestamp is in [from, until): Start is the offset of the first record
// stamped at or after from, End that of the first stamped at or after
// until, either the end of the partition (as it is now) when there is none
// or until is zero.
func offsetRange(ctx context.Context, c *kafka.Client, topic string, from, until time.Time) ([]partRange, error) {
	n, err := kafkabus.PartitionCount(ctx, c, topic)
	if err != nil {
		return nil, err
	}
	ask := func(req func(p int) kafka.OffsetRequest) (map[int]kafka.PartitionOffsets, error) {
		reqs := make([]kafka.OffsetRequest, n)
		for p := range reqs {
			reqs[p] = req(p)
		}
		res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
		if err != nil {
			return nil, fmt.Errorf("replay: offsets of %s: %w", topic, err)
		}
		out := map[int]kafka.PartitionOffsets{}
		for _, po := range res.Topics[topic] {
			if po.Error != nil {
				return nil, fmt.Errorf("replay: offsets of %s/%d: %w", topic, po.Partition, po.Error)
			}
			out[po.Partition] = po
		}
		return out, nil
	}
	ends, err := ask(kafka.LastOffsetOf)
	if err != nil {
		return nil, err
	}
	starts, err := ask(func(p int) kafka.OffsetRequest { return kafka.TimeOffsetOf(p, from) })
	if err != nil {
		return nil, err
	}
	stops := ends
	if !until.IsZero() {
		if stops, err = ask(func(p int) kafka.OffsetRequest { return kafka.TimeOffsetOf(p, until) }); err != nil {
			return nil, err
		}
	}
	out := make([]partRange, n)
	for p := range out {
		end := ends[p].LastOffset
		out[p] = partRange{Partition: p, Start: offsetAt(starts[p], end), End: offsetAt(stops[p], end)}
	}
	return out, nil
}

// offsetAt is the offset a time lookup found, or end when no record is
// stamped at or after that time (Kafka answers -1).
func offsetAt(po kafka.PartitionOffsets, end int64) int64 {
	for off := range po.Offsets {
		if off >= 0 && off < end {
			return off
		}
	}
	return end
}

// readRange calls fn with each record of the partition range, in order.
func readRange(ctx context.Context, brokers []string, topic string, pr partRange, fn func(kafka.Message) error) error {
	if pr.Start >= pr.End {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: pr.Partition,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(pr.Start); err != nil {
		return err
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("replay: read %s/%d: %w", topic, pr.Partition, err)
		}
		if m.Offset >= pr.End {
			return nil
		}
		if err := fn(m); err != nil {
			return err
		}
		if m.Offset >= pr.End-1 {
			return nil
		}
	}
}

// rawRequest rebuilds the webhook request a raw.v1 record keeps (see
// connectors' rawRecord): its route name, method, URL, arrival time,
// headers (http-<name>) and body as received.
func rawRequest(m kafka.Message) (string, *webhook.Request, error) {
	req := &webhook.Request{Body: m.Value, ReceivedAt: m.Time.UTC()}
	h := http.Header{}
	var route string
	for _, kv := range m.Headers {
		v := string(kv.Value)
		switch {
		case kv.Key == "route":
			route = v
		case kv.Key == "method":
			req.Method = v
		case kv.Key == "url":
			req.URL = v
		case kv.Key == "received_at":
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return route, nil, fmt.Errorf("received_at %q: %v", v, err)
			}
			req.ReceivedAt = at.UTC()
		case strings.HasPrefix(kv.Key, "http-"):
			k := textproto.CanonicalMIMEHeaderKey(strings.TrimPrefix(kv.Key, "http-"))
			h[k] = append(h[k], v)
		}
	}
	if route == "" || req.Method == "" {
		return route, nil, errors.New("not a webhook request (no route or method header)")
	}
	req.Header = h
	if u, err := url.Parse(req.URL); err == nil && u.RawQuery != "" {
		req.Query, _ = url.ParseQuery(u.RawQuery)
	}
	return route, req, nil
}

// replayedFrom names, on a replayed inbound.v1 record, the raw.v1 record it
// was derived from (topic/partition/offset).
const replayedFrom = "replayed_from"

// inboundRecord is an event as the webhook publishes it to inbound.v1,
// with the raw record it was derived from.
func inboundRecord(topic string, ev webhook.Event, from kafka.Message) (kafkabus.Record, error) {
	b, err := ev.Event.Encode()
	if err != nil {
		return kafkabus.Record{}, err
	}
	origin := from.Topic + "/" + strconv.Itoa(from.Partition) + "/" + strconv.FormatInt(from.Offset, 10)
	return kafkabus.Record{Topic: topic, Key: []byte(ev.Key), Value: b, Headers: []kafka.Header{
		{Key: "content-type", Value: []byte(normalize.ContentType)}, {Key: replayedFrom, Value: []byte(origin)}}}, nil
}

// replayer is one run of `gateway replay`: its options, where it reads and
// writes, and its counts.
type replayer struct {
	opts     replayOptions
	brokers  []string
	topics   kafkabus.Topics
	routes   map[string]webhook.Route
	client   *kafka.Client
	producer kafkabus.Publisher // nil on a dry run
	// held is what inbound.v1 holds from --from on (dry run only).
	held     heldEvents
	pending  []kafkabus.Record
	progress io.Writer

	lastReport                   time.Time
	read, bad, events, published int
	missing, changed             int
}

// replayBatch is how many records are published in one call.
const replayBatch = 500

func (r *replayer) run(ctx context.Context) error {
	ranges, err := offsetRange(ctx, r.client, r.topics.Raw(), r.opts.from, r.opts.to.Add(r.opts.late))
	if err != nil {
		return err
	}
	if r.producer == nil {
		if r.held, err = readHeld(ctx, r.client, r.brokers, r.topics.Inbound(), r.opts.from); err != nil {
			return err
		}
	}
	for _, pr := range ranges {
		err := readRange(ctx, r.brokers, r.topics.Raw(), pr, func(m kafka.Message) error { return r.record(ctx, m) })
		if err != nil {
			return err
		}
	}
	return r.flush(ctx)
}

// record replays one raw.v1 record: parsed with its route's Replay handler,
// its events queued for inbound.v1 (or, on a dry run, compared with what
// inbound.v1 holds). A record today's parser refuses is counted and
// reported, never fatal.
func (r *replayer) record(ctx context.Context, m kafka.Message) error {
	route, req, err := rawRequest(m)
	at := m.Time
	if err == nil {
		at = req.ReceivedAt
	}
	if at.Before(r.opts.from) || !at.Before(r.opts.to) || (r.opts.route != "" && route != r.opts.route) {
		return nil
	}
	r.read++
	defer r.report(false)
	if err != nil {
		return r.badRecord(m, route, err)
	}
	rt, ok := r.routes[route]
	if !ok || rt.Replay == nil {
		return r.badRecord(m, route, errors.New("no parser for this route"))
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	res, err := rt.Replay.Handle(pctx, req)
	cancel()
	if err != nil {
		return r.badRecord(m, route, err)
	}
	recs := make([]kafkabus.Record, 0, len(res.Events))
	for _, ev := range res.Events {
		rec, err := inboundRecord(r.topics.Inbound(), ev, m)
		if err != nil {
			return r.badRecord(m, route, err)
		}
		recs = append(recs, rec)
	}
	r.events += len(recs)
	if r.producer == nil {
		for _, rec := range recs {
			r.compare(rec.Value)
		}
		return nil
	}
	r.pending = append(r.pending, recs...)
	if len(r.pending) >= replayBatch {
		return r.flush(ctx)
	}
	return nil
}

func (r *replayer) badRecord(m kafka.Message, route string, err error) error {
	r.bad++
	fmt.Fprintf(r.progress, "replay: %s/%d/%d (route %q) not replayed: %v\n", m.Topic, m.Partition, m.Offset, route, err)
	return nil
}

// flush publishes the queued events; Kafka refusing them ends the run.
func (r *replayer) flush(ctx context.Context) error {
	if len(r.pending) == 0 || r.producer == nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := r.producer.Produce(pctx, r.pending...); err != nil {
		return fmt.Errorf("replay: publish to %s after %d events: %w", r.topics.Inbound(), r.published, err)
	}
	r.published += len(r.pending)
	r.pending = r.pending[:0]
	return nil
}

// report writes the progress to stderr every few seconds, and at the end.
func (r *replayer) report(final bool) {
	if !final && time.Since(r.lastReport) < 2*time.Second {
		return
	}
	r.lastReport = time.Now()
	if r.producer == nil {
		fmt.Fprintf(r.progress, "replay: %d records read, %d events would be published, %d bad\n", r.read, r.events, r.bad)
		return
	}
	fmt.Fprintf(r.progress, "replay: %d records read, %d events published, %d bad\n", r.read, r.published, r.bad)
}

// summary is the run's one line on stdout.
func (r *replayer) summary() string {
	if r.producer == nil {
		return fmt.Sprintf("replay --dry-run: %d records read from %s (%d bad), %d events would be published, %d differ from %s (%d missing, %d changed)",
			r.read, r.topics.Raw(), r.bad, r.events, r.missing+r.changed, r.topics.Inbound(), r.missing, r.changed)
	}
	return fmt.Sprintf("replay: %d records read from %s (%d bad), %d events published to %s",
		r.read, r.topics.Raw(), r.bad, r.published, r.topics.Inbound())
}
