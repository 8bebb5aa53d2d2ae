package sqlstore_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// The migration lock is taken per schema: while another session holds the
// lock of one schema (an instance migrating it), a gateway whose tables
// live in another schema of the same database migrates without waiting,
// and one of the same schema waits. With one lock for the whole database
// (before) holding a schema's lock stopped nothing, and tests, each in a
// schema of its own, migrated one at a time.
func TestMigrationLockIsPerSchema(t *testing.T) {
	ctx := context.Background()
	url := sqltest.URL(t, sqlstore.Postgres)
	plain, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	var own int32
	err = plain.QueryRowContext(ctx, `SELECT hashtext(current_schema())`).Scan(&own)
	plain.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", os.Getenv("GATEWAY_TEST_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	hold := func(schema int32) func() {
		if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, sqlstore.MigrationLockID(schema)); err != nil {
			t.Fatal(err)
		}
		return func() { holder.ExecContext(ctx, `SELECT pg_advisory_unlock_all()`) }
	}
	open := func(wait time.Duration) error {
		short, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		s, err := sqlstore.Open(short, url)
		if err == nil {
			s.Close()
		}
		return err
	}
	release := hold(own)
	if err := open(2 * time.Second); err == nil {
		t.Fatal("migrated while its own schema's migration lock was held")
	}
	release()
	release = hold(own + 1)
	defer release()
	if err := open(8 * time.Second); err != nil {
		t.Fatalf("migrate while another schema migrates: %v", err)
	}
}
