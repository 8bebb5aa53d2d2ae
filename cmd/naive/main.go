// Command naive is the yardstick of the ingest benchmarks: the handler one
// would write in an afternoon with fiber and kafka-go. It takes a Twilio
// webhook, does not check its signature, writes one JSON record of the
// form to Kafka (acks from all in-sync replicas, keyed by the sender) and
// answers empty TwiML. It is not part of the gateway.
//
//	go run ./cmd/naive -addr 127.0.0.1:18080 -brokers 127.0.0.1:19092
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
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

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	brokers := flag.String("brokers", "127.0.0.1:19092", "Kafka brokers, comma separated")
	topic := flag.String("topic", "naive.v1", "topic")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	w := &kafka.Writer{
		Addr: kafka.TCP(strings.Split(*brokers, ",")...), Topic: *topic, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 1000,
		AllowAutoTopicCreation: true,
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
