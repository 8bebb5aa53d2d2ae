// Package sqltest opens test stores: SQLite in a temporary directory and
// PostgreSQL from GATEWAY_TEST_DATABASE_URL, one fresh schema per test. With
// GATEWAY_TEST_REQUIRE_POSTGRES=1 (set by CI) a missing PostgreSQL fails the
// test instead of skipping it.
package sqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/opengateway/gateway/core/sqlstore"
)

// Dialects are the stores every behaviour test runs against.
var Dialects = []string{sqlstore.SQLite, sqlstore.Postgres}

// URL returns a database URL for a fresh, empty store of the dialect: a
// SQLite file path, or a PostgreSQL URL whose search_path is a new schema
// dropped when the test ends. It skips (or fails, in CI) when PostgreSQL is
// not configured.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == sqlstore.SQLite {
		return filepath.Join(t.TempDir(), "gateway.db")
	}
	base := os.Getenv("GATEWAY_TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("GATEWAY_TEST_REQUIRE_POSTGRES") == "1" {
			t.Fatal("GATEWAY_TEST_DATABASE_URL is not set but GATEWAY_TEST_REQUIRE_POSTGRES=1")
		}
		t.Skip("PostgreSQL tests need GATEWAY_TEST_DATABASE_URL")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("postgres at GATEWAY_TEST_DATABASE_URL: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("GATEWAY_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a migrated store of the dialect, closed when the test ends.
func Open(t testing.TB, dialect string, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), URL(t, dialect), opts...)
	if err != nil {
		t.Fatalf("open %s store: %v", dialect, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Clock is a test clock that only moves when told.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at a fixed instant.
func NewClock() *Clock { return &Clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
