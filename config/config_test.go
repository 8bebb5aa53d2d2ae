package config

import (
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
