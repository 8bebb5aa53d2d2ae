// Command naive is the yardstick of the ingest benchmarks: the lean handler
// one would write in an afternoon with fiber and kafka-go. It takes a Twilio
// webhook, does not check its signature, writes one JSON record of the
// form to Kafka and answers empty TwiML. Its kafka-go Writer keeps the
// library's defaults but for the two settings a webhook needs: acks from
// all in-sync replicas (the default acknowledges nothing) and a 1 ms
// BatchTimeout (the default holds every record up to a second). The
// balancer is kafka-go's Murmur2Balancer, keyed by the sender (the
// default, round robin, ignores the key and so a sender's order). It is
// not part of the gateway.
//
// The flags -balancer, -batch-size and -batch-timeout run variants of it
// (cmd/loadgen/sidebyside.sh compares them side by side); -pprof serves
// its CPU profile.
//
//	go run ./cmd/naive -addr 127.0.0.1:18080 -brokers 127.0.0.1:19092
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" // -pprof
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/segmentio/kafka-go"
)

var twiml = []byte(`<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)

// writerConfig is what a variant of the handler sets on its kafka.Writer.
type writerConfig struct {
	brokers      []string
	topic        string
	balancer     string // murmur2, hash, crc32, roundrobin, leastbytes
	batchSize    int    // 0: kafka-go's default (100)
	batchTimeout time.Duration
}

func balancer(name string) (kafka.Balancer, error) {
	switch name {
	case "murmur2":
		return kafka.Murmur2Balancer{}, nil
	case "hash":
		return &kafka.Hash{}, nil
	case "crc32":
		return kafka.CRC32Balancer{}, nil
	case "roundrobin":
		return &kafka.RoundRobin{}, nil
	case "leastbytes":
		return &kafka.LeastBytes{}, nil
	}
	return nil, fmt.Errorf("unknown balancer %q", name)
}

// newWriter returns the handler's writer: kafka-go's defaults but acks
// from all replicas, the given batch timeout and balancer.
func newWriter(cfg writerConfig) (*kafka.Writer, error) {
	b, err := balancer(cfg.balancer)
	if err != nil {
		return nil, err
	}
	return &kafka.Writer{
		Addr: kafka.TCP(cfg.brokers...), Topic: cfg.topic, Balancer: b,
		RequiredAcks: kafka.RequireAll, BatchTimeout: cfg.batchTimeout, BatchSize: cfg.batchSize,
		AllowAutoTopicCreation: true,
	}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	brokers := flag.String("brokers", "127.0.0.1:19092", "Kafka brokers, comma separated")
	topic := flag.String("topic", "naive.v1", "topic")
	bal := flag.String("balancer", "murmur2", "kafka-go balancer: murmur2, hash, crc32, roundrobin, leastbytes")
	size := flag.Int("batch-size", 0, "kafka.Writer BatchSize (0: kafka-go's default, 100)")
	timeout := flag.Duration("batch-timeout", time.Millisecond, "kafka.Writer BatchTimeout")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this address (profiles of the benchmarks)")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { fmt.Fprintln(os.Stderr, http.ListenAndServe(*pprofAddr, nil)) }()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	w, err := newWriter(writerConfig{brokers: strings.Split(*brokers, ","), topic: *topic, balancer: *bal,
		batchSize: *size, batchTimeout: *timeout})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer w.Close()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/webhooks/twilio/messaging", func(c *fiber.Ctx) error {
		form, err := url.ParseQuery(string(c.Body()))
		if err != nil {
			return c.SendStatus(fiber.StatusBadRequest)
		}
		rec := map[string]string{}
		for k := range form {
			rec[k] = form.Get(k)
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := w.WriteMessages(c.UserContext(), kafka.Message{Key: []byte(form.Get("From")), Value: b}); err != nil {
			return c.SendStatus(fiber.StatusServiceUnavailable)
		}
		c.Set(fiber.HeaderContentType, "text/xml")
		return c.Send(twiml)
	})
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok") })
	go func() {
		<-ctx.Done()
		_ = app.ShutdownWithTimeout(5 * time.Second)
	}()
	if err := app.Listen(*addr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
