package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/config"
	"github.com/opengateway/gateway/connectors"
	"github.com/opengateway/gateway/connectors/webchat"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/kafkabus/spool"
	"github.com/opengateway/gateway/normalize"
)

// chatSpoolShare is the part of the spool (GATEWAY_SPOOL_MAX_BYTES / it)
// chat records may take while Kafka is down; the rest stays for the
// providers' webhooks, whatever visitors send.
const chatSpoolShare = 10

// mountChat serves the web chat and delivers replies to the visitors whose
// sockets this instance holds: every instance reads message.sent from
// events.v1 (its own consumer group, from the end) and pushes chat replies
// to its local sockets. The group is named after the instance (one group
// per instance, the same across restarts). pub is the webhooks' publisher:
// with a spool, chat records may take only a tenth of it.
func (g *Gateway) mountChat(ctx context.Context, wh *connectors.Ingest, pub kafkabus.Publisher, topics kafkabus.Topics) error {
	secret, err := keyFile(g.cfg.ChatSecret, g.cfg.DataDir, "chat.key")
	if err != nil {
		return fmt.Errorf("GATEWAY_CHAT_SECRET: %w", err)
	}
	publish := wh.PublishEvents
	if sp, ok := pub.(*spool.Publisher); ok {
		publish = wh.Via(sp.Share(g.cfg.SpoolMaxBytes / chatSpoolShare)).PublishEvents
	}
	g.chat = webchat.New(webchat.Config{Secret: secret, AllowedOrigins: g.cfg.ChatAllowedOrigins,
		MaxMessageBytes: g.cfg.ChatMaxFrameBytes, Rate: g.cfg.ChatRate, Burst: g.cfg.ChatBurst,
		MaxSockets: g.cfg.ChatMaxSockets, MaxSocketsPerIP: g.cfg.ChatMaxSocketsPerIP, IdleTimeout: g.cfg.ChatIdleTimeout,
		NewVisitorsPerMinute: g.cfg.ChatNewVisitorsPerMinute}, publish, g.log, g.reg)
	g.chat.Mount(g.app)
	if !g.cfg.Has(config.RoleCore) {
		// History and pending replies are in the core's database.
		if g.cfg.CoreURL != "" {
			g.chat.OnConnect(g.remoteChatReplay(secret))
		} else {
			g.log.Warn("web chat: GATEWAY_CORE_URL is not set on an instance without the core role: returning visitors get no history or pending replies")
		}
	}
	g.goWork("chat pinger", func() error { g.chat.Run(ctx); return nil })
	id, err := instanceID(g.cfg.InstanceID, g.cfg.DataDir)
	if err != nil {
		return fmt.Errorf("GATEWAY_INSTANCE_ID: %w", err)
	}
	src := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Brokers: g.brokers, Group: chatGroup(id),
		Topics: []string{topics.Events()}, FromEnd: true})
	g.closers = append(g.closers, src.Close)
	loop := kafkabus.Loop{Name: "chat", Source: src, Handler: kafkabus.HandlerFunc(g.deliverChat), MaxBatch: 500, Log: g.log}
	g.goWork("chat delivery", func() error { return loop.Run(ctx) })
	return nil
}

// chatGroup is the consumer group of an instance's chat delivery.
func chatGroup(instance string) string { return "gateway-chat-" + instance }

// instanceID is the configured instance id, or one made once and kept
// under the data dir.
func instanceID(configured, dataDir string) (string, error) {
	return persisted(configured, dataDir, "instance-id", 1, func() (string, error) { return normalize.NewID(), nil })
}

// deliverChat pushes the chat replies of a batch of events.v1 to the
// visitors whose sockets this instance holds; other events are skipped.
func (g *Gateway) deliverChat(_ context.Context, batch []kafka.Message) error {
	for _, m := range batch {
		ev, err := normalize.DecodeEvent(m.Value)
		if err != nil || ev.Type != normalize.TypeMessageSent {
			continue
		}
		var d core.EventData
		if json.Unmarshal(ev.Data, &d) != nil || d.Channel != normalize.ChannelChat || d.Message == nil {
			continue
		}
		g.chat.Deliver(d.Message.To.Address, webchat.OutboundMessage{MessageID: d.MessageID, Text: d.Message.Text,
			Attachments: d.Message.Attachments, SentAt: ev.Time, Author: agentName(d.Actor)})
	}
	return nil
}

// chatReplay gives a visitor who connects their latest messages both ways
// (GATEWAY_CHAT_HISTORY of them) and the replies they have not seen.
func (g *Gateway) chatReplay(ctx context.Context, address string) webchat.Returning {
	r, err := g.chatReturning(ctx, address)
	if err != nil {
		g.log.Warn("chat: history", "error", err)
	}
	return r
}

// chatReturning reads a returning visitor's history and pending replies;
// on an error it returns what it could read with the error.
func (g *Gateway) chatReturning(ctx context.Context, address string) (webchat.Returning, error) {
	var r webchat.Returning
	history, err := g.service.ChatHistory(ctx, address, g.cfg.ChatHistory)
	for _, m := range history {
		h := webchat.HistoryMessage{MessageID: m.ID, Direction: m.Direction, Text: m.Text, Attachments: m.Message.Attachments, SentAt: m.CreatedAt}
		if m.Direction == normalize.Outbound {
			h.Author, h.Status = agentName(m.Author), m.Status
		}
		r.History = append(r.History, h)
	}
	msgs, perr := g.service.DispatchQueue().PendingChat(ctx, address)
	for _, m := range msgs {
		r.Pending = append(r.Pending, webchat.OutboundMessage{MessageID: m.ID, Text: m.Text, Attachments: m.Message.Attachments,
			SentAt: m.CreatedAt, Author: agentName(m.Author)})
	}
	if err == nil {
		err = perr
	}
	return r, err
}

// agentName is the name a visitor sees on a reply: the agent of an
// "agent:<name>" (or "admin:<name>") actor, else none.
func agentName(actor string) string {
	if kind, name, ok := strings.Cut(actor, ":"); ok && (kind == "agent" || kind == "admin") {
		return name
	}
	return ""
}
