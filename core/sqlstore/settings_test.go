package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// The gateway's PostgreSQL sessions run without JIT compilation and
// parallel workers (a page's unread counts took 238 ms with them on a
// database without statistics, 6 ms without), unless DATABASE_URL names
// the setting itself.
func TestPostgresSessionsAreOLTP(t *testing.T) {
	url := sqltest.URL(t, "postgres")
	if url == "" {
		t.Skip("no PostgreSQL")
	}
	show := func(url, name string) string {
		t.Helper()
		s, err := sqlstore.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var v string
		if err := sqlstore.DB(s).QueryRowContext(context.Background(), "SHOW "+name).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := show(url, "jit"); got != "off" {
		t.Errorf("jit = %s, want off", got)
	}
	if got := show(url, "max_parallel_workers_per_gather"); got != "0" {
		t.Errorf("max_parallel_workers_per_gather = %s, want 0", got)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	if got := show(url+sep+"max_parallel_workers_per_gather=1", "max_parallel_workers_per_gather"); got != "1" {
		t.Errorf("with the setting in the URL: max_parallel_workers_per_gather = %s, want 1", got)
	}
}
