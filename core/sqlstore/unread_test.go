package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// unreadReference counts an agent's unread figures from the messages: the
// customer's messages after the agent's read mark, of the active
// conversations the agent sees (the query AgentFigures ran before the
// running counts of migration 00074).
func unreadReference(t *testing.T, db *sql.DB, dialect, agent, inbox string) [2]int {
	t.Helper()
	has := "EXISTS (SELECT 1 FROM json_each(c.visible_to) WHERE value = ?)"
	if dialect == sqlstore.Postgres {
		has = "c.visible_to::jsonb @> jsonb_build_array(?::text)"
	}
	q := `SELECT COUNT(*), COUNT(DISTINCT m.conversation_id) FROM messages m
		LEFT JOIN conversation_reads r ON r.conversation_id = m.conversation_id AND r.agent = ?
		JOIN conversations c ON c.id = m.conversation_id WHERE c.status <> 'closed'
		AND m.kind = 'message' AND m.direction = 'inbound' AND (r.read_at IS NULL OR m.created_at > r.read_at)
		AND (c.visible_to = '[]' OR ` + has + `)`
	if inbox != "" {
		q += " AND c.inbox = '" + inbox + "'"
	}
	if dialect == sqlstore.Postgres {
		q = strings.Replace(strings.Replace(q, "?", "$1", 1), "?", "$2", 1)
	}
	var out [2]int
	if err := db.QueryRow(q, agent, agent).Scan(&out[0], &out[1]); err != nil {
		t.Fatal(err)
	}
	return out
}

// unreadStep is one change of the store: a statement, or a call in a
// transaction.
type unreadStep struct {
	name string
	sql  string
	tx   func(ctx context.Context, tx core.Tx) error
}

func unreadMessage(id, conv, kind, direction string, at int) string {
	return fmt.Sprintf(`INSERT INTO messages (id, conversation_id, customer_id, kind, direction, body, created_at)
		VALUES ('%s', '%s', (SELECT customer_id FROM conversations WHERE id = '%s'), '%s', '%s', '{}', %d)`, id, conv, conv, kind, direction, at)
}

func markRead(conv, agent string, at int) func(ctx context.Context, tx core.Tx) error {
	return func(ctx context.Context, tx core.Tx) error {
		return tx.Reads.MarkRead(ctx, conv, agent, time.UnixMicro(int64(at)))
	}
}

// unreadBase is an older schema's rows: conversations of ann, bob and all,
// with customer messages, replies and notes, and read marks.
var unreadBase = []string{
	`INSERT INTO customers (id, created_at) VALUES ('cu1', 1), ('cu2', 1), ('cu3', 1), ('cu4', 1), ('cu5', 1)`,
	`INSERT INTO conversations (id, customer_id, status, visible_to, created_at, updated_at, last_activity_at) VALUES
		('c1', 'cu1', 'open', '[]', 1, 1, 1), ('c2', 'cu2', 'new', '["ann"]', 1, 1, 1), ('c3', 'cu3', 'waiting', '["bob"]', 1, 1, 1),
		('c4', 'cu4', 'closed', '[]', 1, 1, 1), ('c5', 'cu5', 'open', '[]', 1, 1, 1)`,
	unreadMessage("m1", "c1", "message", "inbound", 10), unreadMessage("m2", "c1", "message", "inbound", 20),
	unreadMessage("m3", "c1", "message", "outbound", 25), unreadMessage("m4", "c2", "message", "inbound", 10),
	unreadMessage("m5", "c2", "note", "", 15), unreadMessage("m6", "c3", "message", "inbound", 10),
	unreadMessage("m7", "c4", "message", "inbound", 10), unreadMessage("m8", "c5", "message", "inbound", 30),
	`INSERT INTO conversation_reads (conversation_id, agent, read_at) VALUES ('c1', 'ann', 15), ('c2', 'ann', 100), ('c3', 'bob', 10), ('c4', 'ann', 5)`,
}

var unreadSteps = []unreadStep{
	{name: "a customer message", sql: unreadMessage("m10", "c1", "message", "inbound", 40)},
	{name: "a reply and a note", sql: unreadMessage("m11", "c1", "message", "outbound", 41)},
	{name: "a note", sql: unreadMessage("m12", "c5", "note", "", 42)},
	{name: "ann reads c1 now", tx: markRead("c1", "ann", 50)},
	{name: "bob reads c1 halfway", tx: markRead("c1", "bob", 20)},
	{name: "a late customer message before the marks", sql: unreadMessage("m13", "c1", "message", "inbound", 18)},
	{name: "a message at the mark", sql: unreadMessage("m14", "c1", "message", "inbound", 50)},
	{name: "ann reads back", tx: markRead("c1", "ann", 19)},
	{name: "a batch", sql: `INSERT INTO messages (id, conversation_id, customer_id, kind, direction, body, created_at) VALUES
		('m20', 'c1', 'cu1', 'message', 'inbound', '{}', 12), ('m21', 'c1', 'cu1', 'message', 'inbound', '{}', 45),
		('m22', 'c5', 'cu5', 'message', 'inbound', '{}', 45), ('m23', 'c2', 'cu2', 'message', 'outbound', '{}', 45),
		('m24', 'c2', 'cu2', 'message', 'inbound', '{}', 99)`},
	{name: "close", sql: `UPDATE conversations SET status = 'closed' WHERE id = 'c1'`},
	{name: "a message to a closed conversation", sql: unreadMessage("m15", "c1", "message", "inbound", 60)},
	{name: "reopen", sql: `UPDATE conversations SET status = 'open' WHERE id = 'c1'`},
	{name: "waiting", sql: `UPDATE conversations SET status = 'waiting' WHERE id = 'c1'`},
	{name: "visible to bob", tx: func(ctx context.Context, tx core.Tx) error {
		return tx.Visibility.SetVisibleTo(ctx, "c1", []string{"bob"}, time.UnixMicro(70))
	}},
	{name: "visible to all", tx: func(ctx context.Context, tx core.Tx) error {
		return tx.Visibility.SetVisibleTo(ctx, "c3", []string{}, time.UnixMicro(70))
	}},
	{name: "a message moves", sql: `UPDATE messages SET conversation_id = 'c5' WHERE id = 'm2'`},
	{name: "a message is backdated", sql: `UPDATE messages SET created_at = 1 WHERE id = 'm10'`},
	{name: "a message is deleted", sql: `DELETE FROM messages WHERE id = 'm13'`},
	{name: "noise", sql: `UPDATE messages SET body = '{"text":"x"}', status = 'delivered' WHERE id = 'm8'`},
	{name: "to an inbox", sql: `UPDATE conversations SET inbox = 'sales' WHERE id IN ('c1', 'c3')`},
	{name: "noise on a conversation", sql: `UPDATE conversations SET last_activity_at = 99, unreplied = 2 WHERE id = 'c5'`},
	{name: "merge", tx: func(ctx context.Context, tx core.Tx) error {
		if err := tx.Reads.MarkRead(ctx, "c3", "ann", time.UnixMicro(5)); err != nil {
			return err
		}
		return tx.CustomerAdmin.MergeCustomer(ctx, "cu3", "cu4")
	}},
	{name: "erase", tx: func(ctx context.Context, tx core.Tx) error { return tx.CustomerAdmin.EraseCustomer(ctx, "cu2") }},
	{name: "delete", tx: func(ctx context.Context, tx core.Tx) error { return tx.Conversations.DeleteConversation(ctx, "c5") }},
	{name: "a new conversation", sql: `INSERT INTO conversations (id, customer_id, status, visible_to, created_at, updated_at, last_activity_at)
		VALUES ('c6', 'cu5', 'new', '[]', 1, 1, 1)`},
	{name: "its message", sql: unreadMessage("m16", "c6", "message", "inbound", 80)},
	{name: "read to the end", tx: markRead("c6", "ann", 80)},
}

// An agent's unread figures (AgentFigures) come from running counts and
// equal the count of the customer's messages after the agent's read marks,
// on an older schema's rows (the migration's backfill) and after each of a
// mix of changes.
func TestUnreadFiguresMatchTheMessages(t *testing.T) {
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
			if err := sqlstore.MigrateUpTo(ctx, db, dialect, 73); err != nil {
				t.Fatal(err)
			}
			for _, q := range unreadBase {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			s, err := sqlstore.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			compareUnread(t, s, dialect, "the backfill")
			for _, st := range unreadSteps {
				if st.sql != "" {
					if _, err := s.DB().ExecContext(ctx, st.sql); err != nil {
						t.Fatalf("%s: %v", st.name, err)
					}
				} else if err := s.InTx(ctx, func(tx core.Tx) error { return st.tx(ctx, tx) }); err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				compareUnread(t, s, dialect, st.name)
			}
		})
	}
}

func compareUnread(t *testing.T, s *sqlstore.Store, dialect, step string) {
	t.Helper()
	ctx := context.Background()
	for _, agent := range []string{"ann", "bob", "carol"} {
		for _, inbox := range []string{"", "sales"} {
			var f core.AgentFigures
			err := s.InTx(ctx, func(tx core.Tx) error {
				var err error
				f, err = tx.Reads.AgentFigures(ctx, agent, inbox)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			want := unreadReference(t, s.DB(), dialect, agent, inbox)
			if got := [2]int{f.Unread, f.UnreadConversations}; got != want {
				t.Errorf("after %s: %s's unread messages, conversations in inbox %q = %v, want %v", step, agent, inbox, got, want)
			}
		}
		comparePageUnread(t, s, dialect, agent, step)
	}
}

// comparePageUnread checks the unread count each conversation of a list
// carries for agent, and Unread's, against a count of the customer's
// messages after the agent's read mark.
func comparePageUnread(t *testing.T, s *sqlstore.Store, dialect, agent, step string) {
	t.Helper()
	ctx := context.Background()
	var page []core.Conversation
	var byID map[string]int
	err := s.InTx(ctx, func(tx core.Tx) error {
		var err error
		if page, err = tx.Query.ListConversations(ctx, core.ConversationFilter{UnreadOf: agent, Contacts: 3, Limit: 100}); err != nil {
			return err
		}
		ids := make([]string, len(page))
		for i, c := range page {
			ids[i] = c.ID
		}
		byID, err = tx.Reads.Unread(ctx, agent, ids)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	q := `SELECT COUNT(*) FROM messages m LEFT JOIN conversation_reads r ON r.conversation_id = m.conversation_id AND r.agent = ?
		WHERE m.conversation_id = ? AND m.kind = 'message' AND m.direction = 'inbound' AND (r.read_at IS NULL OR m.created_at > r.read_at)`
	if dialect == sqlstore.Postgres {
		q = strings.Replace(strings.Replace(q, "?", "$1", 1), "?", "$2", 1)
	}
	for _, c := range page {
		var want int
		if err := s.DB().QueryRow(q, agent, c.ID).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if c.Unread == nil || *c.Unread != want {
			t.Errorf("after %s: %s's unread messages of %s in a list = %v, want %d", step, agent, c.ID, c.Unread, want)
		}
		if byID[c.ID] != want {
			t.Errorf("after %s: %s's unread messages of %s (Unread) = %d, want %d", step, agent, c.ID, byID[c.ID], want)
		}
		if c.Contacts == nil {
			t.Errorf("after %s: %s listed without its contacts", step, c.ID)
		}
	}
}

// A read mark set while another transaction adds a customer message before
// it counts that message once both commit (PostgreSQL: the mark waits for
// the conversation's row).
func TestUnreadFiguresWithAConcurrentMessage(t *testing.T) {
	if !strings.Contains(strings.Join(sqltest.Dialects, " "), sqlstore.Postgres) {
		t.Skip("no PostgreSQL")
	}
	ctx := context.Background()
	s := sqltest.Open(t, sqlstore.Postgres)
	for _, q := range unreadBase[:len(unreadBase)-1] { // the marks by MarkRead
		if _, err := s.DB().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	err := s.InTx(ctx, func(tx core.Tx) error {
		for _, m := range []func(ctx context.Context, tx core.Tx) error{markRead("c2", "ann", 100), markRead("c3", "bob", 10)} {
			if err := m(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	compareUnread(t, s, sqlstore.Postgres, "the rows")
	other, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Rollback()
	if _, err := other.ExecContext(ctx, unreadMessage("m30", "c1", "message", "inbound", 150)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.InTx(ctx, func(tx core.Tx) error { return markRead("c1", "ann", 200)(ctx, tx) })
	}()
	finished := false
	for !finished && !markWaits(t, s) {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := other.Commit(); err != nil {
		t.Fatal(err)
	}
	if !finished {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	compareUnread(t, s, sqlstore.Postgres, "a mark during a message")
}

// markWaits reports whether a read mark waits for a conversation's row.
func markWaits(t *testing.T, s *sqlstore.Store) bool {
	t.Helper()
	var n int
	if err := s.DB().QueryRow(`SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
		AND query LIKE 'SELECT id FROM conversations WHERE id = $1 FOR UPDATE'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}
