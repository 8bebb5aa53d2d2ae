// Package config reads the gateway's configuration from environment
// variables, optionally from a YAML file named by GATEWAY_CONFIG holding the
// same keys (the environment wins), and validates all of it at once.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Roles a process can run.
const (
	RoleIngest = "ingest"
	RoleCore   = "core"
	RoleOutbox = "outbox"
)

// Channels with a per-channel reopen window (GATEWAY_REOPEN_WINDOW_<CHANNEL>).
var Channels = []string{"sms", "mms", "whatsapp", "messenger", "instagram", "email", "chat"}

// defaultContactTimeouts are the per-channel contact timeouts unless
// GATEWAY_CONTACT_TIMEOUT_<CHANNEL> says otherwise: a chat visitor is gone
// after minutes, an email thread lasts days.
var defaultContactTimeouts = map[string]time.Duration{"chat": 10 * time.Minute, "email": 72 * time.Hour}

// Config is the whole configuration.
type Config struct {
	HTTPAddr string
	// OpsAddr, when set, serves /metrics, /readyz and /healthz on a listener
	// of their own instead of HTTPAddr (GATEWAY_OPS_ADDR).
	OpsAddr string
	// MaxConns and MaxConnsPerIP cap open HTTP connections in all and per
	// client address (GATEWAY_MAX_CONNS, GATEWAY_MAX_CONNS_PER_IP; 0 = no cap).
	MaxConns, MaxConnsPerIP int
	PublicURL               string
	DataDir                 string
	Roles                   map[string]bool
	KafkaBrokers            []string
	EmbeddedKafkaAddr       string
	TopicPrefix             string
	KafkaPartitions         int
	// CoreBatch is the most inbound records applied per transaction (GATEWAY_CORE_BATCH).
	CoreBatch int
	// CoreConsumers is how many members of the core's consumer group each
	// core instance runs, each applying its partitions' batches in
	// transactions of its own (GATEWAY_CORE_CONSUMERS; default 2 on
	// PostgreSQL, 1 on SQLite).
	CoreConsumers int
	// CommandIDsKeep is how long the ids of handled commands are kept to
	// apply each command once (GATEWAY_COMMAND_IDS_KEEP, default 30d); it
	// must exceed the retention of the commands topic.
	CommandIDsKeep time.Duration
	// CommandAdminBots are the bots whose commands on gateway.commands.v1
	// may take admin-only actions such as customer.merge
	// (GATEWAY_COMMAND_ADMIN_BOTS, a comma list of bot names; default none).
	CommandAdminBots []string
	KafkaReplication int
	DatabaseURL      string
	// APITokens maps a bearer token to its holder: "agent:ann",
	// "admin:ops", "bot:triage", or a bare role for an unnamed holder.
	APITokens map[string]string
	LogLevel  string

	TwilioAccountSID, TwilioAuthToken, TwilioAPIURL, TwilioFromNumber                    string
	SendGridAPIKey, SendGridInboundUser, SendGridInboundPassword, SendGridEventPublicKey string
	SendGridAPIURL, SendGridFromEmail                                                    string
	MetaAppSecret, MetaVerifyToken, MetaGraphURL, MetaGraphVersion                       string
	WhatsAppAccessToken, WhatsAppPhoneNumberID, MessengerPageAccessToken                 string
	ChatSecret                                                                           string
	ChatAllowedOrigins                                                                   []string

	// MediaSecret signs media URLs (GATEWAY_MEDIA_SECRET); empty: a random
	// key kept under the data dir.
	MediaSecret   string
	MediaMaxBytes int64
	MediaURLTTL   time.Duration

	// OutboxRates limits sends per second per channel and sender address
	// (GATEWAY_OUTBOX_RATE_<CHANNEL>).
	OutboxRates map[string]float64
	// OutboxMaxAttempts and OutboxMaxAge are when a reply that keeps
	// failing temporarily fails for good: after this many sends, or once
	// its next send would come later than this after it was queued
	// (GATEWAY_OUTBOX_MAX_ATTEMPTS, default 8; GATEWAY_OUTBOX_MAX_AGE,
	// default 24h).
	OutboxMaxAttempts int
	OutboxMaxAge      time.Duration

	ReopenWindow          time.Duration
	ReopenWindowByChannel map[string]time.Duration
	AutoCloseAfter        time.Duration
	// ContactTimeout ends a contact after this long without a message on it
	// (GATEWAY_CONTACT_TIMEOUT, default 24h; 0: never);
	// ContactTimeoutByChannel overrides it (GATEWAY_CONTACT_TIMEOUT_<CHANNEL>,
	// defaults chat 10m and email 72h).
	ContactTimeout          time.Duration
	ContactTimeoutByChannel map[string]time.Duration
	// WaitingWhenEnded moves a conversation to waiting once all its contacts
	// have ended and nothing waits for a reply (GATEWAY_WAITING_WHEN_ENDED).
	WaitingWhenEnded bool
	// DefaultHandler is who handles each new conversation
	// (GATEWAY_DEFAULT_HANDLER): "human" (default) or "bot:<name>", an AI
	// agent answering every new message.
	DefaultHandler string

	// Limits against hostile input.
	// SendGridEventMaxAge: how far the signed timestamp of an Event Webhook
	// request may be from now (SENDGRID_EVENT_TOLERANCE, formerly
	// SENDGRID_EVENT_MAX_AGE, default 10m).
	SendGridEventMaxAge time.Duration
	// ChatMaxFrameBytes bounds one chat frame (GATEWAY_CHAT_MAX_FRAME_BYTES,
	// default 16384).
	ChatMaxFrameBytes int
	// ChatRate and ChatBurst bound a socket's frames (GATEWAY_CHAT_RATE,
	// "5:20": 5 a second, bursts of 20).
	ChatRate  float64
	ChatBurst int
	// ChatMaxSockets and ChatMaxSocketsPerIP bound the open chat sockets of
	// an instance (GATEWAY_CHAT_MAX_SOCKETS, default 10000) and from one
	// remote address (GATEWAY_CHAT_MAX_SOCKETS_PER_IP, default 20).
	ChatMaxSockets, ChatMaxSocketsPerIP int
	// ChatNewVisitorsPerMinute bounds the new visitors (a hello without a
	// valid visitor token) one client network (an IPv4 address or an IPv6
	// /64) may start a minute (GATEWAY_CHAT_NEW_VISITORS_PER_MINUTE,
	// default 10).
	ChatNewVisitorsPerMinute int
	// ChatIdleTimeout closes a chat socket that sent nothing for that long
	// (GATEWAY_CHAT_IDLE_TIMEOUT, default 30m).
	ChatIdleTimeout time.Duration

	// EmailUnverified is what inbound email whose sender SPF and DKIM did
	// not authenticate does (GATEWAY_EMAIL_UNVERIFIED): "mark" (default)
	// joins the address's customer, marked sender_verified false;
	// "separate" goes to a customer of its own, never the verified one.
	EmailUnverified string
	// Agents and assignment (parseAgents). MultiAssign lets a conversation
	// have several assignees (GATEWAY_MULTI_ASSIGN, Converso); by default it
	// has one (Gladly).
	MultiAssign bool

	// MediaAllowedHosts replaces every provider's default media hosts
	// (GATEWAY_MEDIA_ALLOWED_HOSTS, a comma list of "host", "host:port" or
	// "*.suffix"); loopback and private addresses are reached only for the
	// hosts it names exactly. It also lists the hosts operators may attach
	// files from in replies.
	MediaAllowedHosts []string

	// ChatHistory is how many of a returning visitor's latest messages the
	// chat shows them (GATEWAY_CHAT_HISTORY, default 50; 0 shows none).
	ChatHistory int

	// CoreURL is where an ingest-only instance reaches the core's internal
	// API for web chat history and pending replies (GATEWAY_CORE_URL, e.g.
	// http://gateway-core:8080). It needs GATEWAY_CHAT_SECRET, shared by
	// every instance: the internal routes accept only a key derived from it.
	CoreURL string

	// Spool: when Kafka cannot take a webhook's records they are fsynced to
	// DataDir/spool and drained to Kafka later (GATEWAY_SPOOL, on or off,
	// default on), within SpoolMaxBytes of disk (GATEWAY_SPOOL_MAX_BYTES,
	// default 1 GiB).
	Spool         bool
	SpoolMaxBytes int64
	// InstanceID names this instance where Kafka needs a stable name per
	// instance (the web chat's consumer group); empty: one made once and
	// kept under DataDir (GATEWAY_INSTANCE_ID).
	InstanceID string

	// Voice answers Twilio calls: they ring VoiceForwardTo (an E.164
	// number or a sip: URI; empty: straight to voicemail) for
	// VoiceRingSeconds (default 20), then the caller hears VoiceGreeting and
	// may leave a voicemail of up to VoiceMaxRecording (default 120s)
	// (GATEWAY_VOICE_FORWARD_TO, _RING_SECONDS, _GREETING, _MAX_RECORDING).
	VoiceForwardTo    string
	VoiceRingSeconds  int
	VoiceGreeting     string
	VoiceMaxRecording time.Duration

	// PprofAddr, when set, serves net/http/pprof (/debug/pprof/) on a
	// listener of its own, never on the public port (GATEWAY_PPROF_ADDR).
	PprofAddr string
	// Pprof serves /debug/pprof/ on the operations listener beside
	// /metrics (GATEWAY_PPROF=true; it needs GATEWAY_OPS_ADDR).
	Pprof bool

	// EntryPointsFile is GATEWAY_ENTRY_POINTS, a YAML file of entry points;
	// EntryPoints are its entry points, or without it one derived per
	// configured provider (DerivedEntryPoints).
	EntryPointsFile string
	EntryPoints     []EntryPoint
}

// Has reports whether the process runs a role.
func (c Config) Has(role string) bool { return c.Roles[role] }

// Embedded reports whether the embedded broker is used.
func (c Config) Embedded() bool { return len(c.KafkaBrokers) == 0 }

// secrets are never printed.
var secrets = map[string]bool{
	"TWILIO_AUTH_TOKEN": true, "SENDGRID_API_KEY": true, "SENDGRID_INBOUND_PASSWORD": true, "META_APP_SECRET": true,
	"META_VERIFY_TOKEN": true, "WHATSAPP_ACCESS_TOKEN": true, "MESSENGER_PAGE_ACCESS_TOKEN": true,
	"GATEWAY_API_TOKENS": true, "GATEWAY_CHAT_SECRET": true, "DATABASE_URL": true, "GATEWAY_MEDIA_SECRET": true,
}

// IsSecret reports whether a variable holds a secret.
func IsSecret(name string) bool { return secrets[name] }

// Load reads the configuration. getenv is os.Getenv in production.
func Load(getenv func(string) string) (Config, error) {
	get := getenv
	if path := getenv("GATEWAY_CONFIG"); path != "" {
		file, err := readFile(path)
		if err != nil {
			return Config{}, err
		}
		get = func(k string) string {
			if v := getenv(k); v != "" {
				return v
			}
			return file[k]
		}
	}
	r := &reader{get: get}
	var c Config
	for _, section := range []func(*Config){r.server, r.kafkaAndStore, r.providers, r.conversations, r.chat, r.media, r.outbox, r.voice} {
		section(&c)
	}
	if len(r.problems) > 0 {
		return c, errors.New("config: " + strings.Join(r.problems, "; "))
	}
	c.EntryPointsFile = r.str("GATEWAY_ENTRY_POINTS", "")
	if c.EntryPointsFile == "" {
		c.EntryPoints = DerivedEntryPoints(c)
		return c, nil
	}
	eps, err := LoadEntryPoints(c.EntryPointsFile, r.get)
	if err != nil {
		return c, err
	}
	c.EntryPoints = eps
	return c, nil
}

// reader reads variables and collects every problem, named by variable.
type reader struct {
	get      func(string) string
	problems []string
}

func (r *reader) bad(name, format string, args ...any) {
	r.problems = append(r.problems, name+": "+fmt.Sprintf(format, args...))
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.get(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) dur(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := parseDuration(v)
	if err != nil || d < 0 {
		r.bad(name, "%q is not a duration (like 72h, 30m or 7d)", v)
		return def
	}
	return d
}

func (r *reader) num(name string, def int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.bad(name, "%q is not an integer", v)
		return def
	}
	return n
}

// boolean reads true or false.
func (r *reader) boolean(name string, def bool) bool {
	switch v := strings.ToLower(r.str(name, "")); v {
	case "":
		return def
	case "true", "false":
		return v == "true"
	default:
		r.bad(name, "%q is neither true nor false", v)
		return def
	}
}

// hostPort checks that v, when set, is host:port.
func (r *reader) hostPort(name, v string) {
	if v == "" {
		return
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		r.bad(name, "%q is not host:port", v)
	}
}

// httpURL checks that v, when set, is an http(s) URL with a host.
func (r *reader) httpURL(name, v string) {
	if v == "" {
		return
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.bad(name, "%q is not an http(s) URL", v)
	}
}

// atLeast checks that n is min or more.
func (r *reader) atLeast(name string, n, min int, why string) {
	if n < min {
		r.bad(name, "%s", why)
	}
}

// server: listeners, public URL, data dir, connection caps, log level.
func (r *reader) server(c *Config) {
	c.HTTPAddr = r.str("GATEWAY_HTTP_ADDR", ":8080")
	c.OpsAddr = r.str("GATEWAY_OPS_ADDR", "")
	c.PprofAddr = r.str("GATEWAY_PPROF_ADDR", "")
	c.Pprof = r.boolean("GATEWAY_PPROF", false)
	if c.Pprof && c.OpsAddr == "" {
		r.bad("GATEWAY_PPROF", "needs GATEWAY_OPS_ADDR: profiles are never served on the public port (or set GATEWAY_PPROF_ADDR)")
	}
	c.PublicURL = strings.TrimRight(r.str("GATEWAY_PUBLIC_URL", ""), "/")
	c.DataDir = r.str("GATEWAY_DATA_DIR", "./data")
	c.LogLevel = r.str("GATEWAY_LOG_LEVEL", "info")
	c.MaxConns = r.num("GATEWAY_MAX_CONNS", 20000)
	c.MaxConnsPerIP = r.num("GATEWAY_MAX_CONNS_PER_IP", 1000)
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		r.bad("GATEWAY_HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	r.hostPort("GATEWAY_OPS_ADDR", c.OpsAddr)
	r.hostPort("GATEWAY_PPROF_ADDR", c.PprofAddr)
	r.httpURL("GATEWAY_PUBLIC_URL", c.PublicURL)
	r.atLeast("GATEWAY_MAX_CONNS", c.MaxConns, 0, "must be 0 (no cap) or more")
	r.atLeast("GATEWAY_MAX_CONNS_PER_IP", c.MaxConnsPerIP, 0, "must be 0 (no cap) or more")
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		r.bad("GATEWAY_LOG_LEVEL", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	c.Roles = map[string]bool{}
	for _, role := range strings.Split(r.str("GATEWAY_ROLES", "all"), ",") {
		switch role = strings.TrimSpace(role); role {
		case "all":
			c.Roles[RoleIngest], c.Roles[RoleCore], c.Roles[RoleOutbox] = true, true, true
		case RoleIngest, RoleCore, RoleOutbox:
			c.Roles[role] = true
		default:
			r.bad("GATEWAY_ROLES", "unknown role %q (want all or a comma list of ingest, core, outbox)", role)
		}
	}
}

// outbox: when a reply that keeps failing temporarily fails for good.
func (r *reader) outbox(c *Config) {
	c.OutboxMaxAttempts = r.num("GATEWAY_OUTBOX_MAX_ATTEMPTS", 8)
	if c.OutboxMaxAttempts < 1 || c.OutboxMaxAttempts > 1000 {
		r.bad("GATEWAY_OUTBOX_MAX_ATTEMPTS", "must be from 1 to 1000")
	}
	c.OutboxMaxAge = r.dur("GATEWAY_OUTBOX_MAX_AGE", 24*time.Hour)
	if c.OutboxMaxAge < time.Second {
		r.bad("GATEWAY_OUTBOX_MAX_AGE", "must be at least 1s")
	}
}

// kafkaAndStore: brokers (or the embedded one), topics, the database, the
// core's batch and the local spool.
func (r *reader) kafkaAndStore(c *Config) {
	c.EmbeddedKafkaAddr = r.str("GATEWAY_EMBEDDED_KAFKA_ADDR", "127.0.0.1:9092")
	c.TopicPrefix = r.str("KAFKA_TOPIC_PREFIX", "gateway.")
	c.KafkaPartitions = r.num("KAFKA_PARTITIONS", 12)
	c.CoreBatch = r.num("GATEWAY_CORE_BATCH", 500)
	c.CommandIDsKeep = r.dur("GATEWAY_COMMAND_IDS_KEEP", 30*24*time.Hour)
	if c.CommandIDsKeep < 24*time.Hour {
		r.bad("GATEWAY_COMMAND_IDS_KEEP", "must be at least 1d (and more than the commands topic's retention)")
	}
	c.CommandAdminBots = r.botNames("GATEWAY_COMMAND_ADMIN_BOTS")
	c.DatabaseURL = r.str("DATABASE_URL", "")
	// PostgreSQL applies two batches at once while the core's CPU prepares
	// them; SQLite writes one transaction at a time.
	c.CoreConsumers = r.num("GATEWAY_CORE_CONSUMERS", map[bool]int{true: 2, false: 1}[c.DatabaseURL != ""])
	r.hostPort("GATEWAY_EMBEDDED_KAFKA_ADDR", c.EmbeddedKafkaAddr)
	if v := r.str("KAFKA_BROKERS", ""); v != "" {
		for _, b := range strings.Split(v, ",") {
			b = strings.TrimSpace(b)
			if _, _, err := net.SplitHostPort(b); err != nil {
				r.bad("KAFKA_BROKERS", "%q is not host:port", b)
				continue
			}
			c.KafkaBrokers = append(c.KafkaBrokers, b)
		}
	}
	if len(c.KafkaBrokers) == 0 {
		r.loopback("GATEWAY_EMBEDDED_KAFKA_ADDR", c.EmbeddedKafkaAddr)
	}
	c.KafkaReplication = r.num("KAFKA_REPLICATION_FACTOR", map[bool]int{true: 1, false: 3}[len(c.KafkaBrokers) == 0])
	if c.CoreBatch < 1 || c.CoreBatch > 5000 {
		r.bad("GATEWAY_CORE_BATCH", "must be between 1 and 5000")
	}
	r.atLeast("KAFKA_PARTITIONS", c.KafkaPartitions, 1, "must be at least 1")
	if c.CoreConsumers < 1 || c.CoreConsumers > 16 {
		r.bad("GATEWAY_CORE_CONSUMERS", "must be between 1 and 16")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		r.bad("DATABASE_URL", "must be a postgres:// URL (leave it empty for SQLite under GATEWAY_DATA_DIR)")
	}
	switch v := strings.ToLower(r.str("GATEWAY_SPOOL", "on")); v {
	case "on", "true", "1":
		c.Spool = true
	case "off", "false", "0":
	default:
		r.bad("GATEWAY_SPOOL", "%q is not on or off", v)
	}
	c.SpoolMaxBytes = 1 << 30
	if v := r.str("GATEWAY_SPOOL_MAX_BYTES", ""); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1<<20 {
			r.bad("GATEWAY_SPOOL_MAX_BYTES", "%q is not a number of bytes of at least 1048576", v)
		} else {
			c.SpoolMaxBytes = n
		}
	}
	c.InstanceID = r.str("GATEWAY_INSTANCE_ID", "")
	if c.InstanceID != "" && !validInstanceID(c.InstanceID) {
		r.bad("GATEWAY_INSTANCE_ID", "%q must be 1 to 64 letters, digits, '.', '_' or '-'", c.InstanceID)
	}
}

// providers: credentials, API URLs and sender addresses of Twilio,
// SendGrid and Meta; the age of SendGrid's signed events; inbound email
// whose sender is not authenticated.
func (r *reader) providers(c *Config) {
	c.TwilioAccountSID, c.TwilioAuthToken = r.str("TWILIO_ACCOUNT_SID", ""), r.str("TWILIO_AUTH_TOKEN", "")
	c.TwilioAPIURL, c.TwilioFromNumber = r.str("TWILIO_API_URL", "https://api.twilio.com"), r.str("TWILIO_FROM_NUMBER", "")
	c.SendGridAPIKey, c.SendGridInboundUser = r.str("SENDGRID_API_KEY", ""), r.str("SENDGRID_INBOUND_USER", "")
	c.SendGridInboundPassword, c.SendGridEventPublicKey = r.str("SENDGRID_INBOUND_PASSWORD", ""), r.str("SENDGRID_EVENT_PUBLIC_KEY", "")
	c.SendGridAPIURL, c.SendGridFromEmail = r.str("SENDGRID_API_URL", "https://api.sendgrid.com"), r.str("SENDGRID_FROM_EMAIL", "")
	c.MetaAppSecret, c.MetaVerifyToken = r.str("META_APP_SECRET", ""), r.str("META_VERIFY_TOKEN", "")
	c.MetaGraphURL, c.MetaGraphVersion = r.str("META_GRAPH_URL", "https://graph.facebook.com"), r.str("META_GRAPH_VERSION", "v23.0")
	c.WhatsAppAccessToken, c.WhatsAppPhoneNumberID = r.str("WHATSAPP_ACCESS_TOKEN", ""), r.str("WHATSAPP_PHONE_NUMBER_ID", "")
	c.MessengerPageAccessToken = r.str("MESSENGER_PAGE_ACCESS_TOKEN", "")
	r.httpURL("TWILIO_API_URL", c.TwilioAPIURL)
	r.httpURL("SENDGRID_API_URL", c.SendGridAPIURL)
	r.httpURL("META_GRAPH_URL", c.MetaGraphURL)
	// SENDGRID_EVENT_TOLERANCE is the design's name; SENDGRID_EVENT_MAX_AGE
	// the name earlier releases read.
	tolerance := "SENDGRID_EVENT_TOLERANCE"
	if r.str(tolerance, "") == "" {
		tolerance = "SENDGRID_EVENT_MAX_AGE"
	} else if r.str("SENDGRID_EVENT_MAX_AGE", "") != "" {
		r.bad(tolerance, "SENDGRID_EVENT_MAX_AGE is set too: set only SENDGRID_EVENT_TOLERANCE")
	}
	c.SendGridEventMaxAge = r.dur(tolerance, 10*time.Minute)
	if c.SendGridEventMaxAge < time.Minute || c.SendGridEventMaxAge > 24*time.Hour {
		r.bad(tolerance, "must be between 1m and 24h")
	}
	c.EmailUnverified = strings.ToLower(r.str("GATEWAY_EMAIL_UNVERIFIED", "mark"))
	if c.EmailUnverified != "mark" && c.EmailUnverified != "separate" {
		r.bad("GATEWAY_EMAIL_UNVERIFIED", "%q is not mark or separate", c.EmailUnverified)
	}
}

// handlerPattern is what a conversation's handler may be.
var handlerPattern = regexp.MustCompile(`^(human|bot:[A-Za-z0-9._-]{1,64})$`)

// conversations: reopen windows, auto-close, send rates, operator tokens
// and assignment.
func (r *reader) conversations(c *Config) {
	c.ReopenWindow = r.dur("GATEWAY_REOPEN_WINDOW", 72*time.Hour)
	c.AutoCloseAfter = r.dur("GATEWAY_AUTO_CLOSE_AFTER", 96*time.Hour)
	c.ReopenWindowByChannel = map[string]time.Duration{}
	c.ContactTimeout = r.dur("GATEWAY_CONTACT_TIMEOUT", 24*time.Hour)
	c.ContactTimeoutByChannel = map[string]time.Duration{}
	for ch, def := range defaultContactTimeouts {
		c.ContactTimeoutByChannel[ch] = def
	}
	c.WaitingWhenEnded = r.boolean("GATEWAY_WAITING_WHEN_ENDED", false)
	c.DefaultHandler = r.str("GATEWAY_DEFAULT_HANDLER", "human")
	if !handlerPattern.MatchString(c.DefaultHandler) {
		r.bad("GATEWAY_DEFAULT_HANDLER", "must be human or bot:<name> (a name of at most 64 letters, digits, '-', '_' or '.')")
	}
	c.OutboxRates = map[string]float64{}
	for _, ch := range Channels {
		name := "GATEWAY_REOPEN_WINDOW_" + strings.ToUpper(ch)
		if r.str(name, "") != "" {
			c.ReopenWindowByChannel[ch] = r.dur(name, 0)
		}
		name = "GATEWAY_CONTACT_TIMEOUT_" + strings.ToUpper(ch)
		if r.str(name, "") != "" {
			c.ContactTimeoutByChannel[ch] = r.dur(name, 0)
		}
		name = "GATEWAY_OUTBOX_RATE_" + strings.ToUpper(ch)
		if v := r.str(name, ""); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				r.bad(name, "%q is not a positive number of messages per second", v)
				continue
			}
			c.OutboxRates[ch] = f
		}
	}
	if c.AutoCloseAfter == 0 {
		r.bad("GATEWAY_AUTO_CLOSE_AFTER", "must be more than 0")
	}
	var problems []string
	c.APITokens, c.MultiAssign, problems = parseAgents(r.str("GATEWAY_API_TOKENS", ""), r.str("GATEWAY_MULTI_ASSIGN", "false"))
	r.problems = append(r.problems, problems...)
}

// chat: the web chat's key, origins, limits and history.
func (r *reader) chat(c *Config) {
	c.ChatSecret = r.str("GATEWAY_CHAT_SECRET", "")
	if v := r.str("GATEWAY_CHAT_ALLOWED_ORIGINS", ""); v != "" {
		for _, o := range strings.Split(v, ",") {
			c.ChatAllowedOrigins = append(c.ChatAllowedOrigins, strings.TrimSpace(o))
		}
	}
	c.ChatMaxFrameBytes = r.num("GATEWAY_CHAT_MAX_FRAME_BYTES", 16<<10)
	if c.ChatMaxFrameBytes < 1024 || c.ChatMaxFrameBytes > 1<<20 {
		r.bad("GATEWAY_CHAT_MAX_FRAME_BYTES", "must be between 1024 and 1048576")
	}
	c.ChatRate, c.ChatBurst = 5, 20
	if v := r.str("GATEWAY_CHAT_RATE", ""); v != "" {
		rate, burst, _ := strings.Cut(v, ":")
		f, err1 := strconv.ParseFloat(rate, 64)
		n, err2 := strconv.Atoi(burst)
		if burst == "" {
			n, err2 = max(1, int(f)), nil
		}
		if err1 != nil || err2 != nil || f <= 0 || n < 1 {
			r.bad("GATEWAY_CHAT_RATE", "%q is not frames per second with an optional burst (like 5:20)", v)
		} else {
			c.ChatRate, c.ChatBurst = f, n
		}
	}
	c.ChatMaxSockets = r.num("GATEWAY_CHAT_MAX_SOCKETS", 10000)
	c.ChatMaxSocketsPerIP = r.num("GATEWAY_CHAT_MAX_SOCKETS_PER_IP", 20)
	r.atLeast("GATEWAY_CHAT_MAX_SOCKETS", c.ChatMaxSockets, 1, "must be at least 1")
	r.atLeast("GATEWAY_CHAT_MAX_SOCKETS_PER_IP", c.ChatMaxSocketsPerIP, 1, "must be at least 1")
	c.ChatNewVisitorsPerMinute = r.num("GATEWAY_CHAT_NEW_VISITORS_PER_MINUTE", 10)
	r.atLeast("GATEWAY_CHAT_NEW_VISITORS_PER_MINUTE", c.ChatNewVisitorsPerMinute, 1, "must be at least 1")
	c.ChatIdleTimeout = r.dur("GATEWAY_CHAT_IDLE_TIMEOUT", 30*time.Minute)
	if c.ChatIdleTimeout < time.Second {
		r.bad("GATEWAY_CHAT_IDLE_TIMEOUT", "must be at least 1s")
	}
	c.ChatHistory = r.num("GATEWAY_CHAT_HISTORY", 50)
	if c.ChatHistory < 0 || c.ChatHistory > 1000 {
		r.bad("GATEWAY_CHAT_HISTORY", "must be between 0 and 1000")
	}
	c.CoreURL = strings.TrimRight(r.str("GATEWAY_CORE_URL", ""), "/")
	r.httpURL("GATEWAY_CORE_URL", c.CoreURL)
	if c.CoreURL != "" && c.ChatSecret == "" {
		r.bad("GATEWAY_CORE_URL", "needs GATEWAY_CHAT_SECRET, the same on every instance (the core's internal routes accept only a key derived from it)")
	}
}

// media: the store's key, limits, link lifetime and allowed hosts.
func (r *reader) media(c *Config) {
	c.MediaSecret = r.str("GATEWAY_MEDIA_SECRET", "")
	c.MediaMaxBytes = int64(r.num("GATEWAY_MEDIA_MAX_BYTES", 20<<20))
	c.MediaURLTTL = r.dur("GATEWAY_MEDIA_URL_TTL", 7*24*time.Hour)
	if v := r.str("GATEWAY_MEDIA_ALLOWED_HOSTS", ""); v != "" {
		for _, h := range strings.Split(v, ",") {
			h = strings.ToLower(strings.TrimSpace(h))
			if !hostPattern(h) {
				r.bad("GATEWAY_MEDIA_ALLOWED_HOSTS", "%q is not a host, host:port or *.suffix", h)
				continue
			}
			c.MediaAllowedHosts = append(c.MediaAllowedHosts, h)
		}
	}
}

// botNames reads a comma list of bot names: 1 to 64 letters, digits, '-',
// '_' or '.' each, as a command's source "/bots/<name>" names them.
func (r *reader) botNames(name string) []string {
	var out []string
	for _, n := range strings.Split(r.str(name, ""), ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if !validInstanceID(n) {
			r.bad(name, "%q is not a bot name (1 to 64 letters, digits, '.', '_' or '-')", n)
			continue
		}
		out = append(out, n)
	}
	return out
}

// loopback checks that the embedded broker listens on a loopback address
// only: it has no authentication and no ACLs, so whoever reaches it can
// write gateway.commands.v1 as any bot.
func (r *reader) loopback(name, addr string) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return // reported by hostPort
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return
	}
	r.bad(name, "%q is not a loopback address: the embedded broker has no authentication or ACLs, "+
		"so anyone who reaches it could send commands as any bot; use 127.0.0.1 or ::1, "+
		"or a real cluster with ACLs in KAFKA_BROKERS", addr)
}

// DefaultVoiceGreeting is what a caller nobody answered hears before the tone.
const DefaultVoiceGreeting = "Sorry, nobody can take your call right now. Please leave a message after the tone, or send us a text."

// voice: where Twilio calls ring, for how long, and the voicemail.
func (r *reader) voice(c *Config) {
	c.VoiceForwardTo = r.str("GATEWAY_VOICE_FORWARD_TO", "")
	if v := c.VoiceForwardTo; v != "" && !e164.MatchString(v) && !sipURI.MatchString(v) {
		r.bad("GATEWAY_VOICE_FORWARD_TO", "%q is neither an E.164 number (+14155550100) nor a sip: URI (sip:desk@pbx.example.com)", v)
	}
	c.VoiceRingSeconds = r.num("GATEWAY_VOICE_RING_SECONDS", 20)
	if c.VoiceRingSeconds < 5 || c.VoiceRingSeconds > 600 {
		r.bad("GATEWAY_VOICE_RING_SECONDS", "must be between 5 and 600 (Twilio's <Dial> timeout)")
	}
	c.VoiceGreeting = r.str("GATEWAY_VOICE_GREETING", DefaultVoiceGreeting)
	if len(c.VoiceGreeting) > 4096 {
		r.bad("GATEWAY_VOICE_GREETING", "must be at most 4096 bytes (Twilio's <Say> limit)")
	}
	c.VoiceMaxRecording = r.dur("GATEWAY_VOICE_MAX_RECORDING", 120*time.Second)
	if c.VoiceMaxRecording < time.Second || c.VoiceMaxRecording > 4*time.Hour || c.VoiceMaxRecording%time.Second != 0 {
		r.bad("GATEWAY_VOICE_MAX_RECORDING", "must be whole seconds between 1s and 4h (Twilio transcribes recordings of up to 120s)")
	}
}

var (
	e164   = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	sipURI = regexp.MustCompile(`^sips?:([^\s@<>"]+@)?[A-Za-z0-9.-]+(:[0-9]{1,5})?(;[^\s<>"]*)?$`)
)

func validInstanceID(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// hostPattern reports whether p is "host", "host:port" or "*.suffix" (with
// an optional port); an IPv6 address is written bare or in brackets.
func hostPattern(p string) bool {
	host := p
	if h, port, err := net.SplitHostPort(p); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
		host = h
	} else if strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]") {
		host = p[1 : len(p)-1]
	}
	if net.ParseIP(host) != nil {
		return true
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "*."), ".")
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return false
		}
	}
	return true
}

// roles of GATEWAY_API_TOKENS holders.
var roles = map[string]bool{"admin": true, "agent": true, "bot": true}

// parseAgents reads GATEWAY_API_TOKENS and GATEWAY_MULTI_ASSIGN. Each
// token entry is ROLE:NAME:TOKEN (a named holder: agent:ann:T, admin:ops:T,
// bot:triage:T) or ROLE:TOKEN (an unnamed holder); tokens map to
// "ROLE:NAME" or "ROLE". A name is 1 to 64 letters, digits, '.', '_', '-'
// or '@', and not "me" (GET /v1/conversations?assignee=me is the caller's).
func parseAgents(tokens, multi string) (map[string]string, bool, []string) {
	var problems []string
	out := map[string]string{}
	if tokens != "" {
		for _, entry := range strings.Split(tokens, ",") {
			parts := strings.SplitN(strings.TrimSpace(entry), ":", 3)
			if len(parts) == 2 { // ROLE:TOKEN, an unnamed holder
				parts = []string{parts[0], "", parts[1]}
			} else if len(parts) == 3 && !holderName(parts[1]) {
				parts = nil
			}
			if len(parts) != 3 || parts[2] == "" || !roles[parts[0]] {
				problems = append(problems, "GATEWAY_API_TOKENS: each entry must be ROLE:NAME:TOKEN or ROLE:TOKEN, ROLE one of admin, agent, bot, NAME letters, digits, '.', '_', '-', '@' (not \"me\")")
				continue
			}
			if _, dup := out[parts[2]]; dup {
				problems = append(problems, "GATEWAY_API_TOKENS: a token is listed twice")
				continue
			}
			out[parts[2]] = strings.TrimSuffix(parts[0]+":"+parts[1], ":")
		}
	}
	m, err := strconv.ParseBool(multi)
	if err != nil {
		problems = append(problems, fmt.Sprintf("GATEWAY_MULTI_ASSIGN: %q is not true or false", multi))
	}
	return out, m, problems
}

// holderName reports whether s can name a token's holder.
func holderName(s string) bool {
	if s == "" || s == "me" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return false
		}
	}
	return true
}

// parseDuration accepts Go durations plus a days suffix (7d).
func parseDuration(s string) (time.Duration, error) {
	if strings.HasSuffix(s, "d") {
		n, err := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64)
		if err != nil {
			return 0, err
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	return time.ParseDuration(s)
}

var yamlLine = regexp.MustCompile(`line \d+`)

func readFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: GATEWAY_CONFIG: %w", err)
	}
	raw := map[string]any{}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		// yaml's error can quote the file's text, secrets included: only
		// the line it names is kept.
		where := ""
		if m := yamlLine.FindString(err.Error()); m != "" {
			where = " (" + m + ")"
		}
		return nil, fmt.Errorf("config: GATEWAY_CONFIG: %s is not a YAML mapping of names to values%s", path, where)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		out[strings.ToUpper(k)] = fmt.Sprint(v)
	}
	return out, nil
}
