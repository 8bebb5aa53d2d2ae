package config

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.DataDir != "./data" || c.TopicPrefix != "gateway." || !c.Embedded() ||
		c.EmbeddedKafkaAddr != "127.0.0.1:9092" || c.ReopenWindow != 72*time.Hour || c.AutoCloseAfter != 96*time.Hour ||
		!c.Has(RoleIngest) || !c.Has(RoleCore) || !c.Has(RoleOutbox) || c.MetaGraphVersion != "v23.0" || c.KafkaReplication != 1 {
		t.Fatalf("defaults: %+v", c)
	}
}

// Every problem is reported at once, each naming its variable.
func TestInvalidConfigNamesEachVariable(t *testing.T) {
	_, err := Load(env(map[string]string{
		"GATEWAY_ROLES":            "ingest,frontend",
		"GATEWAY_REOPEN_WINDOW":    "soon",
		"KAFKA_BROKERS":            "nohostport",
		"DATABASE_URL":             "mysql://x",
		"GATEWAY_API_TOKENS":       "root:abc",
		"GATEWAY_PUBLIC_URL":       "ftp://x",
		"GATEWAY_HTTP_ADDR":        "8080",
		"TWILIO_API_URL":           "not a url",
		"GATEWAY_AUTO_CLOSE_AFTER": "0",
	}))
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, name := range []string{"GATEWAY_ROLES", "GATEWAY_REOPEN_WINDOW", "KAFKA_BROKERS", "DATABASE_URL", "GATEWAY_API_TOKENS",
		"GATEWAY_PUBLIC_URL", "GATEWAY_HTTP_ADDR", "TWILIO_API_URL", "GATEWAY_AUTO_CLOSE_AFTER"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), "abc") {
		t.Errorf("error leaks a token: %v", err)
	}
}

func TestFileAndOverrides(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte("GATEWAY_HTTP_ADDR: \":9000\"\nGATEWAY_REOPEN_WINDOW_CHAT: \"0\"\nGATEWAY_REOPEN_WINDOW_WHATSAPP: 28d\nKAFKA_BROKERS: a:9092,b:9092\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{"GATEWAY_CONFIG": path, "GATEWAY_HTTP_ADDR": ":9100", "GATEWAY_API_TOKENS": "admin:t1,agent:t2"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":9100" {
		t.Errorf("environment must win over the file: %q", c.HTTPAddr)
	}
	if d, ok := c.ReopenWindowByChannel["chat"]; !ok || d != 0 {
		t.Errorf("chat window %v %v, want 0", d, ok)
	}
	if c.ReopenWindowByChannel["whatsapp"] != 28*24*time.Hour {
		t.Errorf("whatsapp window %v", c.ReopenWindowByChannel["whatsapp"])
	}
	if len(c.KafkaBrokers) != 2 || c.Embedded() || c.KafkaReplication != 3 {
		t.Errorf("brokers %v replication %d", c.KafkaBrokers, c.KafkaReplication)
	}
	if c.APITokens["t1"] != "admin" || c.APITokens["t2"] != "agent" {
		t.Errorf("tokens %v", c.APITokens)
	}
}

// The limits against hostile input: defaults, overrides, and each bad
// value named.
func TestHostileInputLimits(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SendGridEventMaxAge != 10*time.Minute || c.ChatMaxFrameBytes != 16<<10 || c.ChatRate != 5 || c.ChatBurst != 20 ||
		c.ChatMaxSockets != 10000 || c.ChatMaxSocketsPerIP != 20 || c.ChatIdleTimeout != 30*time.Minute {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = Load(env(map[string]string{"SENDGRID_EVENT_MAX_AGE": "5m", "GATEWAY_CHAT_MAX_FRAME_BYTES": "4096", "GATEWAY_CHAT_RATE": "0.5:3",
		"GATEWAY_CHAT_MAX_SOCKETS": "50", "GATEWAY_CHAT_MAX_SOCKETS_PER_IP": "2", "GATEWAY_CHAT_IDLE_TIMEOUT": "2h"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SendGridEventMaxAge != 5*time.Minute || c.ChatMaxFrameBytes != 4096 || c.ChatRate != 0.5 || c.ChatBurst != 3 ||
		c.ChatMaxSockets != 50 || c.ChatMaxSocketsPerIP != 2 || c.ChatIdleTimeout != 2*time.Hour {
		t.Fatalf("overrides: %+v", c)
	}
	if c, err = Load(env(map[string]string{"GATEWAY_CHAT_RATE": "10"})); err != nil || c.ChatRate != 10 || c.ChatBurst != 10 {
		t.Fatalf("rate without burst: %v %v %v", c.ChatRate, c.ChatBurst, err)
	}
	bad := map[string]string{"SENDGRID_EVENT_MAX_AGE": "0s", "GATEWAY_CHAT_MAX_FRAME_BYTES": "12", "GATEWAY_CHAT_RATE": "fast",
		"GATEWAY_CHAT_MAX_SOCKETS": "0", "GATEWAY_CHAT_MAX_SOCKETS_PER_IP": "-1", "GATEWAY_CHAT_IDLE_TIMEOUT": "soon"}
	_, err = Load(env(bad))
	if err == nil {
		t.Fatal("invalid limits accepted")
	}
	for name := range bad {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	for _, v := range []string{"48h", "30s"} {
		if _, err := Load(env(map[string]string{"SENDGRID_EVENT_MAX_AGE": v})); err == nil {
			t.Errorf("SENDGRID_EVENT_MAX_AGE %s accepted", v)
		}
	}
}

func TestEmailUnverified(t *testing.T) {
	for in, want := range map[string]string{"": "mark", "mark": "mark", "separate": "separate", " Separate ": "separate"} {
		c, err := Load(env(map[string]string{"GATEWAY_EMAIL_UNVERIFIED": in}))
		if err != nil || c.EmailUnverified != want {
			t.Errorf("GATEWAY_EMAIL_UNVERIFIED=%q: %q (%v), want %q", in, c.EmailUnverified, err, want)
		}
	}
	for _, in := range []string{"drop", "reject", "true"} {
		if _, err := Load(env(map[string]string{"GATEWAY_EMAIL_UNVERIFIED": in})); err == nil || !strings.Contains(err.Error(), "GATEWAY_EMAIL_UNVERIFIED") {
			t.Errorf("GATEWAY_EMAIL_UNVERIFIED=%q: %v, want an error naming it", in, err)
		}
	}
}

// Tokens name their holder (agent:ann:TOKEN); the older role:TOKEN form is
// an unnamed holder; bot is a role.
func TestAPITokensNameTheirHolder(t *testing.T) {
	tests := map[string]struct {
		tokens string
		want   map[string]string
	}{
		"named holders":        {"agent:ann:t1,admin:ops:t2,bot:triage:t3", map[string]string{"t1": "agent:ann", "t2": "admin:ops", "t3": "bot:triage"}},
		"unnamed holders":      {"admin:t1, agent:t2", map[string]string{"t1": "admin", "t2": "agent"}},
		"both forms":           {"agent:ann.lee@x:t1,bot:t2", map[string]string{"t1": "agent:ann.lee@x", "t2": "bot"}},
		"a colon in the token": {"agent:ann:t:1", map[string]string{"t:1": "agent:ann"}},
		"none":                 {"", map[string]string{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Load(env(map[string]string{"GATEWAY_API_TOKENS": tc.tokens}))
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(c.APITokens, tc.want) {
				t.Errorf("tokens %v, want %v", c.APITokens, tc.want)
			}
		})
	}
	for _, bad := range []string{"root:t1", "agent:", "agent::t1", "agent:me:t1", "agent:a b:t1", "t1", "agent:ann:", "agent:t1,admin:t1",
		"agent:" + strings.Repeat("a", 65) + ":t1"} {
		if _, err := Load(env(map[string]string{"GATEWAY_API_TOKENS": bad})); err == nil || !strings.Contains(err.Error(), "GATEWAY_API_TOKENS") {
			t.Errorf("%q: %v, want an error naming GATEWAY_API_TOKENS", bad, err)
		} else if strings.Contains(err.Error(), "t1") {
			t.Errorf("%q: the error shows the token: %v", bad, err)
		}
	}
}

func TestMultiAssign(t *testing.T) {
	if c, err := Load(env(nil)); err != nil || c.MultiAssign {
		t.Errorf("default: %v %v, want one assignee", c.MultiAssign, err)
	}
	if c, err := Load(env(map[string]string{"GATEWAY_MULTI_ASSIGN": "true"})); err != nil || !c.MultiAssign {
		t.Errorf("true: %v %v", c.MultiAssign, err)
	}
	if _, err := Load(env(map[string]string{"GATEWAY_MULTI_ASSIGN": "several"})); err == nil || !strings.Contains(err.Error(), "GATEWAY_MULTI_ASSIGN") {
		t.Errorf("bad value: %v", err)
	}
}

// GATEWAY_MEDIA_ALLOWED_HOSTS is a comma list of host patterns; anything
// else (a URL, a path, a bare wildcard) is refused, naming the variable.
func TestMediaAllowedHosts(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.MediaAllowedHosts != nil {
		t.Fatalf("default: %v %v", c.MediaAllowedHosts, err)
	}
	c, err = Load(env(map[string]string{"GATEWAY_MEDIA_ALLOWED_HOSTS": " media-proxy.corp.example, *.CDN.example , 127.0.0.1:9000,[::1]:8080,::1"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"media-proxy.corp.example", "*.cdn.example", "127.0.0.1:9000", "[::1]:8080", "::1"}; strings.Join(c.MediaAllowedHosts, ",") != strings.Join(want, ",") {
		t.Fatalf("hosts %q, want %q", c.MediaAllowedHosts, want)
	}
	for _, v := range []string{"https://cdn.example", "cdn.example/path", "*", "*.", "a.*.example", "cdn.example:0", "cdn.example:http",
		"user@cdn.example", "cdn.example,", "cdn..example", "cdn example"} {
		_, err := Load(env(map[string]string{"GATEWAY_MEDIA_ALLOWED_HOSTS": v}))
		if err == nil || !strings.Contains(err.Error(), "GATEWAY_MEDIA_ALLOWED_HOSTS") {
			t.Errorf("GATEWAY_MEDIA_ALLOWED_HOSTS=%q: %v", v, err)
		}
	}
}

func TestChatHistory(t *testing.T) {
	for v, want := range map[string]int{"": 50, "0": 0, "200": 200} {
		c, err := Load(env(map[string]string{"GATEWAY_CHAT_HISTORY": v}))
		if err != nil || c.ChatHistory != want {
			t.Errorf("GATEWAY_CHAT_HISTORY=%q: %d %v, want %d", v, c.ChatHistory, err, want)
		}
	}
	for _, v := range []string{"-1", "5000", "all"} {
		if _, err := Load(env(map[string]string{"GATEWAY_CHAT_HISTORY": v})); err == nil || !strings.Contains(err.Error(), "GATEWAY_CHAT_HISTORY") {
			t.Errorf("GATEWAY_CHAT_HISTORY=%q: %v", v, err)
		}
	}
}

func TestSpoolAndInstance(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Spool || c.SpoolMaxBytes != 1<<30 || c.InstanceID != "" {
		t.Fatalf("defaults: spool %v, max %d, instance %q; want on, 1 GiB, none", c.Spool, c.SpoolMaxBytes, c.InstanceID)
	}
	c, err = Load(env(map[string]string{"GATEWAY_SPOOL": "off", "GATEWAY_SPOOL_MAX_BYTES": "10485760", "GATEWAY_INSTANCE_ID": "ingest-0.eu_west"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Spool || c.SpoolMaxBytes != 10<<20 || c.InstanceID != "ingest-0.eu_west" {
		t.Fatalf("set: spool %v, max %d, instance %q", c.Spool, c.SpoolMaxBytes, c.InstanceID)
	}
	_, err = Load(env(map[string]string{"GATEWAY_SPOOL": "maybe", "GATEWAY_SPOOL_MAX_BYTES": "1000", "GATEWAY_INSTANCE_ID": "a/b"}))
	for _, name := range []string{"GATEWAY_SPOOL:", "GATEWAY_SPOOL_MAX_BYTES", "GATEWAY_INSTANCE_ID"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

// Contacts end after a per-channel timeout; conversations go to waiting
// when all their contacts have ended only when asked to.
func TestContactTimeouts(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.ContactTimeout != 24*time.Hour || c.ContactTimeoutByChannel["chat"] != 10*time.Minute ||
		c.ContactTimeoutByChannel["email"] != 72*time.Hour || len(c.ContactTimeoutByChannel) != 2 || c.WaitingWhenEnded {
		t.Fatalf("defaults: %v %v %v", c.ContactTimeout, c.ContactTimeoutByChannel, c.WaitingWhenEnded)
	}
	c, err = Load(env(map[string]string{"GATEWAY_CONTACT_TIMEOUT": "2h", "GATEWAY_CONTACT_TIMEOUT_CHAT": "30m",
		"GATEWAY_CONTACT_TIMEOUT_SMS": "1d", "GATEWAY_WAITING_WHEN_ENDED": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.ContactTimeout != 2*time.Hour || c.ContactTimeoutByChannel["chat"] != 30*time.Minute ||
		c.ContactTimeoutByChannel["sms"] != 24*time.Hour || c.ContactTimeoutByChannel["email"] != 72*time.Hour || !c.WaitingWhenEnded {
		t.Fatalf("overrides: %v %v %v", c.ContactTimeout, c.ContactTimeoutByChannel, c.WaitingWhenEnded)
	}
	_, err = Load(env(map[string]string{"GATEWAY_CONTACT_TIMEOUT_EMAIL": "soon", "GATEWAY_WAITING_WHEN_ENDED": "yes"}))
	for _, name := range []string{"GATEWAY_CONTACT_TIMEOUT_EMAIL", "GATEWAY_WAITING_WHEN_ENDED"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

// The design's names are read: SENDGRID_EVENT_TOLERANCE (the older
// SENDGRID_EVENT_MAX_AGE still works, both together are refused) and
// GATEWAY_PPROF=true, which needs the operations listener.
func TestDesignNames(t *testing.T) {
	c, err := Load(env(map[string]string{"SENDGRID_EVENT_TOLERANCE": "3m", "GATEWAY_PPROF": "true", "GATEWAY_OPS_ADDR": "127.0.0.1:9090"}))
	if err != nil || c.SendGridEventMaxAge != 3*time.Minute || !c.Pprof {
		t.Fatalf("tolerance %v, pprof %v, %v", c.SendGridEventMaxAge, c.Pprof, err)
	}
	if _, err := Load(env(map[string]string{"SENDGRID_EVENT_TOLERANCE": "3m", "SENDGRID_EVENT_MAX_AGE": "4m"})); err == nil ||
		!strings.Contains(err.Error(), "SENDGRID_EVENT_TOLERANCE") {
		t.Errorf("both names set: %v", err)
	}
	if _, err := Load(env(map[string]string{"SENDGRID_EVENT_TOLERANCE": "48h"})); err == nil || !strings.Contains(err.Error(), "SENDGRID_EVENT_TOLERANCE") {
		t.Errorf("48h tolerance: %v", err)
	}
	if _, err := Load(env(map[string]string{"GATEWAY_PPROF": "true"})); err == nil || !strings.Contains(err.Error(), "GATEWAY_OPS_ADDR") {
		t.Errorf("pprof without the ops listener: %v", err)
	}
	if _, err := Load(env(map[string]string{"GATEWAY_PPROF": "yes"})); err == nil || !strings.Contains(err.Error(), "GATEWAY_PPROF") {
		t.Errorf("GATEWAY_PPROF=yes: %v", err)
	}
}

func TestCommandIDsKeep(t *testing.T) {
	if c, err := Load(env(nil)); err != nil || c.CommandIDsKeep != 30*24*time.Hour {
		t.Fatalf("default %v, %v; want 30d", c.CommandIDsKeep, err)
	}
	if c, err := Load(env(map[string]string{"GATEWAY_COMMAND_IDS_KEEP": "90d"})); err != nil || c.CommandIDsKeep != 90*24*time.Hour {
		t.Fatalf("90d: %v, %v", c.CommandIDsKeep, err)
	}
	if _, err := Load(env(map[string]string{"GATEWAY_COMMAND_IDS_KEEP": "2h"})); err == nil || !strings.Contains(err.Error(), "GATEWAY_COMMAND_IDS_KEEP") {
		t.Fatalf("2h accepted: %v", err)
	}
}

// The core's batches take up to 500 records by default: with 100, 2,000
// webhooks/s of which 80 % are new customers fall behind on two cores.
func TestCoreBatchDefault(t *testing.T) {
	if c, err := Load(env(nil)); err != nil || c.CoreBatch != 500 {
		t.Fatalf("default %d, %v; want 500", c.CoreBatch, err)
	}
}

func TestCoreConsumers(t *testing.T) {
	if c, err := Load(env(nil)); err != nil || c.CoreConsumers != 1 {
		t.Fatalf("default on SQLite %d, %v; want 1", c.CoreConsumers, err)
	}
	if c, err := Load(env(map[string]string{"DATABASE_URL": "postgres://db/gateway"})); err != nil || c.CoreConsumers != 2 {
		t.Fatalf("default on PostgreSQL %d, %v; want 2", c.CoreConsumers, err)
	}
	if c, err := Load(env(map[string]string{"GATEWAY_CORE_CONSUMERS": "3"})); err != nil || c.CoreConsumers != 3 {
		t.Fatalf("3: %d, %v", c.CoreConsumers, err)
	}
	for _, v := range []string{"0", "17", "two"} {
		if _, err := Load(env(map[string]string{"GATEWAY_CORE_CONSUMERS": v})); err == nil || !strings.Contains(err.Error(), "GATEWAY_CORE_CONSUMERS") {
			t.Errorf("%s accepted: %v", v, err)
		}
	}
}

func TestOutboxLimits(t *testing.T) {
	if c, err := Load(env(nil)); err != nil || c.OutboxMaxAttempts != 8 || c.OutboxMaxAge != 24*time.Hour {
		t.Fatalf("defaults %d %v, %v; want 8 and 24h", c.OutboxMaxAttempts, c.OutboxMaxAge, err)
	}
	c, err := Load(env(map[string]string{"GATEWAY_OUTBOX_MAX_ATTEMPTS": "3", "GATEWAY_OUTBOX_MAX_AGE": "2h"}))
	if err != nil || c.OutboxMaxAttempts != 3 || c.OutboxMaxAge != 2*time.Hour {
		t.Fatalf("3 and 2h: %d %v, %v", c.OutboxMaxAttempts, c.OutboxMaxAge, err)
	}
	for name, v := range map[string]string{"GATEWAY_OUTBOX_MAX_ATTEMPTS": "0", "GATEWAY_OUTBOX_MAX_AGE": "500ms"} {
		if _, err := Load(env(map[string]string{name: v})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s accepted: %v", name, v, err)
		}
	}
	if _, err := Load(env(map[string]string{"GATEWAY_OUTBOX_MAX_ATTEMPTS": "many"})); err == nil || !strings.Contains(err.Error(), "GATEWAY_OUTBOX_MAX_ATTEMPTS") {
		t.Errorf("many accepted: %v", err)
	}
}

// A GATEWAY_CONFIG file that is not a mapping is refused with the line it
// fails on, never with its text: it holds secrets.
func TestConfigFileErrorHidesItsText(t *testing.T) {
	const secret = "k9Q2x7Zp" // short: yaml quotes values of up to 10 characters whole (and the first 7 of longer ones)
	for name, text := range map[string]string{
		"a bare value":      secret + "\n",
		"an unclosed quote": "GATEWAY_HTTP_ADDR: \":8080\"\nTWILIO_AUTH_TOKEN: \"" + secret + "\n",
		"a list":            "- " + secret + "\n",
	} {
		path := filepath.Join(t.TempDir(), "gateway.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(env(map[string]string{"GATEWAY_CONFIG": path}))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "GATEWAY_CONFIG") {
			t.Errorf("%s: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}

// GATEWAY_CORE_URL is an http(s) URL, and needs the shared chat secret the
// core's internal routes derive their key from.
func TestCoreURL(t *testing.T) {
	c, err := Load(env(map[string]string{"GATEWAY_CORE_URL": "http://gateway-core:8080/", "GATEWAY_CHAT_SECRET": "s"}))
	if err != nil || c.CoreURL != "http://gateway-core:8080" {
		t.Fatalf("%q %v", c.CoreURL, err)
	}
	for _, m := range []map[string]string{
		{"GATEWAY_CORE_URL": "gateway-core:8080", "GATEWAY_CHAT_SECRET": "s"},
		{"GATEWAY_CORE_URL": "http://gateway-core:8080"},
	} {
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "GATEWAY_CORE_URL") {
			t.Errorf("%v: %v", m, err)
		}
	}
}

// Calls ring the forward number for 20 seconds by default, then go to a
// voicemail of up to 120 seconds; a bad value names its variable.
func TestVoice(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.VoiceForwardTo != "" || c.VoiceRingSeconds != 20 || c.VoiceMaxRecording != 120*time.Second || c.VoiceGreeting != DefaultVoiceGreeting {
		t.Fatalf("defaults: %q %d %v %q", c.VoiceForwardTo, c.VoiceRingSeconds, c.VoiceMaxRecording, c.VoiceGreeting)
	}
	for _, to := range []string{"+14155550100", "sip:desk@pbx.example.com", "sips:pbx.example.com:5061;transport=tls"} {
		c, err := Load(env(map[string]string{"GATEWAY_VOICE_FORWARD_TO": to, "GATEWAY_VOICE_RING_SECONDS": "30",
			"GATEWAY_VOICE_MAX_RECORDING": "1m", "GATEWAY_VOICE_GREETING": "Leave a message"}))
		if err != nil || c.VoiceForwardTo != to || c.VoiceRingSeconds != 30 || c.VoiceMaxRecording != time.Minute || c.VoiceGreeting != "Leave a message" {
			t.Errorf("%s: %+v %v", to, c.VoiceForwardTo, err)
		}
	}
	_, err = Load(env(map[string]string{"GATEWAY_VOICE_FORWARD_TO": "4155550100", "GATEWAY_VOICE_RING_SECONDS": "2",
		"GATEWAY_VOICE_MAX_RECORDING": "1.5s", "GATEWAY_VOICE_GREETING": strings.Repeat("a", 5000)}))
	for _, name := range []string{"GATEWAY_VOICE_FORWARD_TO", "GATEWAY_VOICE_RING_SECONDS", "GATEWAY_VOICE_MAX_RECORDING", "GATEWAY_VOICE_GREETING"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

// GATEWAY_DEFAULT_HANDLER is human by default, may name a bot, and anything
// else is refused naming the variable.
func TestDefaultHandler(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.DefaultHandler != "human" {
		t.Fatalf("default: %q %v", c.DefaultHandler, err)
	}
	if c, err = Load(env(map[string]string{"GATEWAY_DEFAULT_HANDLER": "bot:triage-ai"})); err != nil || c.DefaultHandler != "bot:triage-ai" {
		t.Fatalf("a bot: %q %v", c.DefaultHandler, err)
	}
	for _, bad := range []string{"bot", "bot:", "agent:ann", "bot:two words", "bot:" + strings.Repeat("x", 65)} {
		if _, err := Load(env(map[string]string{"GATEWAY_DEFAULT_HANDLER": bad})); err == nil || !strings.Contains(err.Error(), "GATEWAY_DEFAULT_HANDLER") {
			t.Errorf("%q: %v, want an error naming GATEWAY_DEFAULT_HANDLER", bad, err)
		}
	}
}
