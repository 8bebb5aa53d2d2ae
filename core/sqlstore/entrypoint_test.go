package sqlstore_test

import (
	"context"
	"database/sql"
	"maps"
	"strings"
	"testing"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// The migration that adds conversations.entry_point gives the conversations
// of an older schema the entry point of their first message (notes do not
// count), ” when they have none; GET ?entry_point= then finds them.
func TestEntryPointMigrationBackfillsFromTheFirstMessage(t *testing.T) {
	for _, dialect := range sqltest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			url := sqltest.URL(t, dialect)
			driver, dsn := "pgx", url
			if dialect == sqlstore.SQLite {
				driver, dsn = "sqlite", "file:"+url
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if err := sqlstore.MigrateUpTo(ctx, db, dialect, 70); err != nil {
				t.Fatal(err)
			}
			stmts := []string{`INSERT INTO customers (id, created_at) VALUES ('cust', 1)`}
			convs := map[string]string{"sms": "twilio", "cloud": "whatsapp", "call": "voice", "chat": "webchat", "bare": "", "noted": ""}
			for id := range convs {
				stmts = append(stmts, `INSERT INTO conversations (id, customer_id, status, created_at, updated_at, last_activity_at)
					VALUES ('`+id+`', 'cust', 'closed', 1, 1, 1)`)
			}
			// id, conversation, kind, channel, provider, created_at
			for _, m := range [][6]string{
				{"m1", "sms", "message", "sms", "twilio", "10"}, {"m2", "sms", "message", "whatsapp", "meta_whatsapp", "20"},
				{"m3", "cloud", "message", "whatsapp", "meta_whatsapp", "10"}, {"m4", "cloud", "message", "whatsapp", "twilio", "20"},
				{"m5", "call", "message", "voice", "twilio", "10"},
				{"m6", "chat", "note", "", "", "5"}, {"m7", "chat", "message", "chat", "webchat", "10"},
				{"m8", "noted", "note", "", "", "10"},
			} {
				stmts = append(stmts, `INSERT INTO messages (id, conversation_id, customer_id, kind, channel, provider, body, created_at)
					VALUES ('`+strings.Join([]string{m[0], m[1], "cust", m[2], m[3], m[4], "{}"}, `', '`)+`', `+m[5]+`)`)
			}
			for _, q := range stmts {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			s, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got := map[string]string{}
			err = s.InTx(ctx, func(tx core.Tx) error {
				for id := range convs {
					c, _, err := tx.Conversations.ConversationByID(ctx, id)
					got[id] = c.EntryPoint
					if err != nil {
						return err
					}
				}
				listed, err := tx.Query.ListConversations(ctx, core.ConversationFilter{EntryPoint: "whatsapp", Limit: 10})
				if len(listed) != 1 || listed[0].ID != "cloud" {
					t.Errorf("?entry_point=whatsapp after the migration: %+v, want the cloud conversation", listed)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, convs) {
				t.Errorf("backfilled entry points %v, want %v", got, convs)
			}
		})
	}
}

// The first page of ?entry_point= (with another filter) is a seek in
// newest-activity order on conversations_entry_point, with no sort of the
// entry point's conversations (SQLite's plan is deterministic; PostgreSQL
// plans the same on this index).
func TestEntryPointListSeeksItsIndex(t *testing.T) {
	s := sqltest.Open(t, sqlstore.SQLite)
	rows, err := s.DB().QueryContext(context.Background(), `EXPLAIN QUERY PLAN SELECT id FROM conversations
		WHERE 1 = 1 AND entry_point = 'twilio' AND status = 'new' ORDER BY last_activity_at DESC, id DESC LIMIT 51`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	got := strings.Join(plan, "; ")
	if !strings.Contains(got, "USING INDEX conversations_entry_point (entry_point=?)") || strings.Contains(got, "TEMP B-TREE") {
		t.Errorf("plan %q, want a seek on conversations_entry_point without a sort", got)
	}
}
