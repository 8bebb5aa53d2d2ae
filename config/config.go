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
	CoreBatch        int
	KafkaReplication int
	DatabaseURL      string
	// APITokens maps a bearer token to its role (admin or agent).
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

	ReopenWindow          time.Duration
	ReopenWindowByChannel map[string]time.Duration
	AutoCloseAfter        time.Duration

	// Limits against hostile input.
	// SendGridEventMaxAge: how far the signed timestamp of an Event Webhook
	// request may be from now (SENDGRID_EVENT_MAX_AGE, default 10m).
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
	// ChatIdleTimeout closes a chat socket that sent nothing for that long
	// (GATEWAY_CHAT_IDLE_TIMEOUT, default 30m).
	ChatIdleTimeout time.Duration

	// PprofAddr, when set, serves net/http/pprof (/debug/pprof/) on a
	// listener of its own, never on the public port (GATEWAY_PPROF_ADDR).
	PprofAddr string
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
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	str := func(name, def string) string {
		if v := strings.TrimSpace(get(name)); v != "" {
			return v
		}
		return def
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := str(name, "")
		if v == "" {
			return def
		}
		d, err := parseDuration(v)
		if err != nil || d < 0 {
			bad(name, "%q is not a duration (like 72h, 30m or 7d)", v)
			return def
		}
		return d
	}
	num := func(name string, def int) int {
		v := str(name, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			bad(name, "%q is not an integer", v)
			return def
		}
		return n
	}

	c := Config{
		HTTPAddr:          str("GATEWAY_HTTP_ADDR", ":8080"),
		OpsAddr:           str("GATEWAY_OPS_ADDR", ""),
		MaxConns:          num("GATEWAY_MAX_CONNS", 20000),
		MaxConnsPerIP:     num("GATEWAY_MAX_CONNS_PER_IP", 1000),
		PublicURL:         strings.TrimRight(str("GATEWAY_PUBLIC_URL", ""), "/"),
		DataDir:           str("GATEWAY_DATA_DIR", "./data"),
		EmbeddedKafkaAddr: str("GATEWAY_EMBEDDED_KAFKA_ADDR", "127.0.0.1:9092"),
		TopicPrefix:       str("KAFKA_TOPIC_PREFIX", "gateway."),
		KafkaPartitions:   num("KAFKA_PARTITIONS", 12),
		CoreBatch:         num("GATEWAY_CORE_BATCH", 100),
		DatabaseURL:       str("DATABASE_URL", ""),
		LogLevel:          str("GATEWAY_LOG_LEVEL", "info"),

		TwilioAccountSID: str("TWILIO_ACCOUNT_SID", ""), TwilioAuthToken: str("TWILIO_AUTH_TOKEN", ""),
		TwilioAPIURL: str("TWILIO_API_URL", "https://api.twilio.com"), TwilioFromNumber: str("TWILIO_FROM_NUMBER", ""),
		SendGridAPIKey: str("SENDGRID_API_KEY", ""), SendGridInboundUser: str("SENDGRID_INBOUND_USER", ""),
		SendGridInboundPassword: str("SENDGRID_INBOUND_PASSWORD", ""), SendGridEventPublicKey: str("SENDGRID_EVENT_PUBLIC_KEY", ""),
		SendGridAPIURL: str("SENDGRID_API_URL", "https://api.sendgrid.com"), SendGridFromEmail: str("SENDGRID_FROM_EMAIL", ""),
		MetaAppSecret: str("META_APP_SECRET", ""), MetaVerifyToken: str("META_VERIFY_TOKEN", ""),
		MetaGraphURL: str("META_GRAPH_URL", "https://graph.facebook.com"), MetaGraphVersion: str("META_GRAPH_VERSION", "v23.0"),
		WhatsAppAccessToken: str("WHATSAPP_ACCESS_TOKEN", ""), WhatsAppPhoneNumberID: str("WHATSAPP_PHONE_NUMBER_ID", ""),
		MessengerPageAccessToken: str("MESSENGER_PAGE_ACCESS_TOKEN", ""),
		ChatSecret:               str("GATEWAY_CHAT_SECRET", ""),
		MediaSecret:              str("GATEWAY_MEDIA_SECRET", ""),
		MediaMaxBytes:            int64(num("GATEWAY_MEDIA_MAX_BYTES", 20<<20)),
		MediaURLTTL:              dur("GATEWAY_MEDIA_URL_TTL", 7*24*time.Hour),

		ReopenWindow:          dur("GATEWAY_REOPEN_WINDOW", 72*time.Hour),
		AutoCloseAfter:        dur("GATEWAY_AUTO_CLOSE_AFTER", 96*time.Hour),
		ReopenWindowByChannel: map[string]time.Duration{},
	}
	for _, ch := range Channels {
		name := "GATEWAY_REOPEN_WINDOW_" + strings.ToUpper(ch)
		if str(name, "") != "" {
			c.ReopenWindowByChannel[ch] = dur(name, 0)
		}
	}
	c.OutboxRates = map[string]float64{}
	for _, ch := range Channels {
		name := "GATEWAY_OUTBOX_RATE_" + strings.ToUpper(ch)
		if v := str(name, ""); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				bad(name, "%q is not a positive number of messages per second", v)
				continue
			}
			c.OutboxRates[ch] = f
		}
	}
	if c.AutoCloseAfter == 0 {
		bad("GATEWAY_AUTO_CLOSE_AFTER", "must be more than 0")
	}

	// Addresses.
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("GATEWAY_HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	if c.OpsAddr != "" {
		if _, _, err := net.SplitHostPort(c.OpsAddr); err != nil {
			bad("GATEWAY_OPS_ADDR", "%q is not host:port", c.OpsAddr)
		}
	}
	if c.MaxConns < 0 {
		bad("GATEWAY_MAX_CONNS", "must be 0 (no cap) or more")
	}
	if c.MaxConnsPerIP < 0 {
		bad("GATEWAY_MAX_CONNS_PER_IP", "must be 0 (no cap) or more")
	}
	if _, _, err := net.SplitHostPort(c.EmbeddedKafkaAddr); err != nil {
		bad("GATEWAY_EMBEDDED_KAFKA_ADDR", "%q is not host:port", c.EmbeddedKafkaAddr)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("GATEWAY_PUBLIC_URL", "%q is not an http(s) URL", c.PublicURL)
		}
	}
	for name, v := range map[string]string{"TWILIO_API_URL": c.TwilioAPIURL, "SENDGRID_API_URL": c.SendGridAPIURL, "META_GRAPH_URL": c.MetaGraphURL} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(name, "%q is not an http(s) URL", v)
		}
	}
	if v := str("KAFKA_BROKERS", ""); v != "" {
		for _, b := range strings.Split(v, ",") {
			b = strings.TrimSpace(b)
			if _, _, err := net.SplitHostPort(b); err != nil {
				bad("KAFKA_BROKERS", "%q is not host:port", b)
				continue
			}
			c.KafkaBrokers = append(c.KafkaBrokers, b)
		}
	}
	c.KafkaReplication = num("KAFKA_REPLICATION_FACTOR", map[bool]int{true: 1, false: 3}[len(c.KafkaBrokers) == 0])
	if c.CoreBatch < 1 || c.CoreBatch > 5000 {
		bad("GATEWAY_CORE_BATCH", "must be between 1 and 5000")
	}
	if c.KafkaPartitions < 1 {
		bad("KAFKA_PARTITIONS", "must be at least 1")
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		bad("DATABASE_URL", "must be a postgres:// URL (leave it empty for SQLite under GATEWAY_DATA_DIR)")
	}

	// Roles.
	c.Roles = map[string]bool{}
	for _, r := range strings.Split(str("GATEWAY_ROLES", "all"), ",") {
		switch r = strings.TrimSpace(r); r {
		case "all":
			c.Roles[RoleIngest], c.Roles[RoleCore], c.Roles[RoleOutbox] = true, true, true
		case RoleIngest, RoleCore, RoleOutbox:
			c.Roles[r] = true
		default:
			bad("GATEWAY_ROLES", "unknown role %q (want all or a comma list of ingest, core, outbox)", r)
		}
	}

	// API tokens: role:token pairs.
	c.APITokens = map[string]string{}
	if v := str("GATEWAY_API_TOKENS", ""); v != "" {
		for _, pair := range strings.Split(v, ",") {
			role, token, ok := strings.Cut(strings.TrimSpace(pair), ":")
			if !ok || token == "" || (role != "admin" && role != "agent") {
				bad("GATEWAY_API_TOKENS", "each entry must be admin:TOKEN or agent:TOKEN")
				continue
			}
			c.APITokens[token] = role
		}
	}
	if v := str("GATEWAY_CHAT_ALLOWED_ORIGINS", ""); v != "" {
		for _, o := range strings.Split(v, ",") {
			c.ChatAllowedOrigins = append(c.ChatAllowedOrigins, strings.TrimSpace(o))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("GATEWAY_LOG_LEVEL", "%q is not one of debug, info, warn, error", c.LogLevel)
	}

	// Limits against hostile input.
	c.SendGridEventMaxAge = dur("SENDGRID_EVENT_MAX_AGE", 10*time.Minute)
	if c.SendGridEventMaxAge < time.Minute || c.SendGridEventMaxAge > 24*time.Hour {
		bad("SENDGRID_EVENT_MAX_AGE", "must be between 1m and 24h")
	}
	c.ChatMaxFrameBytes = num("GATEWAY_CHAT_MAX_FRAME_BYTES", 16<<10)
	if c.ChatMaxFrameBytes < 1024 || c.ChatMaxFrameBytes > 1<<20 {
		bad("GATEWAY_CHAT_MAX_FRAME_BYTES", "must be between 1024 and 1048576")
	}
	c.ChatRate, c.ChatBurst = 5, 20
	if v := str("GATEWAY_CHAT_RATE", ""); v != "" {
		r, b, _ := strings.Cut(v, ":")
		f, err1 := strconv.ParseFloat(r, 64)
		n, err2 := strconv.Atoi(b)
		if b == "" {
			n, err2 = max(1, int(f)), nil
		}
		if err1 != nil || err2 != nil || f <= 0 || n < 1 {
			bad("GATEWAY_CHAT_RATE", "%q is not frames per second with an optional burst (like 5:20)", v)
		} else {
			c.ChatRate, c.ChatBurst = f, n
		}
	}
	c.ChatMaxSockets = num("GATEWAY_CHAT_MAX_SOCKETS", 10000)
	c.ChatMaxSocketsPerIP = num("GATEWAY_CHAT_MAX_SOCKETS_PER_IP", 20)
	if c.ChatMaxSockets < 1 {
		bad("GATEWAY_CHAT_MAX_SOCKETS", "must be at least 1")
	}
	if c.ChatMaxSocketsPerIP < 1 {
		bad("GATEWAY_CHAT_MAX_SOCKETS_PER_IP", "must be at least 1")
	}
	c.ChatIdleTimeout = dur("GATEWAY_CHAT_IDLE_TIMEOUT", 30*time.Minute)
	if c.ChatIdleTimeout < time.Second {
		bad("GATEWAY_CHAT_IDLE_TIMEOUT", "must be at least 1s")
	}

	// Profiling.
	c.PprofAddr = str("GATEWAY_PPROF_ADDR", "")
	if c.PprofAddr != "" {
		if _, _, err := net.SplitHostPort(c.PprofAddr); err != nil {
			bad("GATEWAY_PPROF_ADDR", "%q is not host:port", c.PprofAddr)
		}
	}
	if len(problems) > 0 {
		return c, errors.New("config: " + strings.Join(problems, "; "))
	}
	return c, nil
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

func readFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: GATEWAY_CONFIG: %w", err)
	}
	raw := map[string]any{}
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config: GATEWAY_CONFIG: %s is not YAML: %w", path, err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		out[strings.ToUpper(k)] = fmt.Sprint(v)
	}
	return out, nil
}
