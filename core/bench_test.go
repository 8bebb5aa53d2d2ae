package core_test

import (
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
	"github.com/opengateway/gateway/normalize"
)

// BenchmarkHandleInbound measures the core's attach path: batches of 500
// inbound messages, one transaction per batch, as the consumer applies
// them; repeat1000 from 1,000 customers repeated, new80 with four messages
// in five from a customer never seen before (the others from 1,000
// returning ones).
//
//	GATEWAY_TEST_DATABASE_URL=... go test -run '^$' -bench HandleInbound -benchtime 20000x ./core
func BenchmarkHandleInbound(b *testing.B) {
	senders := map[string]func(i int) string{
		"repeat1000": func(i int) string { return fmt.Sprintf("+1415%07d", i%1000) },
		"new80": func(i int) string {
			if i%5 == 0 {
				return fmt.Sprintf("+1415%07d", i%1000)
			}
			return fmt.Sprintf("+1416%07d", i)
		},
	}
	for _, dialect := range sqltest.Dialects {
		for _, mix := range []string{"repeat1000", "new80"} {
			b.Run(dialect+"/"+mix, func(b *testing.B) { benchInbound(b, dialect, senders[mix]) })
		}
	}
}

// benchInbound handles b.N messages, message i from sender(i). Besides
// msgs/s it reports the CPU time per message of the benchmark's process
// (go-cpu-us/msg) and, on PostgreSQL, of its database backends
// (db-cpu-us/msg): on a machine shared with other work these vary far
// less than the wall time.
func benchInbound(b *testing.B, dialect string, sender func(i int) string) {
	e, db := newCPUBenchEnv(b, dialect)
	batch := benchBatch()
	msgs := make([]core.Inbound, 0, batch)
	goStart, dbStart := processCPU(), backendsCPU(b, db, nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelSMS, Provider: "twilio",
			ProviderMessageID: fmt.Sprintf("SMb%031d", i), Direction: normalize.Inbound,
			From: normalize.Party{Kind: normalize.KindPhone, Address: sender(i)},
			To:   normalize.Party{Kind: normalize.KindPhone, Address: "+15558675310"}, Text: "benchmark"}
		msgs = append(msgs, core.Inbound{Message: &m})
		if len(msgs) == batch || i == b.N-1 {
			if _, err := e.svc.HandleInbound(ctx, msgs); err != nil {
				b.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64((processCPU()-goStart).Microseconds())/float64(b.N), "go-cpu-us/msg")
	if db != nil {
		var used time.Duration
		for pid, t := range backendsCPU(b, db, dbStart) {
			used += t - dbStart[pid]
		}
		b.ReportMetric(float64(used.Microseconds())/float64(b.N), "db-cpu-us/msg")
	}
}

// newCPUBenchEnv is newBenchEnv with, on PostgreSQL, the store's
// connections named so that backendsCPU finds their backends (db).
func newCPUBenchEnv(b *testing.B, dialect string) (*env, *sql.DB) {
	if dialect != sqlstore.Postgres {
		return newBenchEnv(b, dialect), nil
	}
	clock := sqltest.NewClock()
	name := fmt.Sprintf("bench%d", time.Now().UnixNano())
	store, err := sqlstore.Open(ctx, sqltest.URL(b, dialect)+"&application_name="+name, sqlstore.WithClock(clock.Now))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	svc := core.NewService(store, withDefaults(core.Policy{}), core.EventTopics{Events: "gateway.events.v1", DLQ: "gateway.dlq.v1"},
		slog.New(slog.NewTextHandler(io.Discard, nil)), core.NewMetrics(nil))
	db, err := sql.Open("pgx", os.Getenv("GATEWAY_TEST_DATABASE_URL"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(ctx, `SELECT set_config('application_name', 'bench_watch', false)`); err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	_, err = db.ExecContext(ctx, `SELECT 1`)
	if err != nil {
		b.Fatal(err)
	}
	benchApp[db] = name
	return &env{svc: svc, store: store, clock: clock}, db
}

// benchApp is the application_name of each benchmark store's connections.
var benchApp = map[*sql.DB]string{}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendsCPU is the CPU time used by each backend of the benchmark's
// store (read from /proc: the database runs on this machine), and by those
// of since that have ended meanwhile. Nil for no database.
func backendsCPU(b *testing.B, db *sql.DB, since map[int]time.Duration) map[int]time.Duration {
	if db == nil {
		return nil
	}
	out := map[int]time.Duration{}
	rows, err := db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, benchApp[db])
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // ended, or on another machine
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		out[pid] = time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ is 100
	}
	for pid, t := range since {
		if _, ok := out[pid]; !ok {
			out[pid] = t // its use after the last look is lost
		}
	}
	return out
}

// benchBatch is the batch size of BenchmarkHandleInbound (GATEWAY_BENCH_BATCH, default 500).
func benchBatch() int {
	if n, err := strconv.Atoi(os.Getenv("GATEWAY_BENCH_BATCH")); err == nil && n > 0 {
		return n
	}
	return 500
}
