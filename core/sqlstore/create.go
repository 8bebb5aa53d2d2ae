package sqlstore

import (
	"context"
	"fmt"
	"sort"

	"github.com/opengateway/gateway/core"
)

// CreateCustomers inserts the customers cs, cs[i] owning ids[i], a few
// statements per chunk. The identities are inserted in key order, so two
// transactions taking some of the same identities wait for each other
// instead of deadlocking. An identity another transaction took first is
// returned with its owner, and the customer made for it is deleted.
func (t *tx) CreateCustomers(ctx context.Context, cs []core.Customer, ids []core.Identity) (map[core.Identity]core.Customer, error) {
	order := make([]int, len(cs))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		x, y := ids[order[a]], ids[order[b]]
		return x.Address < y.Address || x.Address == y.Address && x.Kind < y.Kind
	})
	won := map[core.Identity]bool{}
	for start := 0; start < len(order); start += chunkSize {
		chunk := order[start:min(start+chunkSize, len(order))]
		if err := t.insertCustomers(ctx, cs, chunk); err != nil {
			return nil, err
		}
		if err := t.insertIdentities(ctx, cs, ids, chunk, won); err != nil {
			return nil, err
		}
	}
	var lost []core.Identity
	var drop []string
	for i, id := range ids {
		if !won[id] {
			lost = append(lost, id)
			drop = append(drop, cs[i].ID)
		}
	}
	if len(lost) == 0 {
		return nil, nil
	}
	// Another transaction owns these identities: drop ours and use theirs.
	if err := t.execIn(ctx, `DELETE FROM customers WHERE id IN `, drop); err != nil {
		return nil, fmt.Errorf("sqlstore: drop customers: %w", err)
	}
	taken, err := t.CustomersByIdentities(ctx, lost)
	if err != nil {
		return nil, err
	}
	for _, id := range lost {
		if _, ok := taken[id]; !ok {
			return nil, fmt.Errorf("sqlstore: identity %s vanished: %w", id.Kind, core.ErrTransient)
		}
	}
	return taken, nil
}

func (t *tx) insertCustomers(ctx context.Context, cs []core.Customer, chunk []int) error {
	rows := make([][]any, len(chunk))
	for j, i := range chunk {
		rows[j] = []any{cs[i].ID, cs[i].Name, micros(cs[i].CreatedAt)}
	}
	values, args, err := t.rowSource([]string{"text", "text", "bigint"}, rows)
	if err == nil {
		_, err = t.exec(ctx, `INSERT INTO customers (id, name, created_at) `+values, args...)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: insert customers: %w", err)
	}
	return nil
}

// insertIdentities inserts the identities of a chunk, adding those it
// inserted (not owned by another transaction) to won.
func (t *tx) insertIdentities(ctx context.Context, cs []core.Customer, ids []core.Identity, chunk []int, won map[core.Identity]bool) error {
	vals := make([][]any, len(chunk))
	for j, i := range chunk {
		vals[j] = []any{ids[i].Kind, ids[i].Address, cs[i].ID, micros(cs[i].CreatedAt)}
	}
	values, args, err := t.rowSource([]string{"text", "text", "text", "bigint"}, vals)
	if err != nil {
		return fmt.Errorf("sqlstore: insert identities: %w", err)
	}
	rows, err := t.query(ctx, `INSERT INTO identities (kind, address, customer_id, created_at) `+values+`
		ON CONFLICT (address, kind) DO NOTHING RETURNING kind, address`, args...)
	if err != nil {
		return fmt.Errorf("sqlstore: insert identities: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id core.Identity
		if err := rows.Scan(&id.Kind, &id.Address); err != nil {
			return fmt.Errorf("sqlstore: insert identities: %w", err)
		}
		won[id] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlstore: insert identities: %w", err)
	}
	return nil
}

// execIn runs query, which ends with "IN ", for each chunk of ids.
func (t *tx) execIn(ctx context.Context, query string, ids []string) error {
	return t.inList(ids, func(in string, args []any) error {
		_, err := t.exec(ctx, query+in, args...)
		return err
	})
}

// insertConversations inserts conversations, a statement per chunk, each
// with the inbound count inbound[id], skipping any whose customer has an
// active conversation already; it returns how many were inserted.
func (t *tx) insertConversations(ctx context.Context, cs []core.Conversation, inbound map[string]int64) (int, error) {
	total := 0
	for start := 0; start < len(cs); start += chunkSize {
		chunk := cs[start:min(start+chunkSize, len(cs))]
		rows := make([][]any, len(chunk))
		for i, c := range chunk {
			rows[i] = append(append([]any{c.ID}, conversationArgs(c)...), c.EntryPoint, inbound[c.ID])
		}
		values, args, err := t.rowSource(append(conversationTypes[:len(conversationTypes):len(conversationTypes)], "text", "bigint"), rows)
		if err != nil {
			return 0, fmt.Errorf("sqlstore: insert conversations: %w", err)
		}
		res, err := t.exec(ctx, `INSERT INTO conversations (`+conversationColumns+`, entry_point, inbound_count)
			`+values+`
			ON CONFLICT (customer_id) WHERE status <> 'closed' DO NOTHING`, args...)
		if err != nil {
			return 0, fmt.Errorf("sqlstore: insert conversations: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("sqlstore: insert conversations: %w", err)
		}
		total += int(n)
	}
	return total, nil
}

// contactTypes are the PostgreSQL types of contactColumns.
var contactTypes = []string{"text", "text", "text", "text", "bigint", "bigint", "bigint", "text", "text"}

// InsertContacts inserts contacts, a statement per chunk.
func (t *tx) InsertContacts(ctx context.Context, cs []core.Contact) error {
	for start := 0; start < len(cs); start += chunkSize {
		chunk := cs[start:min(start+chunkSize, len(cs))]
		rows := make([][]any, len(chunk))
		for i, c := range chunk {
			rows[i] = []any{c.ID, c.ConversationID, c.Channel, c.StartedBy, micros(c.StartedAt), micros(c.LastActivityAt),
				endedMicros(c), c.EndReason, c.EndedBy}
		}
		values, args, err := t.rowSource(contactTypes, rows)
		if err == nil {
			_, err = t.exec(ctx, `INSERT INTO contacts (`+contactColumns+`) `+values, args...)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: insert contacts: %w", err)
		}
	}
	return nil
}

// LastClosedConversations reads the last closed conversation of each
// customer, a statement per chunk.
func (t *tx) LastClosedConversations(ctx context.Context, customerIDs []string) (map[string]core.Conversation, error) {
	out := map[string]core.Conversation{}
	err := t.inList(customerIDs, func(in string, args []any) error {
		cs, err := t.conversations(ctx, `id IN (SELECT id FROM (SELECT id,
			ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY closed_at DESC, id DESC) AS n
			FROM conversations WHERE status = 'closed' AND customer_id IN `+in+`) last WHERE n = 1)`, args...)
		for _, c := range cs {
			out[c.CustomerID] = c
		}
		return err
	})
	return out, err
}

// CustomersWithPresets reads which customers have presets, a statement
// per chunk.
func (t *tx) CustomersWithPresets(ctx context.Context, customerIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	err := t.inList(customerIDs, func(in string, args []any) error {
		rows, err := t.query(ctx, `SELECT customer_id FROM customer_presets WHERE customer_id IN `+in, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out[id] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: customers with presets: %w", err)
	}
	return out, nil
}
