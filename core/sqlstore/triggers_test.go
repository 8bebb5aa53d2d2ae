package sqlstore_test

import (
	"context"
	"testing"

	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// On PostgreSQL the running counts follow a batch once per statement: a
// batch of 500 messages updates 500 conversations in one statement, and a
// row trigger would write the counts rows for each of them (migration
// 00079). No trigger of the tables a batch writes runs per row, except the
// one for a message moved to another conversation, which batches never do.
func TestBatchTablesHaveNoRowTriggers(t *testing.T) {
	s := sqltest.Open(t, "postgres")
	rows, err := s.DB().QueryContext(context.Background(), `SELECT c.relname, t.tgname FROM pg_trigger t
		JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND NOT t.tgisinternal AND (t.tgtype & 1) = 1
		AND c.relname IN ('conversations', 'messages', 'contacts', 'customers', 'identities', 'event_outbox')
		AND t.tgname <> 'message_inbound_update'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, name string
		if err := rows.Scan(&table, &name); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s has the row trigger %s: a batch would run it once per row", table, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
