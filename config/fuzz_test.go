package config

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad fuzzes the variables whose values Load parses. The package has
// no testdata/: the seeds are the documented forms and their neighbours. A
// refusal is one "config: " error; an accepted configuration holds only
// values Validate would pass; the API tokens never appear in an error.
func FuzzLoad(f *testing.F) {
	f.Add(":8080", "72h", "", "admin:s3cr3t-admin,agent:s3cr3t-agent", "all", "", "https://gw.example.com/", "100")
	f.Add("127.0.0.1:9000", "7d", "k1:9092, k2:9092", "agent:tok", "ingest,core", "2.5", "", "5000")
	f.Add("8080", "-1h", "nohostport", "root:abc", "ingest,frontend", "0", "ftp://x", "0")
	f.Add("[::1]:80", "1e308d", ",", "admin:", "", "NaN", "http://", "x")
	f.Fuzz(func(t *testing.T, addr, window, brokers, tokens, roles, rate, public, batch string) {
		env := map[string]string{
			"GATEWAY_HTTP_ADDR": addr, "GATEWAY_REOPEN_WINDOW": window, "KAFKA_BROKERS": brokers,
			"GATEWAY_API_TOKENS": tokens, "GATEWAY_ROLES": roles, "GATEWAY_OUTBOX_RATE_SMS": rate,
			"GATEWAY_PUBLIC_URL": public, "GATEWAY_CORE_BATCH": batch, "GATEWAY_REOPEN_WINDOW_EMAIL": window,
		}
		c, err := Load(func(k string) string { return env[k] })
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error %q", err)
			}
			// The same problems with valid tokens: whatever the tokens add
			// must not be their value.
			env["GATEWAY_API_TOKENS"] = "admin:x"
			_, other := Load(func(k string) string { return env[k] })
			known := "GATEWAY_API_TOKENS: each entry must be admin:TOKEN or agent:TOKEN"
			if other != nil {
				known += other.Error()
			}
			for _, pair := range strings.Split(tokens, ",") {
				_, tok, _ := strings.Cut(strings.TrimSpace(pair), ":")
				if len(tok) >= 4 && strings.Contains(err.Error(), tok) && !strings.Contains(known, tok) {
					t.Fatalf("a token reached the error: %q", err)
				}
			}
			return
		}
		if c.ReopenWindow < 0 || c.AutoCloseAfter <= 0 || c.CoreBatch < 1 || c.CoreBatch > 5000 || c.KafkaPartitions < 1 || len(c.Roles) == 0 {
			t.Fatalf("accepted %+v", c)
		}
		for _, d := range c.ReopenWindowByChannel {
			if d < 0 {
				t.Fatalf("negative reopen window accepted: %v", d)
			}
		}
		for _, b := range append(c.KafkaBrokers, c.HTTPAddr) {
			if _, _, err := net.SplitHostPort(b); err != nil {
				t.Fatalf("accepted address %q: %v", b, err)
			}
		}
		for tok, role := range c.APITokens {
			if tok == "" || (role != "admin" && role != "agent") {
				t.Fatalf("accepted token role %q", role)
			}
		}
		for ch, r := range c.OutboxRates {
			if !(r > 0) {
				t.Fatalf("accepted rate %v for %s", r, ch)
			}
		}
	})
}

// FuzzConfigFile fuzzes the YAML file named by GATEWAY_CONFIG. A refusal is
// one "config: " error; an accepted file never overrides the environment.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte("GATEWAY_HTTP_ADDR: \":9090\"\nkafka_brokers: k1:9092,k2:9092\nGATEWAY_REOPEN_WINDOW: 48h\nGATEWAY_LOG_LEVEL: warn\n"))
	f.Add([]byte("gateway_core_batch: 250\ngateway_roles: [ingest]\nGATEWAY_OUTBOX_RATE_SMS: 1.5\ntwilio_auth_token: ~\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("{"))
	f.Add([]byte(""))
	path := filepath.Join(f.TempDir(), "gateway.yaml")
	f.Fuzz(func(t *testing.T, file []byte) {
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"GATEWAY_CONFIG": path, "GATEWAY_LOG_LEVEL": "debug"}
		c, err := Load(func(k string) string { return env[k] })
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if c.LogLevel != "debug" {
			t.Fatalf("the file overrode the environment: log level %q", c.LogLevel)
		}
		if c.CoreBatch < 1 || c.CoreBatch > 5000 || c.AutoCloseAfter <= 0 || c.ReopenWindow < 0 {
			t.Fatalf("accepted %+v", c)
		}
	})
}
