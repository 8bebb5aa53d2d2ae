package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opengateway/gateway/core"
)

const contactColumns = `id, conversation_id, channel, started_by, started_at, last_activity_at, ended_at, end_reason, ended_by`

func scanContact(sc interface{ Scan(...any) error }) (core.Contact, error) {
	var c core.Contact
	var started, last int64
	var ended sql.NullInt64
	if err := sc.Scan(&c.ID, &c.ConversationID, &c.Channel, &c.StartedBy, &started, &last, &ended, &c.EndReason, &c.EndedBy); err != nil {
		return c, err
	}
	c.StartedAt, c.LastActivityAt = fromMicros(started), fromMicros(last)
	if ended.Valid {
		at := fromMicros(ended.Int64)
		c.EndedAt = &at
	}
	return c, nil
}

func endedMicros(c core.Contact) any {
	if c.EndedAt == nil {
		return nil
	}
	return micros(*c.EndedAt)
}

func (t *tx) contact(ctx context.Context, what, where string, args ...any) (core.Contact, bool, error) {
	c, err := scanContact(t.row(ctx, `SELECT `+contactColumns+` FROM contacts WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Contact{}, false, nil
	}
	if err != nil {
		return core.Contact{}, false, fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	return c, true, nil
}

func (t *tx) OpenContact(ctx context.Context, conversationID, channel string) (core.Contact, bool, error) {
	return t.contact(ctx, "open contact", `conversation_id = ? AND channel = ? AND ended_at IS NULL`, conversationID, channel)
}

func (t *tx) ContactByID(ctx context.Context, id string) (core.Contact, bool, error) {
	return t.contact(ctx, "contact", `id = ?`, id)
}

func (t *tx) InsertContact(ctx context.Context, c core.Contact) error {
	_, err := t.exec(ctx, `INSERT INTO contacts (`+contactColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.ConversationID, c.Channel, c.StartedBy, micros(c.StartedAt), micros(c.LastActivityAt), endedMicros(c), c.EndReason, c.EndedBy)
	if err != nil {
		return fmt.Errorf("sqlstore: insert contact: %w", err)
	}
	return nil
}

func (t *tx) UpdateContact(ctx context.Context, c core.Contact) error {
	_, err := t.exec(ctx, `UPDATE contacts SET last_activity_at = ?, ended_at = ?, end_reason = ?, ended_by = ? WHERE id = ?`,
		micros(c.LastActivityAt), endedMicros(c), c.EndReason, c.EndedBy, c.ID)
	if err != nil {
		return fmt.Errorf("sqlstore: update contact: %w", err)
	}
	return nil
}

func (t *tx) contacts(ctx context.Context, where string, args ...any) ([]core.Contact, error) {
	return t.contactRows(ctx, `SELECT `+contactColumns+` FROM contacts WHERE `+where, args...)
}

// contactRows reads the contacts a query of contactColumns selects.
func (t *tx) contactRows(ctx context.Context, query string, args ...any) ([]core.Contact, error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: contacts: %w", err)
	}
	defer rows.Close()
	var out []core.Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: contacts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *tx) Contacts(ctx context.Context, conversationID string) ([]core.Contact, error) {
	return t.contacts(ctx, `conversation_id = ? ORDER BY started_at, id`, conversationID)
}

func (t *tx) LatestContacts(ctx context.Context, conversationIDs []string, n int) ([]core.Contact, error) {
	reset, err := t.planWithout(ctx, "enable_seqscan") // a page's contacts by contacts_conversation
	if err != nil {
		return nil, err
	}
	defer reset()
	return t.latestContacts(ctx, conversationIDs, n)
}

// latestContacts reads the latest n contacts of each conversation, oldest
// first. On PostgreSQL, one statement: for each conversation a walk back
// of its contacts by contacts_conversation that stops after n (with
// enable_seqscan off, as the planner would otherwise read all of contacts
// without statistics).
func (t *tx) latestContacts(ctx context.Context, conversationIDs []string, n int) ([]core.Contact, error) {
	if t.s.dialect == Postgres {
		out, err := t.contactRows(ctx, `SELECT l.* FROM unnest(?::text[]) AS page(id)
			CROSS JOIN LATERAL (SELECT `+contactColumns+` FROM contacts WHERE conversation_id = page.id
			ORDER BY started_at DESC, id DESC LIMIT ?) AS l`, conversationIDs, n)
		slices.SortFunc(out, func(a, b core.Contact) int {
			if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		return out, err
	}
	var out []core.Contact
	err := t.inList(conversationIDs, func(in string, args []any) error {
		cs, err := t.contacts(ctx, `id IN (SELECT id FROM (SELECT id,
			ROW_NUMBER() OVER (PARTITION BY conversation_id ORDER BY started_at DESC, id DESC) AS n
			FROM contacts WHERE conversation_id IN `+in+`) latest WHERE n <= ?)
			ORDER BY started_at, id`, append(args, n)...)
		out = append(out, cs...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (t *tx) IdleContacts(ctx context.Context, channel string, before time.Time, limit int) ([]core.Contact, error) {
	return t.contacts(ctx, `channel = ? AND ended_at IS NULL AND last_activity_at < ? ORDER BY last_activity_at, id LIMIT ?`,
		channel, micros(before), limit)
}

func (t *tx) OpenContacts(ctx context.Context, conversationIDs []string) ([]core.Contact, error) {
	return t.contactsIn(ctx, `ended_at IS NULL AND `, conversationIDs, ``)
}

// contactsIn returns the contacts of conversations (before and after frame
// the conversation_id condition), a chunk of ids per query.
func (t *tx) contactsIn(ctx context.Context, before string, conversationIDs []string, after string) ([]core.Contact, error) {
	var out []core.Contact
	err := t.inList(conversationIDs, func(in string, args []any) error {
		cs, err := t.contacts(ctx, before+`conversation_id IN `+in+after, args...)
		out = append(out, cs...)
		return err
	})
	return out, err
}

// UpdateContacts writes contacts in one statement per chunk.
func (t *tx) UpdateContacts(ctx context.Context, cs []core.Contact) error {
	rows := make([][]any, len(cs))
	for i, c := range cs {
		rows[i] = []any{c.ID, micros(c.LastActivityAt), endedMicros(c), c.EndReason, c.EndedBy}
	}
	if err := t.updateFrom(ctx, "contacts", []string{"id", "last_activity_at", "ended_at", "end_reason", "ended_by"},
		[]string{"text", "bigint", "bigint", "text", "text"}, nil, rows); err != nil {
		return fmt.Errorf("sqlstore: update contacts: %w", err)
	}
	return nil
}
