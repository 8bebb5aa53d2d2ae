package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// term sends SIGTERM and waits for the process to end; a clean stop exits 0.
func (c *childGateway) term() {
	c.t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		c.t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("the gateway did not stop within 30s of SIGTERM:\n%s", c.out.String())
	}
	if !c.cmd.ProcessState.Success() {
		c.t.Fatalf("the gateway exited %v on SIGTERM:\n%s", c.cmd.ProcessState, c.out.String())
	}
}

// Each role in a process of its own (ingest, core, outbox) against one
// broker and PostgreSQL, and each stopped with SIGTERM under load and
// started again in turn: it exits 0, and every webhook answered 200 is on
// events.v1 under one event id.
func TestFaultSIGTERMEachRoleUnderLoad(t *testing.T) {
	db := sqltest.URL(t, sqlstore.Postgres) // skips without PostgreSQL (fails in CI)
	broker, err := kafkabus.StartEmbedded(t.TempDir(), "127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	role := func(name string) *childGateway {
		return startChild(t, sqlstore.SQLite, map[string]string{"GATEWAY_ROLES": name, "KAFKA_BROKERS": broker.Addr(),
			"KAFKA_REPLICATION_FACTOR": "1", "DATABASE_URL": db})
	}
	ingest, core, outbox := role("ingest"), role("core"), role("outbox")
	ingest.view.brokers = []string{broker.Addr()}
	l := startLoad(ingest.view, 4, 0)
	for _, c := range []*childGateway{core, outbox, ingest} {
		time.Sleep(faultTime(700 * time.Millisecond))
		c.term()
		c.start()
	}
	time.Sleep(faultTime(700 * time.Millisecond))
	l.halt()
	t.Logf("answered 200: %d, otherwise: %d", len(l.ok), len(l.other))
	if len(l.ok) < 40 {
		t.Fatalf("only %d webhooks answered 200", len(l.ok))
	}
	checkDelivered(t, ingest.view, l.ok, l.other...)
}
