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
