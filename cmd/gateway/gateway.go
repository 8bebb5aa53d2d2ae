package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/config"
	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/connectors/connector"
	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/connectors/webchat"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/coremetrics"
	"github.com/opengateway/gateway/core/httpapi"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/kafkabus/spool"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/core/retry"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/outbox"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "0.1.0"

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "-version", "--version", "version":
			fmt.Fprintln(stdout, "gateway", version)
			return nil
		case "sign":
			return sign(args[1:], getenv, os.Stdin, stdout)
		case "replay-rejected":
			return replayRejected(ctx, args[1:], getenv, stdout)
		case "replay":
			return replayRaw(ctx, args[1:], getenv, stdout)
		case "healthcheck":
			return healthcheck(ctx, getenv, stdout)
		default:
			return fmt.Errorf("unknown argument %q: gateway takes its configuration from the environment (see README); subcommands: version, sign, replay, replay-rejected, healthcheck", args[0])
		}
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	g, err := start(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	return g.Wait(ctx)
}

// Gateway is a running gateway process.
type Gateway struct {
	cfg      config.Config
	log      *slog.Logger
	reg      *prometheus.Registry
	embedded *kafkabus.Embedded
	brokers  []string
	producer *kafkabus.Producer
	// spool holds webhook records while Kafka cannot take them (ingest,
	// GATEWAY_SPOOL on).
	spool *spool.Spool
	// topicsLater is set when Kafka did not answer at start: the topics are
	// created in the background once it does (setUpTopicsLater).
	topicsLater bool
	store       *sqlstore.Store
	service     *core.Service
	app         *fiber.App
	ln          net.Listener
	opsLn       net.Listener
	pprofLn     net.Listener
	// groups are the members of each consumer group this process runs,
	// whose lags gateway_kafka_consumer_lag adds up.
	groupsMu sync.Mutex
	groups   map[string][]*kafkabus.Consumer
	pprofSrv *http.Server
	media    *media.Copier
	chat     *webchat.Chat
	// conns are the providers' connectors, built once; mediaAtIngest is set
	// when one of them stores files that arrive inside its webhooks.
	conns         []connector.Connector
	mediaAtIngest bool

	opsApp  *fiber.App
	cancel  context.CancelFunc
	work    *workers
	closers []func() error
	once    sync.Once
}

// Addr is the HTTP listen address.
func (g *Gateway) Addr() string { return g.ln.Addr().String() }

// OpsAddr is the operations listen address, or "" when /metrics, /readyz
// and /healthz are served on Addr.
func (g *Gateway) OpsAddr() string {
	if g.opsLn == nil {
		return ""
	}
	return g.opsLn.Addr().String()
}

// start builds and starts every part the configured roles need.
func start(ctx context.Context, cfg config.Config, stdout io.Writer) (_ *Gateway, err error) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: level}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g := &Gateway{cfg: cfg, log: log, reg: reg, work: newWorkers(log)}
	defer func() {
		if err != nil {
			g.closeAll()
		}
	}()

	setup, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	topics := kafkabus.Topics{Prefix: cfg.TopicPrefix}
	if err := g.openKafka(setup, topics); err != nil {
		return nil, err
	}
	ready := map[string]connectors.Pinger{
		"workers": g.work,
		"kafka":   kafkaCheck{client: g.producer.Client(), spool: g.spool, log: log},
	}
	if cfg.Has(config.RoleCore) || cfg.Has(config.RoleOutbox) {
		if err := g.openStore(setup); err != nil {
			return nil, err
		}
		ready["database"] = g.store
	}

	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	g.cancel = cancelWork
	if g.topicsLater {
		g.goWork("topic setup", func() error { return g.setUpTopicsLater(workCtx, topics) })
	}

	app := connectors.NewApp(connectors.Config{PublicURL: cfg.PublicURL, Log: log, Reg: reg})
	g.app = app
	ops := connectors.OpsConfig{Ready: ready, Gatherer: reg, Log: log, Pprof: cfg.Pprof}
	if cfg.OpsAddr == "" {
		connectors.MountOps(app, ops)
	} else if err := g.listenOps(ops); err != nil {
		return nil, err
	}
	if cfg.PprofAddr != "" {
		if err := g.listenPprof(); err != nil {
			return nil, err
		}
	}
	if cfg.Has(config.RoleIngest) {
		if err := g.mountWebhooks(workCtx, topics); err != nil {
			return nil, err
		}
	}
	if cfg.Has(config.RoleCore) || cfg.Has(config.RoleOutbox) {
		if err := g.startService(workCtx, topics); err != nil {
			return nil, err
		}
	}

	g.ln, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("GATEWAY_HTTP_ADDR: %w", err)
	}
	ln := edge.LimitListener(g.ln, cfg.MaxConns, cfg.MaxConnsPerIP)
	g.work.Go("http listener", func() error { return app.Listener(ln) })
	log.Info("gateway started", "addr", g.ln.Addr().String(), "version", version, "roles", roleList(cfg))
	return g, nil
}

// openKafka starts the embedded broker when no brokers are configured,
// the producer, the topics, and (ingest) the local spool.
func (g *Gateway) openKafka(ctx context.Context, topics kafkabus.Topics) (err error) {
	cfg := g.cfg
	g.brokers = cfg.KafkaBrokers
	if cfg.Embedded() {
		g.embedded, err = kafkabus.StartEmbedded(cfg.DataDir, cfg.EmbeddedKafkaAddr, cfg.KafkaPartitions)
		if err != nil {
			return fmt.Errorf("GATEWAY_EMBEDDED_KAFKA_ADDR: %w", err)
		}
		g.closers = append(g.closers, func() error { g.embedded.Close(); return nil })
		g.brokers = []string{g.embedded.Addr()}
		g.log.Info("embedded kafka broker started", "addr", g.embedded.Addr(), "data_dir", filepath.Join(cfg.DataDir, "kafka"))
	}
	g.producer = kafkabus.NewProducer(kafkabus.ProducerConfig{Brokers: g.brokers}, g.reg)
	switch err := kafkabus.EnsureTopics(ctx, g.producer.Client(), topics.All(), cfg.KafkaPartitions, cfg.KafkaReplication); {
	case err == nil:
	case errors.Is(err, kafka.InvalidReplicationFactor):
		return fmt.Errorf("KAFKA_REPLICATION_FACTOR: %d is more than the cluster allows: %w", cfg.KafkaReplication, err)
	case errors.Is(err, kafkabus.ErrUnavailable) && !cfg.Embedded():
		// Kafka down is no reason not to start: webhooks go to the spool
		// (ingest), consumers wait for it, and the topics are made later.
		g.log.Warn("kafka does not answer at start; starting anyway, the topics are created once it does", "error", err)
		g.topicsLater = true
	default:
		return fmt.Errorf("KAFKA_BROKERS: %w", err)
	}
	if cfg.Has(config.RoleIngest) && cfg.Spool {
		g.spool, err = spool.Open(filepath.Join(cfg.DataDir, "spool"), spool.Options{MaxBytes: cfg.SpoolMaxBytes, Log: g.log, Registerer: g.reg})
		if err != nil {
			return fmt.Errorf("GATEWAY_SPOOL: %w", err)
		}
		g.closers = append(g.closers, g.spool.Close)
	}
	return nil
}

// setUpTopicsLater creates the topics once Kafka answers (it did not at
// start), retrying with backoff, then waits for the gateway to stop. A
// refusal that retrying cannot mend (a replication factor the cluster
// cannot meet) fails the worker, and with it the gateway.
func (g *Gateway) setUpTopicsLater(ctx context.Context, topics kafkabus.Topics) error {
	policy := retry.Policy{Base: time.Second, Max: 30 * time.Second, Retryable: func(err error) bool { return errors.Is(err, kafkabus.ErrUnavailable) }}
	err := retry.Do(ctx, policy, func() error {
		// A client of its own each time: kafka-go's transport keeps the
		// cluster it failed to read at first, and would not see the broker.
		c := kafkabus.NewClient(g.brokers, 10*time.Second)
		defer closeIdle(c)
		return kafkabus.EnsureTopics(ctx, c, topics.All(), g.cfg.KafkaPartitions, g.cfg.KafkaReplication)
	})
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("KAFKA_BROKERS: %w", err)
	}
	g.log.Info("kafka answers: topics ready")
	<-ctx.Done()
	return nil
}

// closeIdle closes the connections of a client made for one use.
func closeIdle(c *kafka.Client) {
	if t, ok := c.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}

// openStore opens (and migrates) the database of the roles that keep state.
func (g *Gateway) openStore(ctx context.Context) (err error) {
	url := g.cfg.DatabaseURL
	if url == "" {
		url = filepath.Join(g.cfg.DataDir, "gateway.db")
	}
	g.store, err = sqlstore.Open(ctx, url)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	g.closers = append(g.closers, g.store.Close)
	g.log.Info("database ready", "dialect", g.store.Dialect())
	return nil
}

// listenOps serves /metrics, /readyz and /healthz on GATEWAY_OPS_ADDR, away
// from the port the internet reaches.
func (g *Gateway) listenOps(ops connectors.OpsConfig) error {
	ln, err := net.Listen("tcp", g.cfg.OpsAddr)
	if err != nil {
		return fmt.Errorf("GATEWAY_OPS_ADDR: %w", err)
	}
	g.opsLn = ln
	app := connectors.NewApp(connectors.Config{Log: g.log, Reg: g.reg})
	connectors.MountOps(app, ops)
	g.opsApp = app
	g.work.Go("ops listener", func() error { return app.Listener(ln) })
	g.log.Info("operations listener started", "addr", ln.Addr().String())
	return nil
}

func roleList(cfg config.Config) []string {
	var out []string
	for _, r := range []string{config.RoleIngest, config.RoleCore, config.RoleOutbox} {
		if cfg.Has(r) {
			out = append(out, r)
		}
	}
	return out
}

// mountWebhooks serves every connector's webhooks (and the web chat).
func (g *Gateway) mountWebhooks(ctx context.Context, topics kafkabus.Topics) error {
	conns, err := g.connectors()
	if err != nil {
		return err
	}
	if g.mediaAtIngest {
		if _, err := g.mediaCopier(); err != nil {
			return err
		}
	}
	var pub kafkabus.Publisher = g.producer
	if g.spool != nil {
		d := spool.NewDrainer(g.spool, g.producer, g.log)
		g.goWork("spool drainer", func() error { d.Run(ctx); return nil })
		pub = spool.NewPublisher(g.producer, g.spool, d)
	}
	wh := connectors.NewIngest(pub, topics, g.cfg.PublicURL, g.log, g.reg)
	wh.SetEntryPoints(entryPointIDs(g.cfg.EntryPoints))
	wh.Mount(g.app, g.webhookRoutes(conns)...)
	return g.mountChat(ctx, wh, pub, topics)
}

// policy is the core's policy: the configuration's, with the connectors'
// addresses and the entry points'.
func (g *Gateway) policy(conns []connector.Connector) (core.Policy, error) {
	cfg := g.cfg
	from, err := addressesOf(conns)
	if err != nil {
		return core.Policy{}, err
	}
	policy := core.Policy{ReopenWindow: cfg.ReopenWindow, ReopenWindowByChannel: cfg.ReopenWindowByChannel,
		AutoCloseAfter: cfg.AutoCloseAfter, Senders: from, MultiAssign: cfg.MultiAssign,
		ContactTimeout: cfg.ContactTimeout, ContactTimeoutByChannel: cfg.ContactTimeoutByChannel, WaitingWhenEnded: cfg.WaitingWhenEnded,
		DefaultHandler: cfg.DefaultHandler}
	policy.EmailUnverified = cfg.EmailUnverified
	policy.SendersOff = g.sendersOff(conns)
	policy.EntryPointInboxes, policy.EntryPointAgents = entryPointRouting(cfg)
	policy.EntryPointSenders = entryPointSenders(cfg)
	policy.ReopenWindowByEntryPoint, policy.AutoCloseAfterByEntryPoint = entryPointWindows(cfg.EntryPoints)
	return policy, nil
}

// startService starts what works on the database: the event relay (both
// roles write events), the inbound consumer, auto-close and the API (core),
// and the dispatcher with the outbound.v1 consumer (outbox).
func (g *Gateway) startService(ctx context.Context, topics kafkabus.Topics) error {
	cfg := g.cfg
	conns, err := g.connectors()
	if err != nil {
		return err
	}
	policy, err := g.policy(conns)
	if err != nil {
		return err
	}
	metrics := coremetrics.New(g.reg, entryPointIDs(cfg.EntryPoints)...)
	g.service = core.NewService(g.store, policy, core.EventTopics{Events: topics.Events(), DLQ: topics.DLQ()}, g.log, metrics)
	relay := kafkabus.NewRelay(g.store, g.producer, g.log, metrics)
	g.goWork("event relay", func() error { relay.Run(ctx); return nil })
	wake := []func(){relay.Wake}
	g.service.OnEvents(func() {
		for _, w := range wake {
			w()
		}
	})
	dlq := kafkabus.DLQ{Producer: g.producer, Topic: topics.DLQ()}
	// Both roles queue replies, whose attachments are checked against the
	// media store's links and GATEWAY_MEDIA_ALLOWED_HOSTS.
	copier, err := g.mediaCopier()
	if err != nil {
		return err
	}
	g.service.SetMedia(copier)

	if cfg.Has(config.RoleCore) {
		if g.chat != nil {
			g.chat.OnConnect(g.chatReplay)
		}
		chatSecret, err := keyFile(cfg.ChatSecret, cfg.DataDir, "chat.key")
		if err != nil {
			return fmt.Errorf("GATEWAY_CHAT_SECRET: %w", err)
		}
		g.mountCoreInternal(chatSecret)
		connectors.MountMedia(g.app, copier)
		if len(cfg.APITokens) == 0 {
			g.log.Warn("operator API: GATEWAY_API_TOKENS is not set; every /v1 request will be refused")
		}
		api := httpapi.New(apiCore(g.service), cfg.APITokens, g.store, g.log, g.reg)
		api.SetEntryPoints(g.entryPoints())
		api.Mount(g.app)
		g.reg.MustRegister(coremetrics.NewStatsCollector(g.service.Agents()))
		for range cfg.CoreConsumers {
			consumer := kafkabus.NewInboundConsumer(g.service, g.consumer("gateway-core", topics.Inbound()), dlq, g.log, metrics, cfg.CoreBatch)
			g.goWork("inbound consumer", func() error { return consumer.Run(ctx) })
		}
		g.goWork("auto-close", func() error { g.service.RunAutoClose(ctx, time.Minute); return nil })
		commands := kafkabus.NewCommandConsumer(g.service.Store(), commandsBind(g.service), g.consumer("gateway-commands", topics.Commands()), dlq, topics.Events(), g.log, relay.Wake)
		commands.SetAdminBots(cfg.CommandAdminBots)
		g.goWork("commands consumer", func() error { return commands.Run(ctx) })
		g.goWork("command ids sweep", func() error { g.sweepCommands(ctx, time.Hour); return nil })
	}
	if cfg.Has(config.RoleOutbox) {
		senders, err := sendersOf(conns)
		if err != nil {
			return err
		}
		d := outbox.New(g.service.DispatchQueue(), senders, outbox.Config{RatePerSecond: cfg.OutboxRates,
			MaxAttempts: cfg.OutboxMaxAttempts, MaxAge: cfg.OutboxMaxAge}, g.log, g.reg)
		wake = append(wake, d.Wake)
		g.goWork("outbox dispatcher", func() error { d.Run(ctx); return nil })
		cmds := outbox.NewCommands(g.service, g.log)
		loop := kafkabus.Loop{Name: "outbox", Source: g.consumer("gateway-outbox", topics.Outbound()), MaxBatch: 200, Log: g.log,
			Handler: kafkabus.Records{Name: "outbox", DLQ: dlq, Log: g.log, Done: d.Wake,
				Apply: func(ctx context.Context, m kafka.Message) (string, error) { return cmds.Apply(ctx, m.Value) }}}
		g.goWork("outbound commands", func() error { return loop.Run(ctx) })
	}
	return nil
}

func (g *Gateway) goWork(name string, fn func() error) { g.work.Go(name, fn) }

// consumer joins the consumer group of a topic (its lag exported by group),
// closed when the gateway closes; a kafkabus.Loop reads it.
func (g *Gateway) consumer(group, topic string) *kafkabus.Consumer {
	src := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Brokers: g.brokers, Group: group, Topics: []string{topic}})
	g.groupsMu.Lock()
	defer g.groupsMu.Unlock()
	if g.groups == nil {
		g.groups = map[string][]*kafkabus.Consumer{}
	}
	if len(g.groups[group]) == 0 {
		kafkabus.LagGauge(g.reg, group, func() int64 {
			g.groupsMu.Lock()
			defer g.groupsMu.Unlock()
			var sum int64
			for _, c := range g.groups[group] {
				sum += c.Lag()
			}
			return sum
		})
	}
	g.groups[group] = append(g.groups[group], src)
	g.closers = append(g.closers, src.Close)
	return src
}

// sweepCommands deletes the ids of commands handled longer ago than
// GATEWAY_COMMAND_IDS_KEEP, at start and every interval until ctx ends.
func (g *Gateway) sweepCommands(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := g.store.SweepCommands(ctx, g.cfg.CommandIDsKeep); err != nil && ctx.Err() == nil {
			g.log.Warn("core: sweep processed commands", "error", err)
		} else if n > 0 {
			g.log.Info("core: swept processed commands", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Wait runs until ctx ends or a worker fails, then closes the gateway; it
// returns the failure, naming the worker.
func (g *Gateway) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return g.Close()
	case err := <-g.work.Failed():
		_ = g.Close()
		return err
	}
}

// Close shuts down in order: stop taking requests and let those in flight
// finish (their events reach Kafka or the spool), stop the workers after their current
// batch (offsets committed), relay what is left, then close Kafka clients,
// the database and the embedded broker (which flushes its log).
func (g *Gateway) Close() error {
	var err error
	g.once.Do(func() {
		g.work.Stopping()
		if g.app != nil {
			err = g.app.ShutdownWithTimeout(15 * time.Second)
		}
		if g.opsApp != nil {
			_ = g.opsApp.ShutdownWithTimeout(5 * time.Second)
		}
		if g.pprofSrv != nil {
			_ = g.pprofSrv.Close()
		}
		// A listener the server had not started serving yet is closed here.
		for _, ln := range []net.Listener{g.ln, g.opsLn} {
			if ln != nil {
				_ = ln.Close()
			}
		}
		if g.cancel != nil {
			g.cancel()
		}
		g.work.Wait()
		g.closeAll()
		g.log.Info("gateway stopped")
	})
	return err
}

func (g *Gateway) closeAll() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		if err := g.closers[i](); err != nil && !errors.Is(err, net.ErrClosed) {
			g.log.Warn("close", "error", err)
		}
	}
	g.closers = nil
}
