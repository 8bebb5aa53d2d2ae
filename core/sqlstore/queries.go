package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/opengateway/gateway/core"
)

func (t *tx) ConversationByID(ctx context.Context, id string) (core.Conversation, bool, error) {
	return t.oneConversation(ctx, `id = ?`, id)
}

func (t *tx) conversations(ctx context.Context, where string, args ...any) ([]core.Conversation, error) {
	return t.conversationsQuery(ctx, `SELECT `+conversationRead+` FROM conversations WHERE `+where, args...)
}

// conversationsQuery reads the conversations a query of conversationRead
// selects.
func (t *tx) conversationsQuery(ctx context.Context, query string, args ...any) ([]core.Conversation, error) {
	return t.listRows(ctx, core.ConversationFilter{}, query, args)
}

// newestFirst is the order of the conversation list, which the indexes
// conversations_activity, conversations_status_activity,
// conversations_assignee_activity, conversations_multi_assigned(_status)
// and conversations_unreplied hold: a page is a seek, however many
// conversations there are.
const newestFirst = ` ORDER BY last_activity_at DESC, id DESC LIMIT ?`

// ListConversations reads a page in one statement (its unread counts with
// it, and on PostgreSQL its contacts), on SQLite its contacts in another;
// on PostgreSQL with the planner settings of listPlan.
func (t *tx) ListConversations(ctx context.Context, f core.ConversationFilter) ([]core.Conversation, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if err := t.listPlan(ctx, f); err != nil {
		return nil, err
	}
	page, err := t.listPage(ctx, f)
	if err != nil || len(page) == 0 || f.Contacts <= 0 || t.s.dialect == Postgres {
		return page, err
	}
	ids := make([]string, len(page))
	at := make(map[string]int, len(page))
	for i, c := range page {
		ids[i], at[c.ID] = c.ID, i
		page[i].Contacts = []core.Contact{}
	}
	cts, err := t.latestContacts(ctx, ids, f.Contacts)
	for _, ct := range cts {
		i := at[ct.ConversationID]
		page[i].Contacts = append(page[i].Contacts, ct)
	}
	return page, err
}

// listPlan turns off, on PostgreSQL, the planner methods a list and its
// contacts must not use, for the rest of the transaction (turnOff: no
// statement of its own outside of a transaction): without fresh statistics (no autovacuum) PostgreSQL may guess
// a filter keeps few conversations and fetch and sort every one it keeps
// (a year of them) instead of walking the index in the list's order, which
// each filter but these has; and read all of contacts for a page's.
func (t *tx) listPlan(ctx context.Context, f core.ConversationFilter) error {
	if t.s.dialect != Postgres {
		return nil
	}
	var set []string
	if f.CustomerID == "" && f.Topic == "" && f.Inbox == "" && f.Channel == "" && f.Handler == "" && f.UnreadBy == "" {
		set = append(set, `enable_sort`)
	}
	if f.Contacts > 0 {
		set = append(set, `enable_seqscan`)
	}
	for _, m := range set {
		if err := t.turnOff(ctx, m); err != nil {
			return fmt.Errorf("sqlstore: list plan: %w", err)
		}
	}
	return nil
}

// turnOff turns a PostgreSQL planner method off for the rest of the
// transaction's reads: in the transaction with SET LOCAL once begun, else
// by reading from the sessions that have it off (Store.planned).
func (t *tx) turnOff(ctx context.Context, method string) error {
	if slices.Contains(t.plan, method) {
		return nil
	}
	if t.tx != nil {
		if _, err := t.exec(ctx, `SET LOCAL `+method+` = off`); err != nil {
			return err
		}
	}
	t.plan = append(slices.Clone(t.plan), method)
	return nil
}

// listPage reads a page of the list in one statement. An agent's
// conversations are those they are the assignee of (the first of the
// assignees), and the seldom ones with several assignees where they are
// another: each a walk of its index, the two pages read together and
// merged.
func (t *tx) listPage(ctx context.Context, f core.ConversationFilter) ([]core.Conversation, error) {
	where, args := t.listWhere(f)
	if f.Assignee == "" {
		q, a := t.listQuery(f, where, append(args, f.Limit))
		return t.listRows(ctx, f, q, a)
	}
	own, ownArgs := t.listQuery(f, where+` AND assignee = ?`, append(slices.Clone(args), f.Assignee, f.Limit))
	more, moreArgs := t.listQuery(f, where+` AND assignee <> ? AND assignees LIKE '%,%' AND `+t.s.hasElement("assignees"),
		append(slices.Clone(args), f.Assignee, f.Assignee, f.Limit))
	all, err := t.listRows(ctx, f, `SELECT * FROM (`+own+`) AS own UNION ALL SELECT * FROM (`+more+`) AS more`,
		append(ownArgs, moreArgs...))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b core.Conversation) int {
		if c := b.LastActivityAt.Compare(a.LastActivityAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return all[:min(len(all), f.Limit)], nil
}

// listQuery is the query of a page of conversations by where (args end
// with the limit), with, for f.UnreadOf, its unread count: the customer
// messages less those the agent's read mark has read (running counts,
// migration 00074); and on PostgreSQL, for f.Contacts, each one's latest
// contacts (pageContacts).
func (t *tx) listQuery(f core.ConversationFilter, where string, args []any) (string, []any) {
	cols := conversationRead
	var colArgs []any
	if f.UnreadOf != "" {
		cols += `, inbound_count - COALESCE((SELECT r.read_count FROM conversation_reads r
			WHERE r.conversation_id = conversations.id AND r.agent = ?), 0) AS unread`
		colArgs = append(colArgs, f.UnreadOf)
	}
	if t.s.dialect == Postgres && f.Contacts > 0 {
		cols += `, ` + pageContacts
		colArgs = append(colArgs, f.Contacts)
	}
	args = append(colArgs, args...)
	if t.s.dialect == Postgres && f.CustomerID != "" {
		// A customer's few conversations, found by its index, then
		// sorted: without statistics PostgreSQL would rather walk the
		// whole activity index for them (seconds on a year's history).
		return `SELECT * FROM (SELECT ` + cols + ` FROM conversations WHERE ` + where +
			` OFFSET 0) AS conversations` + newestFirst, args
	}
	return `SELECT ` + cols + ` FROM conversations WHERE ` + where + newestFirst, args
}

// pageContacts is the column of a PostgreSQL list with each conversation's
// latest contacts (the placeholder is how many), a walk back of its
// contacts by contacts_conversation that stops after them, as a JSON array
// (pageContact) or NULL when it has none.
const pageContacts = `(SELECT json_agg(json_build_object('i', l.id, 'c', l.channel, 's', l.started_by, 'a', l.started_at,
		'l', l.last_activity_at, 'e', l.ended_at, 'r', l.end_reason, 'b', l.ended_by))
	FROM (SELECT id, channel, started_by, started_at, last_activity_at, ended_at, end_reason, ended_by FROM contacts
		WHERE conversation_id = conversations.id ORDER BY started_at DESC, id DESC LIMIT ?) AS l) AS contacts`

// pageContact is a contact of pageContacts.
type pageContact struct {
	ID        string `json:"i"`
	Channel   string `json:"c"`
	StartedBy string `json:"s"`
	StartedAt int64  `json:"a"`
	LastAt    int64  `json:"l"`
	EndedAt   *int64 `json:"e"`
	EndReason string `json:"r"`
	EndedBy   string `json:"b"`
}

// decodeContacts sets c.Contacts from a pageContacts column, oldest first.
func decodeContacts(c *core.Conversation, raw []byte) error {
	c.Contacts = []core.Contact{}
	if raw == nil {
		return nil
	}
	var cs []pageContact
	if err := json.Unmarshal(raw, &cs); err != nil {
		return fmt.Errorf("conversation %s contacts: %w", c.ID, err)
	}
	for _, p := range slices.Backward(cs) {
		ct := core.Contact{ID: p.ID, ConversationID: c.ID, Channel: p.Channel, StartedBy: p.StartedBy,
			StartedAt: fromMicros(p.StartedAt), LastActivityAt: fromMicros(p.LastAt), EndReason: p.EndReason, EndedBy: p.EndedBy}
		if p.EndedAt != nil {
			at := fromMicros(*p.EndedAt)
			ct.EndedAt = &at
		}
		c.Contacts = append(c.Contacts, ct)
	}
	slices.SortFunc(c.Contacts, func(a, b core.Contact) int {
		if d := a.StartedAt.Compare(b.StartedAt); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	return nil
}

// listRows reads the conversations of a listQuery (with f.UnreadOf, each
// one's unread count in the column after conversationRead's; then on
// PostgreSQL, with f.Contacts, its contacts).
func (t *tx) listRows(ctx context.Context, f core.ConversationFilter, query string, args []any) ([]core.Conversation, error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: conversations: %w", err)
	}
	defer rows.Close()
	var out []core.Conversation
	var unread int
	var contacts []byte
	var more []any
	if f.UnreadOf != "" {
		more = append(more, &unread)
	}
	withContacts := t.s.dialect == Postgres && f.Contacts > 0
	if withContacts {
		more = append(more, &contacts)
	}
	var sc scanner = rows
	if len(more) > 0 {
		sc = scanMore{rows, more}
	}
	for rows.Next() {
		contacts = nil
		c, err := scanConversation(sc)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: conversations: %w", err)
		}
		if f.UnreadOf != "" {
			n := unread
			c.Unread = &n
		}
		if withContacts {
			if err := decodeContacts(&c, contacts); err != nil {
				return nil, fmt.Errorf("sqlstore: conversations: %w", err)
			}
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// scanMore scans the columns a scanner's caller reads, then more.
type scanMore struct {
	r    scanner
	more []any
}

func (s scanMore) Scan(dest ...any) error { return s.r.Scan(append(dest, s.more...)...) }

// listWhere is the WHERE clause of a conversation list but its assignee.
func (t *tx) listWhere(f core.ConversationFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	add("1 = 1")
	if f.Status != "" {
		add("status = ?", f.Status)
	}
	if f.Inbox != "" {
		add("inbox = ?", f.Inbox)
	}
	if f.Topic != "" {
		add(t.s.hasElement("topics"), f.Topic)
	}
	if f.Unassigned {
		add("assignee = ''")
	}
	if f.CustomerID != "" {
		add("customer_id = ?", f.CustomerID)
	}
	todoFilters(f, add)
	if f.Viewer != nil {
		cond, a := t.s.visibleTo("visible_to", f.Viewer)
		add(cond, a...)
	}
	if f.After != nil {
		// A row value comparison, so that the index seeks to the cursor.
		add("(last_activity_at, id) < (?, ?)", micros(f.After.LastActivityAt), f.After.ID)
	}
	return strings.Join(where, " AND "), args
}

// todoFilters adds the conditions of the to-do views: unreplied, unread,
// channel, entry point, handler and active.
func todoFilters(f core.ConversationFilter, add func(cond string, a ...any)) {
	if f.Unreplied {
		add("unreplied > 0 AND handler = 'human' AND status <> 'closed'")
	}
	if f.UnreadBy != "" {
		add(`EXISTS (SELECT 1 FROM `+unreadFrom+` WHERE m.conversation_id = conversations.id AND `+unreadWhere+`)`, f.UnreadBy)
	}
	if f.Channel != "" {
		add("channel = ?", f.Channel)
	}
	if f.EntryPoint != "" {
		add("entry_point = ?", f.EntryPoint)
	}
	switch f.Handler {
	case "":
	case core.ActorBot:
		add("handler LIKE 'bot:%'")
	default:
		add("handler = ?", f.Handler)
	}
	if f.Active {
		add("status <> 'closed'")
	}
}

func (t *tx) CustomerConversations(ctx context.Context, customerID string) ([]core.Conversation, error) {
	return t.conversations(ctx, `customer_id = ? ORDER BY created_at DESC, id DESC`, customerID)
}

// DueWaiting reads the due waiting conversations in one statement: the
// latest cutoff bounds the scan of the conversations_waiting index, and a
// CASE on entry_point applies each entry point's own cutoff.
func (t *tx) DueWaiting(ctx context.Context, due core.WaitingCutoffs, limit int) ([]core.Conversation, error) {
	latest, args := due.Before, []any{}
	cases := ""
	for _, ep := range slices.Sorted(maps.Keys(due.ByEntryPoint)) {
		cut := due.ByEntryPoint[ep]
		latest = maxTime(latest, cut)
		cases += ` WHEN ? THEN waiting_since <= ?`
		args = append(args, ep, micros(cut))
	}
	where := `status = 'waiting' AND waiting_since <= ?`
	args = append([]any{micros(latest)}, args...)
	if cases != "" {
		where += ` AND CASE entry_point` + cases + ` ELSE waiting_since <= ? END`
		args = append(args, micros(due.Before))
	}
	return t.conversations(ctx, where+` ORDER BY waiting_since LIMIT ?`, append(args, limit)...)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (t *tx) Messages(ctx context.Context, conversationID string) ([]core.StoredMessage, error) {
	return t.messages(ctx, `conversation_id = ? ORDER BY created_at, id`, conversationID)
}

func (t *tx) MessagesAfter(ctx context.Context, conversationID string, after *core.MessageCursor, limit int) ([]core.StoredMessage, error) {
	where, args := afterMessage(`conversation_id = ?`, []any{conversationID}, after)
	return t.messages(ctx, where+` ORDER BY created_at, id LIMIT ?`, append(args, limit)...)
}

func (t *tx) CustomerMessages(ctx context.Context, customerID string, v *core.Viewer, after *core.MessageCursor, limit int) ([]core.StoredMessage, error) {
	vis, visArgs := t.s.visibleTo("visible_to", v)
	where, args := afterMessage(`customer_id = ? AND conversation_id IN (SELECT id FROM conversations WHERE customer_id = ? AND `+vis+`)`,
		append([]any{customerID, customerID}, visArgs...), after)
	return t.messages(ctx, where+` ORDER BY created_at, id LIMIT ?`, append(args, limit)...)
}

// afterMessage adds the keyset condition of a message cursor to a WHERE
// clause: the (created_at, id) order the indexes messages_conversation and
// messages_customer_time hold. A row value comparison, so that both SQLite
// and PostgreSQL seek to the cursor in the index instead of filtering every
// earlier row.
func afterMessage(where string, args []any, after *core.MessageCursor) (string, []any) {
	if after == nil {
		return where, args
	}
	return where + ` AND (created_at, id) > (?, ?)`, append(args, micros(after.CreatedAt), after.ID)
}

func (t *tx) ConversationsByID(ctx context.Context, ids []string) ([]core.Conversation, error) {
	var out []core.Conversation
	err := inChunks(ids, func(in string, args []any) error {
		cs, err := t.conversations(ctx, `id IN `+in, args...)
		out = append(out, cs...)
		return err
	})
	return out, err
}

// messages reads the messages matching a WHERE clause.
func (t *tx) messages(ctx context.Context, where string, args ...any) ([]core.StoredMessage, error) {
	rows, err := t.query(ctx, `SELECT `+messageColumns+` FROM messages WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: messages: %w", err)
	}
	defer rows.Close()
	var out []core.StoredMessage
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *tx) DeleteConversation(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, `DELETE FROM conversation_reads WHERE conversation_id = ?`, id); err != nil {
		return fmt.Errorf("sqlstore: delete read marks: %w", err)
	}
	if _, err := t.exec(ctx, `DELETE FROM contacts WHERE conversation_id = ?`, id); err != nil {
		return fmt.Errorf("sqlstore: delete contacts: %w", err)
	}
	if _, err := t.exec(ctx, `DELETE FROM messages WHERE conversation_id = ?`, id); err != nil {
		return fmt.Errorf("sqlstore: delete messages: %w", err)
	}
	res, err := t.exec(ctx, `DELETE FROM conversations WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete conversation: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return core.Errorf(core.ENOTFOUND, "conversation %s not found", id)
	}
	return nil
}

// CustomerByID reads a customer with its identities in one statement.
func (t *tx) CustomerByID(ctx context.Context, id string) (core.Customer, bool, error) {
	rows, err := t.query(ctx, `SELECT c.id, c.name, c.attributes, c.created_at, i.kind, i.address
		FROM customers c LEFT JOIN identities i ON i.customer_id = c.id
		WHERE c.id = ? AND c.merged_into IS NULL ORDER BY i.created_at, i.kind, i.address`, id)
	if err != nil {
		return core.Customer{}, false, fmt.Errorf("sqlstore: customer: %w", err)
	}
	defer rows.Close()
	var c core.Customer
	var created int64
	var attrs string
	found := false
	for rows.Next() {
		var kind, address sql.NullString
		if err := rows.Scan(&c.ID, &c.Name, &attrs, &created, &kind, &address); err != nil {
			return core.Customer{}, false, fmt.Errorf("sqlstore: customer: %w", err)
		}
		found = true
		if kind.Valid {
			c.Identities = append(c.Identities, core.Identity{Kind: kind.String, Address: address.String})
		}
	}
	if err := rows.Err(); err != nil || !found {
		return core.Customer{}, false, err
	}
	c.CreatedAt = fromMicros(created)
	if c.Attributes, err = decodeAttributes(attrs); err != nil {
		return core.Customer{}, false, err
	}
	return c, true, nil
}

func (t *tx) MergeCustomer(ctx context.Context, from, into string) error {
	for _, q := range []string{
		`UPDATE identities SET customer_id = ? WHERE customer_id = ?`,
		`UPDATE conversations SET customer_id = ? WHERE customer_id = ?`,
		`UPDATE messages SET customer_id = ? WHERE customer_id = ?`,
		`UPDATE customers SET merged_into = ? WHERE id = ?`,
		// Tombstones that pointed at the merged customer now point at the survivor.
		`UPDATE customers SET merged_into = ? WHERE merged_into = ?`,
	} {
		if _, err := t.exec(ctx, q, into, from); err != nil {
			if isUniqueViolation(err) {
				return core.Errorf(core.ECONFLICT, "both customers have an active conversation")
			}
			return fmt.Errorf("sqlstore: merge: %w", err)
		}
	}
	// The survivor keeps its own presets.
	if _, err := t.exec(ctx, `DELETE FROM customer_presets WHERE customer_id = ?`, from); err != nil {
		return fmt.Errorf("sqlstore: merge presets: %w", err)
	}
	return nil
}

func (t *tx) EraseCustomer(ctx context.Context, id string) error {
	for _, q := range []string{
		`DELETE FROM messages WHERE customer_id = ?`,
		`DELETE FROM conversation_reads WHERE conversation_id IN (SELECT id FROM conversations WHERE customer_id = ?)`,
		`DELETE FROM contacts WHERE conversation_id IN (SELECT id FROM conversations WHERE customer_id = ?)`,
		`DELETE FROM conversations WHERE customer_id = ?`,
		`DELETE FROM customer_presets WHERE customer_id = ?`,
		`DELETE FROM identities WHERE customer_id = ?`,
		`DELETE FROM customers WHERE merged_into = ?`,
		`DELETE FROM customers WHERE id = ?`,
	} {
		if _, err := t.exec(ctx, q, id); err != nil {
			return fmt.Errorf("sqlstore: erase customer: %w", err)
		}
	}
	return nil
}

func (t *tx) VisitorHistory(ctx context.Context, id core.Identity, channel string, limit int) ([]core.StoredMessage, error) {
	ms, err := t.messages(ctx, `kind = 'message' AND channel = ? AND NOT (direction = 'outbound' AND status IN ('queued', 'failed'))
		AND customer_id = (SELECT customer_id FROM identities WHERE kind = ? AND address = ?)
		ORDER BY created_at DESC, id DESC LIMIT ?`, channel, id.Kind, id.Address, limit)
	slices.Reverse(ms)
	return ms, err
}

// LastInboundByEntryPoint implements core.QueryTx.
func (t *tx) LastInboundByEntryPoint(ctx context.Context) (map[string]time.Time, error) {
	rows, err := t.query(ctx, `SELECT entry_point, MAX(last_inbound_at) FROM conversations
		WHERE last_inbound_at IS NOT NULL GROUP BY entry_point`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: last inbound by entry point: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var ep string
		var at int64
		if err := rows.Scan(&ep, &at); err != nil {
			return nil, fmt.Errorf("sqlstore: last inbound by entry point: %w", err)
		}
		out[ep] = fromMicros(at)
	}
	return out, rows.Err()
}

// planWithout turns a PostgreSQL planner method off (enable_sort,
// enable_seqscan) for the transaction's next reads (turnOff), until reset
// (a method already off stays off): without
// fresh statistics (no autovacuum) the planner may guess that reading all
// of a table, or sorting all it keeps, is cheaper than the index that
// matches the read. SQLite plans by its indexes alone: nothing to do.
func (t *tx) planWithout(ctx context.Context, method string) (reset func(), err error) {
	if t.s.dialect != Postgres || slices.Contains(t.plan, method) {
		return func() {}, nil
	}
	if err := t.turnOff(ctx, method); err != nil {
		return nil, fmt.Errorf("sqlstore: %s: %w", method, err)
	}
	return func() {
		t.plan = slices.DeleteFunc(slices.Clone(t.plan), func(m string) bool { return m == method })
		if t.tx != nil {
			t.exec(ctx, `SET LOCAL `+method+` TO DEFAULT`)
		}
	}, nil
}
