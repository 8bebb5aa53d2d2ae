package sqlstore_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/sqlstore"
	"github.com/opengateway/gateway/core/sqlstore/sqltest"
)

// planFill gives a PostgreSQL store n conversations (each of its own
// customer, with a phone identity and three messages) in every status, some
// assigned to ann or bob or both, some visible to bob only, some read by ann;
// each with a contact.
var planFill = []string{
	`INSERT INTO customers (id, created_at) SELECT 'cust' || i, i FROM generate_series(1, $1) i`,
	`INSERT INTO identities (kind, address, customer_id, created_at) SELECT 'phone', '+1415' || lpad(i::text, 7, '0'), 'cust' || i, i
		FROM generate_series(1, $1) i`,
	`INSERT INTO conversations (id, customer_id, status, assignee, assignees, visible_to, topics, unreplied, created_at, updated_at, last_activity_at)
		SELECT 'conv' || i, 'cust' || i, (ARRAY['new', 'new', 'new', 'new', 'open', 'open', 'open', 'closed', 'closed', 'waiting'])[i % 10 + 1],
		CASE WHEN i % 10 BETWEEN 4 AND 8 THEN (ARRAY['ann', 'bob'])[i % 2 + 1] ELSE '' END,
		CASE WHEN i % 10 BETWEEN 4 AND 8 THEN CASE WHEN i % 7 = 0 THEN '["bob","ann"]' ELSE '["' || (ARRAY['ann', 'bob'])[i % 2 + 1] || '"]' END ELSE '[]' END,
		CASE WHEN i % 20 = 0 THEN '["bob"]' ELSE '[]' END, CASE WHEN i % 5 = 0 THEN '["billing"]' ELSE '[]' END,
		i % 3, i, i, i * 1000 FROM generate_series(1, $1) i`,
	`INSERT INTO messages (id, conversation_id, customer_id, kind, direction, channel, provider, body, created_at)
		SELECT 'msg' || i || '-' || k, 'conv' || i, 'cust' || i, 'message', CASE WHEN k = 2 THEN 'outbound' ELSE 'inbound' END,
		'sms', 'twilio', '{}', i * 1000 + k FROM generate_series(1, $1) i, generate_series(0, 2) k`,
	`INSERT INTO contacts (id, conversation_id, channel, started_by, started_at, last_activity_at)
		SELECT 'ct' || i, 'conv' || i, 'sms', 'customer', i * 1000, i * 1000 FROM generate_series(1, $1) i`,
	`INSERT INTO conversation_reads (conversation_id, agent, read_at) SELECT 'conv' || i, 'ann', i * 1000 + 1 FROM generate_series(1, $1, 3) i`,
	`UPDATE conversation_reads r SET active = false FROM conversations c WHERE c.id = r.conversation_id AND c.status = 'closed' AND $1 > 0`,
}

// The reads behind the operator API's lists, figures, lookups and
// timelines seek an index on PostgreSQL, before and after ANALYZE (the
// server may run without autovacuum): no read scans the whole of
// conversations or messages, and no conversation list sorts its matches;
// an agent's own figures (AgentFigures, its unread count among them) read
// running counts and the agent's read marks.
func TestReadsSeekAnIndex(t *testing.T) {
	if !strings.Contains(strings.Join(sqltest.Dialects, " "), sqlstore.Postgres) {
		t.Skip("no PostgreSQL")
	}
	ctx := context.Background()
	s := sqltest.Open(t, sqlstore.Postgres)
	for _, q := range planFill {
		if _, err := s.DB().ExecContext(ctx, q, 20000); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, analyzed := range []bool{false, true} {
		if analyzed {
			if _, err := s.DB().ExecContext(ctx, `ANALYZE`); err != nil {
				t.Fatal(err)
			}
		}
		for name, q := range recordReads(t, s) {
			// A customer's few conversations are sorted; no other list
			// sorts but each of its conversations' few latest contacts
			// (on PostgreSQL read in the page's statement).
			sorts := strings.HasPrefix(name, "list") && !strings.Contains(name, "customer's")
			if strings.HasPrefix(name, "agent figures") && strings.Contains(q.sql, "conversations") {
				// The marks carry what the figures need of their conversations.
				t.Errorf("%s reads conversations: %s", name, q.sql)
			}
			for _, bad := range badNodes(t, s, q, sorts) {
				t.Errorf("analyzed %v: %s: %s in the plan of %s", analyzed, name, bad, q.sql)
			}
		}
	}
}

type read struct {
	sql      string
	args     []any
	settings []string // the SET LOCAL statements before it in its transaction
}

// recordReads runs each read and returns the queries it ran, by name.
func recordReads(t *testing.T, s *sqlstore.Store) map[string]read {
	ctx := context.Background()
	out := map[string]read{}
	name := ""
	n := 0
	var settings []string
	sqlstore.OnRead(func(q string, args []any) {
		if strings.HasPrefix(q, "SET LOCAL") {
			settings = append(settings, q)
			return
		}
		if !strings.HasPrefix(strings.TrimSpace(q), "SELECT") {
			return
		}
		n++
		out[name+"#"+string(rune('0'+n))] = read{q, args, slices.Clone(settings)}
	})
	defer sqlstore.OnRead(nil)
	cursor := &core.Cursor{LastActivityAt: time.UnixMicro(2_000_000).UTC(), ID: "conv2000"}
	viewers := map[string]*core.Viewer{"admin": nil, "ann": {Agent: "ann"}, "unnamed": {}}
	lists := map[string]core.ConversationFilter{
		"first page": {}, "by cursor": {After: cursor}, "open of ann": {Status: "open", Assignee: "ann"},
		"ann's": {Assignee: "ann"}, "ann's by cursor": {Assignee: "ann", After: cursor}, "unreplied": {Unreplied: true},
		"unassigned": {Unassigned: true}, "new": {Status: "new"}, "customer's": {CustomerID: "cust10"},
	}
	reads := map[string]func(tx core.Tx) error{}
	for vn, v := range viewers {
		for ln, f := range lists {
			f.Viewer, f.Limit, f.UnreadOf, f.Contacts = v, 51, "ann", 3 // as the API lists
			reads["list "+ln+" as "+vn] = func(tx core.Tx) error { _, err := tx.Query.ListConversations(ctx, f); return err }
		}
		reads["stats as "+vn] = func(tx core.Tx) error { _, err := tx.Query.Stats(ctx, "ann", "", v); return err }
		reads["timeline as "+vn] = func(tx core.Tx) error { _, err := tx.Query.CustomerMessages(ctx, "cust10", v, nil, 50); return err }
	}
	reads["lookup by address"] = func(tx core.Tx) error {
		_, _, err := tx.Customers.CustomerByIdentity(ctx, core.Identity{Kind: "phone", Address: "+14150000010"})
		return err
	}
	reads["customer"] = func(tx core.Tx) error { _, _, err := tx.Customers.CustomerByID(ctx, "cust10"); return err }
	reads["messages page"] = func(tx core.Tx) error { _, err := tx.Query.MessagesAfter(ctx, "conv10", nil, 50); return err }
	reads["contacts of a page"] = func(tx core.Tx) error {
		_, err := tx.Query.LatestContacts(ctx, []string{"conv10", "conv11"}, 5)
		return err
	}
	reads["agent figures"] = func(tx core.Tx) error { _, err := tx.Reads.AgentFigures(ctx, "ann", ""); return err }
	reads["unread of a page"] = func(tx core.Tx) error {
		_, err := tx.Reads.Unread(ctx, "ann", []string{"conv10", "conv11"})
		return err
	}
	reads["due waiting"] = func(tx core.Tx) error {
		_, err := tx.Query.DueWaiting(ctx, core.WaitingCutoffs{Before: time.UnixMicro(5_000_000)}, 100)
		return err
	}
	reads["due waiting by entry point"] = func(tx core.Tx) error {
		_, err := tx.Query.DueWaiting(ctx, core.WaitingCutoffs{Before: time.UnixMicro(5_000_000),
			ByEntryPoint: map[string]time.Time{"support-uk": time.UnixMicro(9_000_000), "fast": time.UnixMicro(1_000_000)}}, 100)
		return err
	}
	for rn, read := range reads {
		name, n, settings = rn, 0, nil
		if err := s.InTx(ctx, read); err != nil {
			t.Fatalf("%s: %v", rn, err)
		}
	}
	return out
}

// badNodes are the nodes of q's plan that read all of conversations or
// messages, and with sorts true its sorts.
func badNodes(t *testing.T, s *sqlstore.Store, q read, sorts bool) []string {
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for _, set := range q.settings {
		if _, err := tx.ExecContext(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	var raw string
	if err := tx.QueryRowContext(ctx, `EXPLAIN (FORMAT JSON) `+q.sql, q.args...).Scan(&raw); err != nil {
		t.Fatalf("explain %s: %v", q.sql, err)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal([]byte(raw), &plans); err != nil {
		t.Fatal(err)
	}
	var bad []string
	var walk func(n planNode)
	walk = func(n planNode) {
		if n.NodeType == "Seq Scan" && (n.Relation == "conversations" || n.Relation == "messages" || n.Relation == "contacts" ||
			n.Relation == "conversation_reads") {
			bad = append(bad, "Seq Scan on "+n.Relation)
		}
		if n.Relation == "conversations" && strings.Contains(n.Filter, "customer_id") {
			// A customer's conversations are found by its index, not by
			// testing every conversation another index walks.
			bad = append(bad, n.NodeType+" using "+n.Index+" filtering customer_id")
		}
		if n.Relation == "conversation_reads" && n.Index == "conversation_reads_agent" {
			// An agent's marks of closed conversations, which grow with
			// every conversation the agent ever read, are not walked.
			bad = append(bad, n.NodeType+" using conversation_reads_agent")
		}
		if sorts && (n.NodeType == "Sort" || n.NodeType == "Incremental Sort") && reads(n, "conversations") {
			bad = append(bad, n.NodeType)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plans[0].Plan)
	return bad
}

// reads reports whether a plan node or one below it reads relation (a
// sort of a conversation's contacts reads only contacts).
func reads(n planNode, relation string) bool {
	if n.Relation == relation {
		return true
	}
	return slices.ContainsFunc(n.Plans, func(c planNode) bool { return reads(c, relation) })
}

type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Filter   string     `json:"Filter"`
	Plans    []planNode `json:"Plans"`
}
