package config

import (
	"slices"
	"strings"
	"testing"
)

// GATEWAY_COMMAND_ADMIN_BOTS lists the bots that may take admin-only
// actions by command: none by default, and a name no command's source can
// carry is refused, named by the variable.
func TestCommandAdminBots(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || len(c.CommandAdminBots) != 0 {
		t.Fatalf("default admin bots %v, %v; want none", c.CommandAdminBots, err)
	}
	c, err = Load(env(map[string]string{"GATEWAY_COMMAND_ADMIN_BOTS": " ops, crm.sync ,,"}))
	if err != nil || !slices.Equal(c.CommandAdminBots, []string{"ops", "crm.sync"}) {
		t.Fatalf("admin bots %v, %v", c.CommandAdminBots, err)
	}
	for _, bad := range []string{"bot:ops", "/bots/ops", "a b", strings.Repeat("x", 65)} {
		_, err := Load(env(map[string]string{"GATEWAY_COMMAND_ADMIN_BOTS": bad}))
		if err == nil || !strings.Contains(err.Error(), "GATEWAY_COMMAND_ADMIN_BOTS") {
			t.Errorf("%q: %v, want an error naming GATEWAY_COMMAND_ADMIN_BOTS", bad, err)
		}
	}
}

// The embedded broker has no authentication or ACLs: it may listen on a
// loopback address only. An external cluster's brokers are not checked.
func TestEmbeddedKafkaLoopbackOnly(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:9092", "127.0.0.2:0", "[::1]:9092", "localhost:9092"} {
		if _, err := Load(env(map[string]string{"GATEWAY_EMBEDDED_KAFKA_ADDR": ok})); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{":9092", "0.0.0.0:9092", "[::]:9092", "10.0.0.5:9092", "kafka.example.com:9092"} {
		_, err := Load(env(map[string]string{"GATEWAY_EMBEDDED_KAFKA_ADDR": bad}))
		if err == nil || !strings.Contains(err.Error(), "GATEWAY_EMBEDDED_KAFKA_ADDR") || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%s: %v, want a loopback error naming GATEWAY_EMBEDDED_KAFKA_ADDR", bad, err)
		}
		if _, err := Load(env(map[string]string{"GATEWAY_EMBEDDED_KAFKA_ADDR": bad, "KAFKA_BROKERS": "k1:9092"})); err != nil {
			t.Errorf("%s with KAFKA_BROKERS set (the embedded broker unused): %v", bad, err)
		}
	}
}
