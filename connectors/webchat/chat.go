// Package webchat is the gateway's own channel: a websocket at /chat/ws, an
// embeddable widget at /chat/widget.js and a demo page at /chat/. A visitor
// keeps one identity through a signed visitor token, and a site can say who
// the visitor is (email or its own user id) with an HMAC its backend
// computes, which links the chat to the customer's other channels. The
// outbox's sender of chat replies is here too (sender.go). Unlike the
// provider packages it serves its own routes and so imports fiber; it must
// not import Kafka clients or another provider's package.
//
// Frames (JSON), see PROTOCOL.md:
//
//	→ {"type":"hello","token":"…","identity":{"email":"…","user_id":"…","signature":"hex"}}
//	← {"type":"welcome","visitor_id":"…","token":"…"}
//	← {"type":"error","code":"rate_limited","message":"…"} (instead of welcome: too many new visitors
//	                 from this client network; the socket is then closed, 1013)
//	← {"type":"history","messages":[{"message_id":"…","direction":"inbound"|"outbound","text":"…",
//	   "attachments":[…],"sent_at":"…","author":"…","status":"sent"|"delivered"|"read"}]}
//	                 (a returning visitor: their latest messages both ways, oldest first; a reply
//	                  names its agent in author and says in status whether it reached the visitor)
//	← {"type":"message",…}                                  (replies not confirmed yet, again as below)
//	→ {"type":"message","client_id":"…","text":"…"}
//	← {"type":"ack","client_id":"…","message_id":"…"}      (the message is durably in Kafka)
//	← {"type":"error","client_id":"…","code":"unavailable"|"invalid"|"rate_limited","message":"…"}
//	← {"type":"message","message_id":"…","text":"…","attachments":[…],"sent_at":"…","author":"…"}
//	→ {"type":"received","message_id":"…"}                  (the reply reached the browser)
//
// Limits against a hostile visitor (Config): a frame larger than
// MaxMessageBytes closes the socket (1009); frames beyond Rate/Burst get an
// error frame with code "rate_limited" and do nothing; a receipt for a reply
// this socket was not sent (another visitor's, a watermark, an unknown or
// overlong id) gets an error frame with code "invalid" and publishes
// nothing; a socket that sends no frame for IdleTimeout is closed (1000);
// sockets beyond MaxSocketsPerIP from one client network (429) or
// MaxSockets in all (503) are refused before the handshake; a hello without
// a valid token beyond NewVisitorsPerMinute from one client network gets an
// error frame with code "rate_limited" and the socket is closed (1013)
// before anything is stored. Refusals are counted in
// gateway_chat_refused_total{reason}. A client network is an IPv4 address or
// an IPv6 /64 (edge.ClientNetwork).
package webchat

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	fws "github.com/fasthttp/websocket"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/opengateway/gateway/connectors/edge"
	"github.com/opengateway/gateway/connectors/httperr"
	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// Provider is the provider name of chat messages.
const Provider = "webchat"

const source = "/gateway/connectors/webchat"

// Config configures the chat.
type Config struct {
	// Secret signs visitor tokens and checks site identities.
	Secret []byte
	// AllowedOrigins may open the websocket ("*" allows any); empty allows
	// only pages served by the gateway itself (same origin).
	AllowedOrigins []string
	// MaxMessageBytes bounds one frame (default 16 KiB).
	MaxMessageBytes int
	// Rate is the frames a second a socket may send after hello, with
	// bursts of Burst (default 5 and 20).
	Rate  float64
	Burst int
	// MaxSockets bounds the open sockets of this instance (default 10,000),
	// MaxSocketsPerIP those from one client network (default 20).
	MaxSockets, MaxSocketsPerIP int
	// NewVisitorsPerMinute bounds the hellos without a valid visitor token
	// one client network may send a minute (default 10): each would start
	// a new visitor, and its first message a new customer.
	NewVisitorsPerMinute int
	// IdleTimeout closes a socket that sent no frame for that long
	// (default 30 minutes); answering pings does not count.
	IdleTimeout time.Duration
}

// Defaults of the limits in Config.
const (
	DefaultMaxMessageBytes = 16 << 10
	DefaultRate            = 5
	DefaultBurst           = 20
	DefaultMaxSockets      = 10000
	DefaultMaxSocketsPerIP = 20
	DefaultNewVisitors     = 10
	DefaultIdleTimeout     = 30 * time.Minute
)

// maxMessageID bounds the message id of a receipt (gateway ids are 36).
const maxMessageID = 100

// maxTracked bounds the reply ids a socket remembers for receipts.
const maxTracked = 1000

// OutboundMessage is a reply as the browser gets it.
type OutboundMessage struct {
	MessageID   string                 `json:"message_id"`
	Text        string                 `json:"text,omitempty"`
	Attachments []normalize.Attachment `json:"attachments,omitempty"`
	SentAt      time.Time              `json:"sent_at"`
	// Author is the name of the agent who wrote the reply ("" for a bot or
	// an unnamed holder).
	Author string `json:"author,omitempty"`
}

// HistoryMessage is one message of a visitor's history as the browser gets
// it: one of theirs (inbound) or a reply (outbound).
type HistoryMessage struct {
	MessageID   string                 `json:"message_id"`
	Direction   string                 `json:"direction"`
	Text        string                 `json:"text,omitempty"`
	Attachments []normalize.Attachment `json:"attachments,omitempty"`
	SentAt      time.Time              `json:"sent_at"`
	// Author is the name of the agent who wrote a reply.
	Author string `json:"author,omitempty"`
	// Status is a reply's delivery state: sent, delivered (the visitor's
	// browser confirmed it) or read.
	Status string `json:"status,omitempty"`
}

// Returning is what a visitor gets when they connect.
type Returning struct {
	// History is their latest messages both ways, oldest first (the history
	// frame, sent only when there is any).
	History []HistoryMessage `json:"history"`
	// Pending are replies their browser has not confirmed, oldest first,
	// sent again as message frames after the history.
	Pending []OutboundMessage `json:"pending"`
}

// Publish takes events to inbound.v1 and returns once Kafka has them.
type Publish func(ctx context.Context, evs []webhook.Event) error

// Chat serves visitors.
type Chat struct {
	cfg     Config
	publish Publish
	log     *slog.Logger
	onConn  func(ctx context.Context, address string) Returning

	mu    sync.Mutex
	conns map[string]map[*conn]struct{} // by the visitor's party address
	open  int                           // sockets past the handshake
	perIP map[string]int                // open sockets by client network

	newVisitors *edge.RateLimiter // hellos without a valid token, by client network

	connections prometheus.Gauge
	messages    *prometheus.CounterVec
	refused     *prometheus.CounterVec
}

type conn struct {
	ws *websocket.Conn
	mu sync.Mutex // one writer at a time

	// sent are the replies this socket was given, which its visitor may
	// acknowledge (the oldest forgotten past maxTracked).
	sentMu sync.Mutex
	sent   map[string]struct{}
	order  []string
}

// track remembers that a reply went to this socket.
func (c *conn) track(id string) {
	c.sentMu.Lock()
	defer c.sentMu.Unlock()
	if c.sent == nil {
		c.sent = map[string]struct{}{}
	}
	if _, ok := c.sent[id]; ok {
		return
	}
	if len(c.order) >= maxTracked {
		delete(c.sent, c.order[0])
		c.order = c.order[1:]
	}
	c.sent[id] = struct{}{}
	c.order = append(c.order, id)
}

// wasSent reports whether this socket was given the reply.
func (c *conn) wasSent(id string) bool {
	c.sentMu.Lock()
	defer c.sentMu.Unlock()
	_, ok := c.sent[id]
	return ok
}

// refuse sends an error frame of this package's limits.
func (c *conn) refuse(code, message string) {
	_ = c.send(map[string]string{"type": "error", "code": code, "message": message})
}

func (c *conn) send(v any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteJSON(v)
}

// New returns the chat.
func New(cfg Config, publish Publish, log *slog.Logger, reg prometheus.Registerer) *Chat {
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.MaxSockets <= 0 {
		cfg.MaxSockets = DefaultMaxSockets
	}
	if cfg.MaxSocketsPerIP <= 0 {
		cfg.MaxSocketsPerIP = DefaultMaxSocketsPerIP
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.NewVisitorsPerMinute <= 0 {
		cfg.NewVisitorsPerMinute = DefaultNewVisitors
	}
	c := &Chat{cfg: cfg, publish: publish, log: log, conns: map[string]map[*conn]struct{}{}, perIP: map[string]int{},
		newVisitors: edge.NewRateLimiter(cfg.NewVisitorsPerMinute, time.Minute, edge.DefaultMaxClients),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "gateway", Subsystem: "chat", Name: "connections",
			Help: "Open visitor websockets on this instance."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "gateway", Subsystem: "chat", Name: "messages_total",
			Help: "Chat messages by direction (inbound, outbound) and result."}, []string{"direction", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "gateway", Subsystem: "chat", Name: "refused_total",
			Help: "Visitor websockets refused: per_ip (GATEWAY_CHAT_MAX_SOCKETS_PER_IP), total (GATEWAY_CHAT_MAX_SOCKETS), new_visitors (GATEWAY_CHAT_NEW_VISITORS_PER_MINUTE)."}, []string{"reason"}),
	}
	for _, r := range []string{"per_ip", "total", "new_visitors"} {
		c.refused.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(c.connections, c.messages, c.refused)
	}
	return c
}

// OnConnect sets what a visitor who connects gets first: their history, and
// the replies that were sent while they were away.
func (c *Chat) OnConnect(fn func(ctx context.Context, address string) Returning) {
	c.onConn = fn
}

// Keepalive timing: every socket is pinged each pingEvery; one that has not
// answered or written for deadAfter is closed.
const (
	pingEvery = 45 * time.Second
	deadAfter = 2*pingEvery + 10*time.Second
)

// Run pings every open socket until ctx ends: one goroutine for all of
// them, so an idle visitor costs only its connection.
func (c *Chat) Run(ctx context.Context) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.pingAll()
		}
	}
}

func (c *Chat) pingAll() {
	c.mu.Lock()
	var all []*conn
	for _, ks := range c.conns {
		for k := range ks {
			all = append(all, k)
		}
	}
	c.mu.Unlock()
	for _, k := range all {
		k.mu.Lock()
		_ = k.ws.WriteControl(fws.PingMessage, nil, time.Now().Add(5*time.Second))
		k.mu.Unlock()
	}
}

// Mount adds the chat routes.
func (c *Chat) Mount(app *fiber.App) {
	app.Get("/chat/ws", c.upgrade, websocket.New(c.serve, websocket.Config{
		HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{}, RecoverHandler: edge.RecoverSocket("/chat/ws"),
	}))
	app.Get("/chat/widget.js", func(ctx *fiber.Ctx) error {
		ctx.Set(fiber.HeaderContentType, "application/javascript; charset=utf-8")
		ctx.Set(fiber.HeaderCacheControl, "public, max-age=300")
		return ctx.SendString(widgetJS)
	})
	app.Get("/chat/", func(ctx *fiber.Ctx) error {
		ctx.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return ctx.SendString(demoHTML)
	})
}

// upgrade checks the Origin before the websocket handshake.
func (c *Chat) upgrade(ctx *fiber.Ctx) error {
	if !websocket.IsWebSocketUpgrade(ctx) {
		return httperr.Write(ctx, httperr.CodeUpgradeRequired, "connect with a websocket")
	}
	if !c.originAllowed(ctx.Get(fiber.HeaderOrigin), ctx.Protocol()+"://"+string(ctx.Request().Host())) {
		c.messages.WithLabelValues("inbound", "origin_refused").Inc()
		return httperr.Write(ctx, core.EFORBIDDEN, "origin not allowed")
	}
	// A first look at the socket limits, to answer with a status; serve
	// counts for good once the handshake is done.
	if reason := c.full(ctx.IP()); reason != "" {
		return c.refuse(ctx, reason)
	}
	return ctx.Next()
}

// full names the socket limit a new socket from remote (an address as
// fiber's Ctx.IP gives it) would exceed, or "".
func (c *Chat) full(remote string) string {
	ip := edge.ClientNetworkOf(remote)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.open >= c.cfg.MaxSockets:
		return "total"
	case c.perIP[ip] >= c.cfg.MaxSocketsPerIP:
		return "per_ip"
	}
	return ""
}

func (c *Chat) refuse(ctx *fiber.Ctx, reason string) error {
	c.refused.WithLabelValues(reason).Inc()
	ctx.Set(fiber.HeaderRetryAfter, "30")
	if reason == "per_ip" {
		return ctx.Status(fiber.StatusTooManyRequests).JSON(fiber.Map{"error": fiber.Map{"code": "rate_limited", "message": "too many chat sockets from this address"}})
	}
	return ctx.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": fiber.Map{"code": "unavailable", "message": "the chat is full; retry later"}})
}

// admit counts a socket from remote past the handshake against the limits
// (a race with the first look is closed with 1013, try again later), and
// returns the client network it counts for.
func (c *Chat) admit(remote net.Addr) (string, bool) {
	ip := edge.ClientOf(remote)
	c.mu.Lock()
	defer c.mu.Unlock()
	reason := ""
	switch {
	case c.open >= c.cfg.MaxSockets:
		reason = "total"
	case c.perIP[ip] >= c.cfg.MaxSocketsPerIP:
		reason = "per_ip"
	}
	if reason != "" {
		c.refused.WithLabelValues(reason).Inc()
		return ip, false
	}
	c.open++
	c.perIP[ip]++
	return ip, true
}

func (c *Chat) release(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
	if c.perIP[ip]--; c.perIP[ip] <= 0 {
		delete(c.perIP, ip)
	}
}

func (c *Chat) originAllowed(origin, self string) bool {
	if origin == "" {
		return false
	}
	for _, o := range c.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return strings.EqualFold(origin, self)
}

type frame struct {
	Type      string    `json:"type"`
	Token     string    `json:"token,omitempty"`
	Identity  *identity `json:"identity,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	Text      string    `json:"text,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
}

type identity struct {
	Email     string `json:"email,omitempty"`
	UserID    string `json:"user_id,omitempty"`
	Signature string `json:"signature"`
}

// ParseFrame decodes one client frame.
func ParseFrame(b []byte) (frame, error) {
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("invalid frame: %w", err)
	}
	switch f.Type {
	case "hello", "received":
	case "message":
		if f.ClientID == "" || len(f.ClientID) > 100 || strings.TrimSpace(f.Text) == "" {
			return f, errors.New("a message needs a client_id (at most 100 characters) and text")
		}
	default:
		return f, fmt.Errorf("unknown frame type %q", f.Type)
	}
	return f, nil
}

// serve runs one visitor's socket: hello first, then messages.
func (c *Chat) serve(ws *websocket.Conn) {
	ws.SetReadLimit(int64(c.cfg.MaxMessageBytes))
	k := &conn{ws: ws}
	ip, ok := c.admit(ws.RemoteAddr())
	if !ok {
		_ = ws.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(fws.CloseTryAgainLater, "too many chat sockets"), time.Now().Add(time.Second))
		return
	}
	defer c.release(ip)
	visitor, party, ok := c.hello(k, ip)
	if !ok {
		return
	}
	c.add(party.Address, k)
	defer c.remove(party.Address, k)
	if c.onConn != nil {
		c.greet(k, c.onConn(context.Background(), party.Address))
	}
	c.readFrames(k, visitor, party)
}

// hello reads the socket's first frame, which must be hello, and answers
// welcome: the visitor (the token's, or a new one if the network may start
// one more), and the party their messages come from (an identity the site
// vouched for, else the visitor). false when the socket is done.
func (c *Chat) hello(k *conn, ip string) (visitor string, party normalize.Party, ok bool) {
	_ = k.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, b, err := k.ws.ReadMessage()
	if err != nil {
		return "", party, false
	}
	hello, err := ParseFrame(b)
	if err != nil || hello.Type != "hello" {
		_ = k.send(map[string]string{"type": "error", "code": core.EINVALID, "message": "the first frame must be hello"})
		return "", party, false
	}
	visitor, ok = c.visitorOf(hello.Token)
	if !ok {
		if !c.newVisitors.Allow(ip) {
			c.tooManyVisitors(k)
			return "", party, false
		}
		visitor = uuid.Must(uuid.NewV7()).String()
	}
	party = normalize.Party{Kind: normalize.KindChat, Address: visitor}
	if id := hello.Identity; id != nil {
		if p, ok := c.identify(*id); ok {
			party = p
		}
	}
	if err := k.send(map[string]string{"type": "welcome", "visitor_id": visitor, "token": c.token(visitor)}); err != nil {
		return "", party, false
	}
	return visitor, party, true
}

// readFrames handles the visitor's frames until the socket closes.
// Keepalive: one pinger for every socket (see pingAll); a visitor that
// stops answering is dropped by the read deadline, and one that answers
// pings but sends nothing for IdleTimeout too.
func (c *Chat) readFrames(k *conn, visitor string, party normalize.Party) {
	ws := k.ws
	lastFrame := time.Now()
	deadline := func() time.Time {
		live, idle := time.Now().Add(deadAfter), lastFrame.Add(c.cfg.IdleTimeout)
		if idle.Before(live) {
			return idle
		}
		return live
	}
	ws.SetPongHandler(func(string) error { return ws.SetReadDeadline(deadline()) })
	limit := rate.NewLimiter(rate.Limit(c.cfg.Rate), c.cfg.Burst)
	for {
		_ = ws.SetReadDeadline(deadline())
		_, b, err := ws.ReadMessage()
		if err != nil {
			c.closed(k, err)
			return
		}
		lastFrame = time.Now()
		if !limit.Allow() {
			c.messages.WithLabelValues("inbound", "rate_limited").Inc()
			k.refuse("rate_limited", "too many frames; slow down")
			continue
		}
		f, err := ParseFrame(b)
		if err != nil {
			_ = k.send(map[string]string{"type": "error", "code": core.EINVALID, "message": err.Error()})
			c.messages.WithLabelValues("inbound", "invalid").Inc()
			continue
		}
		switch f.Type {
		case "message":
			c.receive(k, visitor, party, f)
		case "received":
			if !c.receipt(k, f.MessageID) {
				c.messages.WithLabelValues("inbound", "receipt_refused").Inc()
				k.refuse("invalid", "received: message_id names no reply sent to this visitor")
				continue
			}
			c.delivered(party, f.MessageID)
		}
	}
}

// tooManyVisitors refuses a hello that would start one more new visitor
// than its client network may this minute: an error frame, then a close
// (1013, try again later). Nothing was stored or published.
func (c *Chat) tooManyVisitors(k *conn) {
	c.refused.WithLabelValues("new_visitors").Inc()
	k.refuse("rate_limited", "too many new visitors from this network; retry later")
	k.mu.Lock()
	_ = k.ws.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(fws.CloseTryAgainLater, "too many new visitors"), time.Now().Add(time.Second))
	k.mu.Unlock()
}

// greet sends a returning visitor their history, then the replies they have
// not confirmed. Every reply among them may be acknowledged on this socket.
func (c *Chat) greet(k *conn, r Returning) {
	if len(r.History) > 0 {
		for _, m := range r.History {
			if m.Direction == normalize.Outbound {
				k.track(m.MessageID)
			}
		}
		if k.send(historyFrame{Type: "history", Messages: r.History}) != nil {
			return
		}
	}
	for _, m := range r.Pending {
		k.track(m.MessageID)
		_ = k.send(outboundFrame(m))
	}
}

type historyFrame struct {
	Type     string           `json:"type"`
	Messages []HistoryMessage `json:"messages"`
}

// receipt reports whether a visitor may acknowledge a reply: one sent to
// this socket, by its id (never a watermark, which would speak for every
// reply up to a time).
func (c *Chat) receipt(k *conn, messageID string) bool {
	if messageID == "" || len(messageID) > maxMessageID || strings.HasPrefix(messageID, normalize.WatermarkPrefix) {
		return false
	}
	return k.wasSent(messageID)
}

// closed ends a socket whose read failed: a frame over the size limit is
// counted, an idle socket gets a normal close.
func (c *Chat) closed(k *conn, err error) {
	switch {
	case errors.Is(err, fws.ErrReadLimit):
		c.messages.WithLabelValues("inbound", "too_large").Inc()
	case isTimeout(err):
		k.mu.Lock()
		_ = k.ws.WriteControl(fws.CloseMessage, fws.FormatCloseMessage(fws.CloseNormalClosure, "idle"), time.Now().Add(time.Second))
		k.mu.Unlock()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// receive publishes a visitor's message and acknowledges it once Kafka has it.
func (c *Chat) receive(k *conn, visitor string, from normalize.Party, f frame) {
	m := normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelChat, Provider: Provider,
		ProviderMessageID: visitor + ":" + f.ClientID, Direction: normalize.Inbound, From: from,
		To: normalize.Party{Kind: normalize.KindChat, Address: "site"}, Text: f.Text, ReceivedAt: time.Now().UTC(),
		Extra: map[string]any{"visitor_id": visitor}}
	ev, err := webhook.MessageEvent(source, m)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.publish(ctx, []webhook.Event{ev})
		cancel()
	}
	if err != nil {
		c.log.Warn("chat: message not published", "error", err)
		c.messages.WithLabelValues("inbound", "unavailable").Inc()
		_ = k.send(map[string]string{"type": "error", "client_id": f.ClientID, "code": httperr.CodeUnavailable, "message": "not stored; send again"})
		return
	}
	c.messages.WithLabelValues("inbound", "accepted").Inc()
	_ = k.send(map[string]string{"type": "ack", "client_id": f.ClientID, "message_id": m.MessageID})
}

// delivered reports that a reply reached the visitor's browser.
func (c *Chat) delivered(to normalize.Party, messageID string) {
	if messageID == "" {
		return
	}
	st := normalize.Status{Provider: Provider, ProviderMessageID: messageID, Channel: normalize.ChannelChat,
		Status: normalize.StatusDelivered, ProviderStatus: "received", Recipient: &to, At: time.Now().UTC(), MessageID: messageID}
	ev, err := webhook.StatusEvent(source, st)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.publish(ctx, []webhook.Event{ev}); err != nil {
		c.log.Warn("chat: delivery receipt not published", "error", err)
	}
}

// Deliver sends a reply to every socket of a visitor on this instance; false
// when none is open here.
func (c *Chat) Deliver(address string, m OutboundMessage) bool {
	c.mu.Lock()
	var targets []*conn
	for k := range c.conns[address] {
		targets = append(targets, k)
	}
	c.mu.Unlock()
	n := 0
	for _, k := range targets {
		k.track(m.MessageID)
		if k.send(outboundFrame(m)) == nil {
			n++
		}
	}
	if n > 0 {
		c.messages.WithLabelValues("outbound", "delivered").Inc()
	}
	return n > 0
}

func outboundFrame(m OutboundMessage) map[string]any {
	f := map[string]any{"type": "message", "message_id": m.MessageID, "text": m.Text, "attachments": m.Attachments, "sent_at": m.SentAt}
	if m.Author != "" {
		f["author"] = m.Author
	}
	return f
}

func (c *Chat) add(address string, k *conn) {
	c.mu.Lock()
	if c.conns[address] == nil {
		c.conns[address] = map[*conn]struct{}{}
	}
	c.conns[address][k] = struct{}{}
	c.mu.Unlock()
	c.connections.Inc()
}

func (c *Chat) remove(address string, k *conn) {
	c.mu.Lock()
	delete(c.conns[address], k)
	if len(c.conns[address]) == 0 {
		delete(c.conns, address)
	}
	c.mu.Unlock()
	c.connections.Dec()
}

func (c *Chat) mac(msg string) []byte {
	h := hmac.New(sha256.New, c.cfg.Secret)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// token signs a visitor id: base64url(id) "." base64url(HMAC).
func (c *Chat) token(visitor string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(visitor)) + "." + enc.EncodeToString(c.mac("visitor:"+visitor))
}

// visitorOf returns the visitor of a valid token.
func (c *Chat) visitorOf(token string) (string, bool) {
	id64, sig64, ok := strings.Cut(token, ".")
	if !ok {
		return "", false
	}
	enc := base64.RawURLEncoding
	id, err1 := enc.DecodeString(id64)
	sig, err2 := enc.DecodeString(sig64)
	if err1 != nil || err2 != nil || len(id) == 0 || len(id) > 64 || !hmac.Equal(sig, c.mac("visitor:"+string(id))) {
		return "", false
	}
	return string(id), true
}

// identify checks a site's identity signature: hex HMAC-SHA256 of
// "email:<email>" or "user:<user_id>" with the chat secret.
func (c *Chat) identify(id identity) (normalize.Party, bool) {
	sig, err := hex.DecodeString(id.Signature)
	if err != nil {
		return normalize.Party{}, false
	}
	if id.Email != "" {
		addr, name, err := normalize.CanonicalEmail(id.Email)
		if err == nil && hmac.Equal(sig, c.mac("email:"+id.Email)) {
			return normalize.Party{Kind: normalize.KindEmail, Address: addr, Name: name}, true
		}
		return normalize.Party{}, false
	}
	if id.UserID != "" && len(id.UserID) <= 200 && hmac.Equal(sig, c.mac("user:"+id.UserID)) {
		return normalize.Party{Kind: normalize.KindChat, Address: "user:" + id.UserID}, true
	}
	return normalize.Party{}, false
}

// IdentitySignature is what a site's backend computes to identify a visitor
// by email (kind "email") or by its own user id (kind "user").
func IdentitySignature(secret []byte, kind, value string) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(kind + ":" + value))
	return hex.EncodeToString(h.Sum(nil))
}
