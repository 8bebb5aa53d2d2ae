package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

// chunkSize bounds the rows of one bulk statement: SQLite takes at most
// 32,766 parameters a statement and PostgreSQL 65,535, and the widest bulk
// statement (a conversation) has 26 a row. A batch of up to 1,000 messages
// makes one statement of each kind, each a round trip on PostgreSQL.
const chunkSize = 1000

// eventChunk bounds the events of one statement (five parameters each): a
// batch of 1,000 messages from new customers makes 3,000.
const eventChunk = 6000

// inChunks calls f for each chunk of at most chunkSize ids with the chunk's
// placeholder list, "(?, ?, …)", and the ids as its arguments.
func inChunks(ids []string, f func(in string, args []any) error) error {
	for start := 0; start < len(ids); start += chunkSize {
		chunk := ids[start:min(start+chunkSize, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		if err := f("(?"+strings.Repeat(", ?", len(chunk)-1)+")", args); err != nil {
			return err
		}
	}
	return nil
}

// inList calls f for each chunk of ids with the chunk's list, for "IN "
// + list, and its arguments: on PostgreSQL "(SELECT unnest(?::text[]))"
// with the chunk as one array (the statement's text is the same whatever
// the number of ids), on SQLite "(?, ?, …)" with the ids.
func (t *tx) inList(ids []string, f func(in string, args []any) error) error {
	if t.s.dialect != Postgres {
		return inChunks(ids, f)
	}
	for start := 0; start < len(ids); start += chunkSize {
		if err := f(`(SELECT unnest(?::text[]))`, []any{ids[start:min(start+chunkSize, len(ids))]}); err != nil {
			return err
		}
	}
	return nil
}

func placeholders(rows, cols int) string {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return row + strings.Repeat(", "+row, rows-1)
}

// CustomersByIdentities reads customers by identity, one statement per
// kind and chunk (an IN list on one column plans much faster than row values).
func (t *tx) CustomersByIdentities(ctx context.Context, ids []core.Identity) (map[core.Identity]core.Customer, error) {
	out := make(map[core.Identity]core.Customer, len(ids))
	byKind := map[string][]string{}
	for _, id := range ids {
		byKind[id.Kind] = append(byKind[id.Kind], id.Address)
	}
	for kind, addrs := range byKind {
		err := t.inList(addrs, func(in string, args []any) error {
			rows, err := t.query(ctx, `SELECT i.address, c.id, c.name, c.created_at FROM identities i
				JOIN customers c ON c.id = i.customer_id WHERE i.kind = ? AND i.address IN `+in, append([]any{kind}, args...)...)
			if err != nil {
				return fmt.Errorf("sqlstore: customers by identities: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var c core.Customer
				var addr string
				var created int64
				if err := rows.Scan(&addr, &c.ID, &c.Name, &created); err != nil {
					return err
				}
				c.CreatedAt = fromMicros(created)
				out[core.Identity{Kind: kind, Address: addr}] = c
			}
			return rows.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *tx) LockCustomers(ctx context.Context, ids []string) error {
	if t.s.dialect != Postgres || len(ids) == 0 {
		return nil
	}
	sorted := append([]string{}, ids...)
	sort.Strings(sorted)
	return t.inList(sorted, func(in string, args []any) error {
		rows, err := t.query(ctx, `SELECT id FROM customers WHERE id IN `+in+` ORDER BY id FOR UPDATE`, args...)
		if err != nil {
			return fmt.Errorf("sqlstore: lock customers: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlstore: lock customers: %w", err)
		}
		return nil
	})
}

// StoredProviderIDs reads which provider ids are stored, one statement per
// provider and chunk.
func (t *tx) StoredProviderIDs(ctx context.Context, keys []core.ProviderKey) (map[core.ProviderKey]bool, error) {
	out := map[core.ProviderKey]bool{}
	for provider, pids := range idsByProvider(keys) {
		err := t.inList(pids, func(in string, args []any) error {
			rows, err := t.query(ctx, `SELECT provider_message_id FROM messages WHERE provider = ?
				AND provider_message_id IN `+in, append([]any{provider}, args...)...)
			if err != nil {
				return fmt.Errorf("sqlstore: stored provider ids: %w", err)
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				out[core.ProviderKey{Provider: provider, ID: id}] = true
			}
			return rows.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// idsByProvider groups the provider ids of keys by provider.
func idsByProvider(keys []core.ProviderKey) map[string][]string {
	out := map[string][]string{}
	for _, k := range keys {
		out[k.Provider] = append(out[k.Provider], k.ID)
	}
	return out
}

func (t *tx) ActiveConversations(ctx context.Context, customerIDs []string) (map[string]core.Conversation, error) {
	out := map[string]core.Conversation{}
	err := t.inList(customerIDs, func(in string, args []any) error {
		cs, err := t.conversations(ctx, `status <> 'closed' AND customer_id IN `+in, args...)
		for _, c := range cs {
			out[c.CustomerID] = c
		}
		return err
	})
	return out, err
}

func messageArgs(m core.StoredMessage) ([]any, error) {
	body, err := json.Marshal(m.Message)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: encode message: %w", err)
	}
	var errJSON sql.NullString
	if m.Error != nil {
		b, _ := json.Marshal(m.Error)
		errJSON = sql.NullString{String: string(b), Valid: true}
	}
	var pmid sql.NullString
	if m.Message.ProviderMessageID != "" {
		pmid = sql.NullString{String: m.Message.ProviderMessageID, Valid: true}
	}
	return []any{m.ID, m.ConversationID, m.CustomerID, m.Kind, m.Direction, m.Channel, m.Message.Provider, pmid,
		m.Status, errJSON, m.Author, string(body), micros(m.CreatedAt)}, nil
}

// messageInto is the start of an insert of messages, before its rows.
const messageInto = `INSERT INTO messages (id, conversation_id, customer_id, kind, direction, channel, provider,
	provider_message_id, status, error, author, body, created_at) `

const insertMessage = messageInto + `VALUES `

// messageTypes are the PostgreSQL types of messageArgs.
var messageTypes = []string{"text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "bigint"}

// WriteBatch writes a batch's conversations and messages: made are
// inserted first (it stops there if one of them was not: its customer has
// an active conversation already), then changed are updated, then ms are
// stored, skipping stored provider ids. It returns how many conversations
// and messages it inserted. On PostgreSQL each conversation's inbound
// count takes the customer messages of ms in that one write, and the
// messages' insert trigger leaves it alone (migration 00085); on SQLite the
// trigger counts each message as it is inserted.
func (t *tx) WriteBatch(ctx context.Context, made, changed []core.Conversation, ms []core.StoredMessage) (int, int, error) {
	var inbound map[string]int64
	if t.s.dialect == Postgres {
		inbound = inboundCounts(ms)
	}
	written := map[string]bool{}
	for _, c := range changed {
		written[c.ID] = true
	}
	n, err := t.insertConversations(ctx, made, inbound)
	if err != nil || n != len(made) {
		return n, 0, err
	}
	for _, c := range made {
		written[c.ID] = true
	}
	if err := t.updateConversations(ctx, changed, inbound); err != nil {
		return n, 0, err
	}
	// A message of a conversation the batch does not write.
	rest := map[string]int64{}
	for id, k := range inbound {
		if !written[id] {
			rest[id] = k
		}
	}
	if err := t.addInbound(ctx, rest); err != nil {
		return n, 0, err
	}
	m, err := t.insertMessages(ctx, ms, inbound != nil)
	return n, m, err
}

// inboundCounts are the customer messages (kind message, inbound) of ms by
// conversation: what they add to the conversations' inbound counts.
func inboundCounts(ms []core.StoredMessage) map[string]int64 {
	out := map[string]int64{}
	for _, m := range ms {
		if m.Kind == core.KindMessage && m.Direction == normalize.Inbound {
			out[m.ConversationID]++
		}
	}
	return out
}

// addInbound adds n[id] to conversation id's inbound count.
func (t *tx) addInbound(ctx context.Context, n map[string]int64) error {
	if len(n) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(n))
	for id, k := range n {
		rows = append(rows, []any{id, k})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i][0].(string) < rows[j][0].(string) })
	err := t.updateFrom(ctx, "conversations", []string{"id", "n"}, []string{"text", "bigint"},
		[]string{"inbound_count = conversations.inbound_count + v.n"}, rows)
	if err != nil {
		return fmt.Errorf("sqlstore: inbound counts: %w", err)
	}
	return nil
}

// insertMessages stores ms, a statement per chunk, skipping stored
// provider ids, and returns how many it stored. counted: their
// conversations' inbound counts already hold ms's customer messages, so the
// insert trigger leaves them (PostgreSQL); those of a message skipped are
// taken back.
func (t *tx) insertMessages(ctx context.Context, ms []core.StoredMessage, counted bool) (int, error) {
	stored := make(map[string]bool, len(ms))
	for start := 0; start < len(ms); start += chunkSize {
		chunk := ms[start:min(start+chunkSize, len(ms))]
		rows := make([][]any, len(chunk))
		for i, m := range chunk {
			a, err := messageArgs(m)
			if err != nil {
				return 0, err
			}
			rows[i] = a
		}
		values, args, err := t.rowSource(messageTypes, rows)
		if err != nil {
			return 0, fmt.Errorf("sqlstore: insert messages: %w", err)
		}
		if counted { // for the next insert only: its trigger sets it back
			if _, err := t.exec(ctx, `SELECT set_config('gateway.inbound_counted', 'on', true)`); err != nil {
				return 0, fmt.Errorf("sqlstore: insert messages: %w", err)
			}
		}
		if err := t.insertMessageRows(ctx, values, args, stored); err != nil {
			return 0, err
		}
	}
	skipped := map[string]int64{}
	for _, m := range ms {
		if counted && !stored[m.ID] && m.Kind == core.KindMessage && m.Direction == normalize.Inbound {
			skipped[m.ConversationID]--
		}
	}
	return len(stored), t.addInbound(ctx, skipped)
}

// insertMessageRows inserts the rows of values (rowSource's, and args),
// skipping stored provider ids, and notes the ids stored.
func (t *tx) insertMessageRows(ctx context.Context, values string, args []any, stored map[string]bool) error {
	rows, err := t.query(ctx, messageInto+values+` ON CONFLICT DO NOTHING RETURNING id`, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: insert messages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("sqlstore: insert messages: %w", err)
		}
		stored[id] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: insert messages: %w", err)
	}
	return nil
}

// conversationTypes are the PostgreSQL types of conversationColumns.
var conversationTypes = []string{"text", "text", "text", "text", "text", "bigint", "bigint", "bigint", "bigint", "text", "bigint",
	"text", "text", "text", "bigint", "integer", "integer", "bigint", "double precision", "double precision",
	"text", "text", "text", "bigint"}

// updateConversations writes every field of each conversation of cs, its
// inbound count taking inbound[id] more.
func (t *tx) updateConversations(ctx context.Context, cs []core.Conversation, inbound map[string]int64) error {
	cols := strings.Split(strings.Join(strings.Fields(conversationColumns), ""), ",")
	var set []string
	for _, col := range cols[1:] {
		set = append(set, col+" = v."+col)
	}
	set = append(set, "inbound_count = conversations.inbound_count + v.inbound")
	cols = append(cols, "inbound")
	types := append(append([]string{}, conversationTypes...), "bigint")
	rows := make([][]any, len(cs))
	for i, c := range cs {
		rows[i] = append(append([]any{c.ID}, conversationArgs(c)...), inbound[c.ID])
	}
	if err := t.updateFrom(ctx, "conversations", cols, types, set, rows); err != nil {
		return fmt.Errorf("sqlstore: update conversations: %w", err)
	}
	return nil
}

// updateFrom updates table's rows from the values rows of columns cols
// (the first is the key), one statement per chunk: set are the
// assignments, which read the values as v.<column> (nil: each column but
// the key is set to its value). types are the columns' PostgreSQL types,
// of the arrays that carry the rows there (rowSource).
func (t *tx) updateFrom(ctx context.Context, table string, cols, types, set []string, rows [][]any) error {
	if set == nil {
		for _, col := range cols[1:] {
			set = append(set, col+" = v."+col)
		}
	}
	for start := 0; start < len(rows); start += chunkSize {
		values, args, err := t.rowSource(types, rows[start:min(start+chunkSize, len(rows))])
		if err != nil {
			return err
		}
		q := `UPDATE ` + table + ` SET ` + strings.Join(set, ", ") + ` FROM (` + values + `) AS v(` + strings.Join(cols, ", ") + `)`
		if t.s.dialect != Postgres { // SQLite names a VALUES list's columns only in a WITH
			q = `WITH v(` + strings.Join(cols, ", ") + `) AS (` + values + `) UPDATE ` + table + ` SET ` + strings.Join(set, ", ") + ` FROM v`
		}
		if _, err := t.exec(ctx, q+` WHERE `+table+`.`+cols[0]+` = v.`+cols[0], args...); err != nil {
			return err
		}
	}
	return nil
}
