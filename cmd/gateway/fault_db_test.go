package main

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// The database connections are cut under load (PostgreSQL terminates the
// gateway's backends again and again): the webhooks are still answered 200
// (ingest needs only Kafka), the core retries, catches up once the database
// is back, and the accounting holds (an event whose relay transaction was
// cut after Kafka took it is published again under its id).
func TestFaultDatabaseCutUnderLoad(t *testing.T) {
	dbURL := sqltest.URL(t, sqlstore.Postgres)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	// The random end of the id: its first characters are a timestamp, the
	// same for every run within about a minute (a concurrent run's backends
	// would be cut too).
	app := "gw_fault_" + strings.ReplaceAll(normalize.NewID(), "-", "")[16:]
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	g := startGateway(t, sqlstore.SQLite, map[string]string{"DATABASE_URL": u.String()})
	admin, err := sql.Open("pgx", os.Getenv("GATEWAY_TEST_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	l := startLoad(g, 2, 0)
	time.Sleep(500 * time.Millisecond)
	terminated := 0
	for end := time.Now().Add(faultTime(2 * time.Second)); time.Now().Before(end); {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rows, err := admin.QueryContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, app)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		for rows.Next() {
			var ok bool
			if rows.Scan(&ok) == nil && ok {
				terminated++
			}
		}
		rows.Close()
		cancel()
		time.Sleep(20 * time.Millisecond)
	}
	l.halt()
	cut := time.Now()
	t.Logf("answered 200: %d, otherwise: %d; %d database connections terminated", len(l.ok), len(l.other), terminated)
	if terminated < 3 {
		t.Fatalf("only %d of the gateway's database connections were cut", terminated)
	}
	if len(l.other) > 0 {
		t.Errorf("%d webhooks not answered 200 while only the database was cut", len(l.other))
	}
	if len(l.ok) < 20 {
		t.Fatalf("only %d webhooks answered 200", len(l.ok))
	}
	// The core catches up: every message is in the database (the wait
	// allows for a slow machine; the catch-up time is logged).
	deadline := time.Now().Add(faultTime(60 * time.Second))
	for stored := 0; stored < len(l.ok); {
		if err := g.store.DB().QueryRow(`SELECT COUNT(*) FROM messages`).Scan(&stored); err != nil {
			t.Logf("counting messages: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the core stored %d of %d messages within a minute of the cut:\n%s", stored, len(l.ok),
				grepLines(get(t, g, "/metrics"), "gateway_core_"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the core caught up %v after the cut", time.Since(cut).Round(time.Millisecond))
	defer func() {
		if t.Failed() {
			t.Logf("core metrics:\n%s", grepLines(get(t, g, "/metrics"), "gateway_core_"))
		}
	}()
	checkDelivered(t, g, l.ok, l.other...)
	if got := get(t, g, "/readyz"); got[:3] != "200" {
		t.Errorf("readyz once the database is back: %s", got)
	}
}
