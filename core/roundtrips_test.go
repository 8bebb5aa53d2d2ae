package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/normalize"
)

// A batch of messages to customers who have a conversation costs the same
// number of PostgreSQL statements (round trips) whatever its size: the
// work is read and written in bulk, new customers too. A feature that adds
// a statement per message fails here rather than in a latency benchmark.
// (On SQLite a statement is no round trip.)
func TestBatchRoundTripsDoNotGrowWithTheBatch(t *testing.T) {
	e := newEnv(t, sqlstore.Postgres, core.Policy{})
	from := func(i int) string { return fmt.Sprintf("+1415555%04d", i) }
	batch := func(first, n int) []normalize.Message {
		var ms []normalize.Message
		for i := first; i < first+n; i++ {
			ms = append(ms, sms(from(i), "hi"))
		}
		return ms
	}
	before := e.store.Statements()
	e.receive(batch(0, 60)...) // customers, conversations and contacts made
	// New customers are made in bulk: 5 statements each before, 12 before
	// a customer made in the batch skipped the reads that can find nothing.
	if n := e.store.Statements() - before; n > 20 {
		t.Errorf("a batch of 60 new customers took %d statements, more than 20", n)
	}
	e.clock.Advance(time.Minute) // so every contact's activity is written
	cost := func(ms []normalize.Message) int64 {
		before := e.store.Statements()
		e.receive(ms...)
		return e.store.Statements() - before
	}
	small, large := cost(batch(0, 5)), cost(batch(5, 50))
	t.Logf("statements: batch of 5 %d, batch of 50 %d", small, large)
	if large > small {
		t.Fatalf("a batch of 50 took %d statements, a batch of 5 %d: something is done per message", large, small)
	}
}

// A batch of messages costs the same number of statements whatever its
// size, on both stores: from new customers (customers, identities,
// conversations, contacts, messages and events are each written in bulk)
// and from returning ones, whose conversations are active, reopened, or
// started anew.
func TestBatchStatementsOfNewAndReturningCustomers(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		st := e.store
		batch := func(first, n int) []normalize.Message {
			var ms []normalize.Message
			for i := first; i < first+n; i++ {
				ms = append(ms, sms(fmt.Sprintf("+1415666%04d", i), "hi"))
			}
			return ms
		}
		want := core.ResultCreated
		cost := func(ms []normalize.Message) int64 {
			before := st.Statements()
			for i, r := range e.receive(ms...) {
				if r != want {
					t.Fatalf("message %d: %s, want %s", i, r, want)
				}
			}
			return st.Statements() - before
		}
		small, large := cost(batch(0, 5)), cost(batch(5, 50))
		t.Logf("new customers: batch of 5 %d statements, batch of 50 %d", small, large)
		if large > small {
			t.Errorf("a batch of 50 new customers took %d statements, a batch of 5 %d: something is done per customer", large, small)
		}
		e.clock.Advance(time.Minute) // so every contact's activity is written
		want = core.ResultAttached
		small, large = cost(batch(0, 5)), cost(batch(5, 50))
		t.Logf("returning customers: batch of 5 %d statements, batch of 50 %d", small, large)
		if large > small {
			t.Errorf("a batch of 50 returning customers took %d statements, a batch of 5 %d: something is done per customer", large, small)
		}
		closeAll := func() {
			convs, err := e.svc.ListConversations(ctx, core.ConversationFilter{Active: true, Limit: 100})
			if err != nil || len(convs) != 55 {
				t.Fatalf("%d active conversations (%v), want 55", len(convs), err)
			}
			for _, c := range convs {
				if _, err := e.svc.SetStatus(ctx, c.ID, core.StatusClosed, "", core.AdminActor("ann")); err != nil {
					t.Fatal(err)
				}
			}
		}
		closeAll() // within the reopen window: the next messages reopen
		want = core.ResultReopened
		small, large = cost(batch(0, 5)), cost(batch(5, 50))
		t.Logf("returning customers, conversations reopened: batch of 5 %d statements, batch of 50 %d", small, large)
		if large > small {
			t.Errorf("reopening 50 conversations took %d statements, 5 took %d: something is done per customer", large, small)
		}
		closeAll()
		e.clock.Advance(73 * time.Hour) // past the reopen window: the next messages start conversations
		want = core.ResultCreated
		small, large = cost(batch(0, 5)), cost(batch(5, 50))
		t.Logf("returning customers, new conversations: batch of 5 %d statements, batch of 50 %d", small, large)
		if large > small {
			t.Errorf("50 new conversations of returning customers took %d statements, 5 took %d: something is done per customer", large, small)
		}
	})
}

// On PostgreSQL a batch writes each of its conversations once: a new one
// is inserted with its customer messages already counted, an active one
// updated once, its inbound count (the unread figures' running count)
// taking the batch's customer messages in the same update (migration
// 00085: the messages' insert trigger used to update each conversation a
// second time), and the counts rows take a customer message's changes
// directly, without taking its conversation out of every count and back
// (conversation_counts_apply). The counts equal a recount afterwards.
func TestBatchWritesEachConversationOnce(t *testing.T) {
	e := newEnv(t, sqlstore.Postgres, core.Policy{})
	db := e.store.DB()
	for _, q := range []string{
		`CREATE TABLE conversation_writes (id TEXT NOT NULL, op TEXT NOT NULL)`,
		`CREATE FUNCTION note_conversation_write() RETURNS trigger AS $$
		BEGIN INSERT INTO conversation_writes VALUES (NEW.id, TG_OP); RETURN NULL; END $$ LANGUAGE plpgsql`,
		`CREATE TRIGGER conversation_writes AFTER INSERT OR UPDATE ON conversations
			FOR EACH ROW EXECUTE FUNCTION note_conversation_write()`,
		`ALTER FUNCTION conversation_counts_apply(conversations[], conversations[]) RENAME TO counts_apply_all`,
		`CREATE FUNCTION conversation_counts_apply(olds conversations[], news conversations[]) RETURNS void AS $$
		BEGIN
			INSERT INTO conversation_writes SELECT c.id, 'COUNTED' FROM unnest(olds) AS c;
			PERFORM counts_apply_all(olds, news);
		END $$ LANGUAGE plpgsql`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	batch := func() []normalize.Message { // two messages from each of ten customers, and an echo
		var ms []normalize.Message
		for i := 0; i < 20; i++ {
			ms = append(ms, sms(fmt.Sprintf("+1415777%04d", i%10), "hi"))
		}
		echo := sms("+14157770003", "")
		echo.Direction, echo.Echo, echo.Text = normalize.Outbound, true, "answered from the phone"
		echo.From, echo.To = echo.To, echo.From
		return append(ms, echo)
	}
	writes := func(step string, want map[string]int) {
		t.Helper()
		got := map[string]int{}
		rows, err := db.QueryContext(ctx, `SELECT op, COUNT(*) FROM conversation_writes GROUP BY id, op`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var op string
			var n int
			if err := rows.Scan(&op, &n); err != nil {
				t.Fatal(err)
			}
			got[fmt.Sprintf("%s x%d", op, n)]++
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: conversations written %v, want %v", step, got, want)
		}
		if _, err := db.ExecContext(ctx, `DELETE FROM conversation_writes`); err != nil {
			t.Fatal(err)
		}
		recountInbound(t, e, step)
		recountUnreplied(t, e, step)
	}
	e.receive(batch()...)
	writes("new customers", map[string]int{"INSERT x1": 10})
	e.receive(batch()...)
	writes("returning customers", map[string]int{"UPDATE x1": 10})
	// Assigned, with topics: the counts rows of the agent and the topics
	// take the customer's messages too.
	convs, err := e.svc.ListConversations(ctx, core.ConversationFilter{Active: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range convs[:3] {
		if _, err := e.svc.Assign(ctx, c.ID, "ann", "", core.AdminActor("ann")); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Agents().SetTopics(ctx, c.ID, []string{"billing", "vip"}, core.AdminActor("ann")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM conversation_writes`); err != nil {
		t.Fatal(err)
	}
	e.receive(batch()...)
	writes("returning customers, assigned", map[string]int{"UPDATE x1": 10})
}

// recountInbound compares each conversation's inbound count, and the
// counts rows of kind i, with a count of the customer messages.
func recountInbound(t *testing.T, e *env, step string) {
	t.Helper()
	var wrong, n, inbound, wantN, wantInbound int
	err := e.store.DB().QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM conversations c WHERE inbound_count <> (SELECT COUNT(*) FROM messages m
			WHERE m.conversation_id = c.id AND m.kind = 'message' AND m.direction = 'inbound')),
		(SELECT COALESCE(SUM(n), 0) FROM conversation_counts WHERE kind = 'i'),
		(SELECT COALESCE(SUM(inbound), 0) FROM conversation_counts WHERE kind = 'i'),
		(SELECT COUNT(*) FROM conversations WHERE status <> 'closed' AND inbound_count > 0),
		(SELECT COALESCE(SUM(inbound_count), 0) FROM conversations WHERE status <> 'closed')`).
		Scan(&wrong, &n, &inbound, &wantN, &wantInbound)
	if err != nil {
		t.Fatal(err)
	}
	if wrong != 0 || n != wantN || inbound != wantInbound || wantInbound == 0 {
		t.Errorf("%s: %d conversations miscounted; counts rows: %d conversations, %d messages; recount %d, %d",
			step, wrong, n, inbound, wantN, wantInbound)
	}
}

// recountUnreplied compares the unreplied figures of the counts rows (by
// status, agent and topic) with a sum over the conversations.
func recountUnreplied(t *testing.T, e *env, step string) {
	t.Helper()
	rows, err := e.store.DB().QueryContext(ctx, `SELECT k.kind, k.key, k.n, COALESCE(r.n, 0) FROM
		(SELECT kind, key, SUM(unreplied) AS n FROM conversation_counts WHERE kind IN ('s', 'a', 't') GROUP BY kind, key) k
		FULL JOIN (SELECT 's' AS kind, status AS key, SUM(unreplied) AS n FROM conversations
			WHERE status <> 'closed' AND handler = 'human' GROUP BY status
		UNION ALL SELECT 'a', j.value, SUM(c.unreplied) FROM conversations c, jsonb_array_elements_text(c.assignees::jsonb) j
			WHERE c.status <> 'closed' AND c.handler = 'human' GROUP BY j.value
		UNION ALL SELECT 't', j.value, SUM(c.unreplied) FROM conversations c, jsonb_array_elements_text(c.topics::jsonb) j
			WHERE c.status <> 'closed' AND c.handler = 'human' GROUP BY j.value) r ON r.kind = k.kind AND r.key = k.key
		WHERE k.n IS DISTINCT FROM COALESCE(r.n, 0)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, key string
		var got, want *int64
		if err := rows.Scan(&kind, &key, &got, &want); err != nil {
			t.Fatal(err)
		}
		t.Errorf("%s: unreplied of counts row %s %q = %v, recount %v", step, kind, key, got, want)
	}
}

// A batch of 1,000 messages (GATEWAY_CORE_BATCH at its largest useful size)
// makes one statement of each kind, as a batch of 5 does, on both stores:
// its widest statements (1,000 conversations of 26 columns) stay within
// SQLite's bound on a statement's parameters.
func TestBatchOfAThousandTakesTheStatementsOfFive(t *testing.T) {
	forEachStore(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect, core.Policy{})
		batch := func(first, n int) []normalize.Message {
			var ms []normalize.Message
			for i := first; i < first+n; i++ {
				ms = append(ms, sms(fmt.Sprintf("+1415888%04d", i), "hi"))
			}
			return ms
		}
		cost := func(ms []normalize.Message) int64 {
			before := e.store.Statements()
			e.receive(ms...)
			return e.store.Statements() - before
		}
		if small, large := cost(batch(0, 5)), cost(batch(5, 1000)); large > small {
			t.Errorf("new customers: a batch of 1,000 took %d statements, a batch of 5 %d", large, small)
		}
		e.clock.Advance(time.Minute)
		if small, large := cost(batch(0, 5)), cost(batch(5, 1000)); large > small {
			t.Errorf("returning customers: a batch of 1,000 took %d statements, a batch of 5 %d", large, small)
		}
	})
}
