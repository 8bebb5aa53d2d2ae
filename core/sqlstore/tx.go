package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/normalize"
)

type tx struct {
	s *Store
	// conn is the connection of the store's pool the statements run on,
	// taken at the first one (PostgreSQL); tx is the transaction, begun on
	// SQLite before fn runs and on PostgreSQL at the first statement that
	// writes or locks (needsTx): the reads before it run outside of one,
	// which, at PostgreSQL's READ COMMITTED, read what they would inside
	// (each statement sees what was committed when it started) and save a
	// read-only request its BEGIN and COMMIT.
	conn *sql.Conn
	tx   *sql.Tx
	// plan are the planner methods the reads turn off (listPlan,
	// planWithout): outside of a transaction, the reads run on the pool of
	// sessions that have them off (Store.planned); inside, after SET LOCAL.
	plan []string
	now  time.Time
	// events are written in bulk just before the commit.
	events []core.OutboxEvent
}

// roles is the transaction as core sees it: every role is t.
func (t *tx) roles() core.Tx {
	return core.Tx{Customers: t, CustomerWrites: t, CustomerAdmin: t, Conversations: t, Batch: t, Message: t, Query: t,
		Delivery: t, Dispatch: t, Events: t, Presets: t, Reads: t, Chat: t, Part: t, Visibility: t, Contact: t, Routing: t, Self: t}
}

func (t *tx) Now() time.Time { return t.now }

// querier is where a statement runs: the transaction, the connection or a
// pool of planned sessions.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// on returns where the statement query runs (begun, when it needs a
// transaction, write set) and the query for the dialect; the test hook
// onRead sees it, after the planner settings it runs with.
func (t *tx) on(ctx context.Context, query string, write bool) (querier, string, error) {
	q := t.s.q(query)
	var db querier
	switch {
	case t.tx != nil:
		db = t.tx
	case write || needsTx(query):
		if err := t.begin(ctx); err != nil {
			return nil, q, err
		}
		db = t.tx
	case len(t.plan) > 0:
		db = t.s.planned(t.plan)
		if onRead != nil {
			for _, m := range t.plan {
				onRead(`SET LOCAL `+m+` = off`, nil)
			}
		}
	default:
		if err := t.connect(ctx); err != nil {
			return nil, q, err
		}
		db = t.conn
	}
	return db, q, nil
}

// connect takes, at the first statement, the connection of the store's
// pool the statements run on.
func (t *tx) connect(ctx context.Context) error {
	if t.conn != nil {
		return nil
	}
	c, err := t.s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: connection: %w", err)
	}
	t.conn = c
	return nil
}

// begin begins the transaction on the connection, with the planner
// settings the reads so far had.
func (t *tx) begin(ctx context.Context) error {
	if err := t.connect(ctx); err != nil {
		return err
	}
	t.s.transactions.Add(1)
	sqltx, err := t.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	t.tx = sqltx
	for _, m := range t.plan {
		if _, err := t.exec(ctx, `SET LOCAL `+m+` = off`); err != nil {
			return err
		}
	}
	return nil
}

// needsTx reports whether a statement must run in the transaction: all
// but a SELECT that neither locks rows nor takes an advisory lock nor
// calls a function that changes anything.
func needsTx(query string) bool {
	q := strings.TrimSpace(query)
	if len(q) < 6 || !strings.EqualFold(q[:6], "SELECT") {
		return true
	}
	for _, w := range [...]string{"FOR UPDATE", "FOR SHARE", "FOR NO KEY", "FOR KEY SHARE", "for update", "for share",
		"for no key", "for key share", "advisory", "nextval", "setval", "set_config"} {
		if strings.Contains(q, w) {
			return true
		}
	}
	return false
}

// end commits (or with failed set rolls back) the transaction if begun,
// and gives the connection back to the pool.
func (t *tx) end(failed bool) error {
	var err error
	if t.tx != nil {
		if failed {
			_ = t.tx.Rollback()
		} else if err = t.tx.Commit(); err != nil {
			err = fmt.Errorf("sqlstore: commit: %w", classify(err))
		}
	}
	if t.conn != nil {
		t.conn.Close()
	}
	return err
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	db, q, err := t.on(ctx, query, true)
	if err != nil {
		return nil, err
	}
	if onRead != nil {
		onRead(q, args)
	}
	return db.ExecContext(ctx, q, args...)
}

// onRead, when set (only by tests), sees each statement of a transaction
// as sent, and its arguments, after the planner settings a statement run
// outside of a transaction has as SET LOCAL statements.
var onRead func(query string, args []any)

func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	db, q, err := t.on(ctx, query, false)
	if err != nil {
		return nil, err
	}
	if onRead != nil {
		onRead(q, args)
	}
	return db.QueryContext(ctx, q, args...)
}

// errRow is a row that failed before its statement was sent.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (t *tx) row(ctx context.Context, query string, args ...any) scanner {
	db, q, err := t.on(ctx, query, false)
	if err != nil {
		return errRow{err}
	}
	if onRead != nil {
		onRead(q, args)
	}
	return db.QueryRowContext(ctx, q, args...)
}

func (t *tx) CustomerByIdentity(ctx context.Context, id core.Identity) (core.Customer, bool, error) {
	var c core.Customer
	var created int64
	err := t.row(ctx, `SELECT c.id, c.name, c.created_at FROM identities i JOIN customers c ON c.id = i.customer_id
		WHERE i.kind = ? AND i.address = ?`, id.Kind, id.Address).Scan(&c.ID, &c.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return core.Customer{}, false, nil
	}
	if err != nil {
		return core.Customer{}, false, fmt.Errorf("sqlstore: customer by identity: %w", err)
	}
	c.CreatedAt = fromMicros(created)
	return c, true, nil
}

func (t *tx) CreateCustomer(ctx context.Context, c core.Customer, id core.Identity) (core.Customer, bool, error) {
	if _, err := t.exec(ctx, `INSERT INTO customers (id, name, created_at) VALUES (?, ?, ?)`,
		c.ID, c.Name, micros(c.CreatedAt)); err != nil {
		return core.Customer{}, false, fmt.Errorf("sqlstore: insert customer: %w", err)
	}
	res, err := t.exec(ctx, `INSERT INTO identities (kind, address, customer_id, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (kind, address) DO NOTHING`, id.Kind, id.Address, c.ID, micros(c.CreatedAt))
	if err != nil {
		return core.Customer{}, false, fmt.Errorf("sqlstore: insert identity: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return c, true, nil
	}
	// Another transaction owns the identity: drop ours and use theirs.
	if _, err := t.exec(ctx, `DELETE FROM customers WHERE id = ?`, c.ID); err != nil {
		return core.Customer{}, false, fmt.Errorf("sqlstore: drop customer: %w", err)
	}
	other, ok, err := t.CustomerByIdentity(ctx, id)
	if err == nil && !ok {
		err = fmt.Errorf("sqlstore: identity %s vanished: %w", id.Kind, core.ErrTransient)
	}
	return other, false, err
}

func (t *tx) LockCustomer(ctx context.Context, customerID string) error {
	if t.s.dialect != Postgres {
		return nil // SQLite transactions are serialized already
	}
	var id string
	if err := t.row(ctx, `SELECT id FROM customers WHERE id = ? FOR UPDATE`, customerID).Scan(&id); err != nil {
		return fmt.Errorf("sqlstore: lock customer: %w", err)
	}
	return nil
}

const conversationColumns = `id, customer_id, status, assignee, inbox, created_at, updated_at, last_activity_at,
	closed_at, close_reason, waiting_since, channel, contact_address, business_address, last_inbound_at,
	unreplied, message_count, first_inbound_at, first_response_seconds, resolution_seconds, assignees, topics, handler,
	reopened_at`

// conversationRead are the columns a conversation is read from: those it is
// written with, visible_to, which only SetVisibleTo writes, and entry_point,
// which only InsertConversation writes (a conversation keeps the entry point
// it started at).
const conversationRead = conversationColumns + `, visible_to, entry_point`

type scanner interface{ Scan(...any) error }

func scanConversation(r scanner) (core.Conversation, error) {
	var c core.Conversation
	var created, updated, activity int64
	var closed, waiting, lastIn, firstIn, reopened sql.NullInt64
	var firstResp, resolution sql.NullFloat64
	var assignees, topics, visibleTo string
	err := r.Scan(&c.ID, &c.CustomerID, &c.Status, &c.Assignee, &c.Inbox, &created, &updated, &activity,
		&closed, &c.CloseReason, &waiting, &c.Channel, &c.ContactAddress, &c.BusinessAddress, &lastIn,
		&c.Unreplied, &c.MessageCount, &firstIn, &firstResp, &resolution, &assignees, &topics, &c.Handler, &reopened, &visibleTo,
		&c.EntryPoint)
	if err != nil {
		return c, err
	}
	if c.Assignees, err = decodeList(assignees); err != nil {
		return c, fmt.Errorf("conversation %s assignees: %w", c.ID, err)
	}
	if c.Topics, err = decodeList(topics); err != nil {
		return c, fmt.Errorf("conversation %s topics: %w", c.ID, err)
	}
	if c.VisibleTo, err = decodeList(visibleTo); err != nil {
		return c, fmt.Errorf("conversation %s visible_to: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt, c.LastActivityAt = fromMicros(created), fromMicros(updated), fromMicros(activity)
	c.ClosedAt, c.WaitingSince, c.LastInboundAt, c.FirstInboundAt = timePtr(closed), timePtr(waiting), timePtr(lastIn), timePtr(firstIn)
	c.FirstResponseSeconds, c.ResolutionSeconds = floatPtr(firstResp), floatPtr(resolution)
	c.ReopenedAt = timePtr(reopened)
	return c, nil
}

func (t *tx) oneConversation(ctx context.Context, where string, args ...any) (core.Conversation, bool, error) {
	c, err := scanConversation(t.row(ctx, `SELECT `+conversationRead+` FROM conversations WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return core.Conversation{}, false, nil
	}
	if err != nil {
		return core.Conversation{}, false, fmt.Errorf("sqlstore: conversation: %w", err)
	}
	return c, true, nil
}

func (t *tx) ActiveConversation(ctx context.Context, customerID string) (core.Conversation, bool, error) {
	return t.oneConversation(ctx, `customer_id = ? AND status <> 'closed'`, customerID)
}

func (t *tx) LastClosedConversation(ctx context.Context, customerID string) (core.Conversation, bool, error) {
	return t.oneConversation(ctx, `customer_id = ? AND status = 'closed' ORDER BY closed_at DESC, id DESC LIMIT 1`, customerID)
}

func conversationArgs(c core.Conversation) []any {
	return []any{c.CustomerID, c.Status, c.Assignee, c.Inbox, micros(c.CreatedAt), micros(c.UpdatedAt), micros(c.LastActivityAt),
		nullMicros(c.ClosedAt), c.CloseReason, nullMicros(c.WaitingSince), c.Channel, c.ContactAddress, c.BusinessAddress,
		nullMicros(c.LastInboundAt), c.Unreplied, c.MessageCount, nullMicros(c.FirstInboundAt),
		nullFloat(c.FirstResponseSeconds), nullFloat(c.ResolutionSeconds), encodeList(c.Assignees), encodeList(c.Topics),
		handlerOf(c), nullMicros(c.ReopenedAt)}
}

// handlerOf is the stored handler of a conversation (HandlerHuman when unset).
func handlerOf(c core.Conversation) string {
	if c.Handler == "" {
		return core.HandlerHuman
	}
	return c.Handler
}

// encodeList stores a list of names as a JSON array.
func encodeList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// decodeList reads a JSON array of names, never nil.
func decodeList(s string) ([]string, error) {
	out := []string{}
	if s == "" || s == "[]" {
		return out, nil
	}
	return out, json.Unmarshal([]byte(s), &out)
}

func (t *tx) InsertConversation(ctx context.Context, c core.Conversation) (bool, error) {
	args := append(append([]any{c.ID}, conversationArgs(c)...), c.EntryPoint)
	res, err := t.exec(ctx, `INSERT INTO conversations (`+conversationColumns+`, entry_point)
		VALUES `+placeholders(1, 25)+`
		ON CONFLICT (customer_id) WHERE status <> 'closed' DO NOTHING`, args...)
	if err != nil {
		return false, fmt.Errorf("sqlstore: insert conversation: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (t *tx) UpdateConversation(ctx context.Context, c core.Conversation) error {
	args := append(conversationArgs(c), c.ID)
	res, err := t.exec(ctx, `UPDATE conversations SET customer_id = ?, status = ?, assignee = ?, inbox = ?, created_at = ?,
		updated_at = ?, last_activity_at = ?, closed_at = ?, close_reason = ?, waiting_since = ?, channel = ?,
		contact_address = ?, business_address = ?, last_inbound_at = ?, unreplied = ?, message_count = ?,
		first_inbound_at = ?, first_response_seconds = ?, resolution_seconds = ?, assignees = ?, topics = ?, handler = ?,
		reopened_at = ? WHERE id = ?`, args...)
	if err != nil {
		if isUniqueViolation(err) {
			return core.Errorf(core.ECONFLICT, "the customer already has an active conversation")
		}
		return fmt.Errorf("sqlstore: update conversation: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return core.Errorf(core.ENOTFOUND, "conversation %s not found", c.ID)
	}
	return nil
}

func (t *tx) MessageByProviderID(ctx context.Context, provider, providerMessageID string) (core.StoredMessage, bool, error) {
	m, err := scanMessage(t.row(ctx, `SELECT `+messageColumns+` FROM messages WHERE provider = ? AND provider_message_id = ?`,
		provider, providerMessageID))
	if errors.Is(err, sql.ErrNoRows) {
		return core.StoredMessage{}, false, nil
	}
	if err != nil {
		return core.StoredMessage{}, false, fmt.Errorf("sqlstore: message by provider id: %w", err)
	}
	return m, true, nil
}

// messageColumns end with the reply's sending from its outbox row (NULL for
// anything but a reply) in one lookup: "state attempts next_attempt_at
// last_error" (scanSending).
const messageColumns = `id, conversation_id, customer_id, kind, direction, channel, status, error, author, body, created_at,
	provider, provider_message_id,
	(SELECT o.state || ' ' || o.attempts || ' ' || o.next_attempt_at || ' ' || o.last_error FROM outbox o WHERE o.message_id = messages.id)`

func scanMessage(r scanner) (core.StoredMessage, error) {
	var m core.StoredMessage
	var errJSON sql.NullString
	var body, provider string
	var pmid, sending sql.NullString
	var created int64
	if err := r.Scan(&m.ID, &m.ConversationID, &m.CustomerID, &m.Kind, &m.Direction, &m.Channel, &m.Status,
		&errJSON, &m.Author, &body, &created, &provider, &pmid, &sending); err != nil {
		return m, err
	}
	if sending.Valid {
		scanSending(&m, sending.String)
	}
	if err := json.Unmarshal([]byte(body), &m.Message); err != nil {
		return m, fmt.Errorf("sqlstore: message %s body: %w", m.ID, err)
	}
	// The columns are current (a send records the provider's id after the body was written).
	if provider != "" {
		m.Message.Provider = provider
	}
	if pmid.Valid {
		m.Message.ProviderMessageID = pmid.String
	}
	if errJSON.Valid && errJSON.String != "" {
		m.Error = &core.DeliveryError{}
		if err := json.Unmarshal([]byte(errJSON.String), m.Error); err != nil {
			return m, fmt.Errorf("sqlstore: message %s error: %w", m.ID, err)
		}
	}
	m.Text = m.Message.Text
	m.CreatedAt = fromMicros(created)
	return m, nil
}

func (t *tx) UpdateMessage(ctx context.Context, id string, m normalize.Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("sqlstore: encode message: %w", err)
	}
	res, err := t.exec(ctx, `UPDATE messages SET body = ? WHERE id = ?`, string(body), id)
	if err != nil {
		return fmt.Errorf("sqlstore: update message: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return core.Errorf(core.ENOTFOUND, "message %s not found", id)
	}
	return nil
}

func (t *tx) InsertMessage(ctx context.Context, m core.StoredMessage) (bool, error) {
	args, err := messageArgs(m)
	if err != nil {
		return false, err
	}
	res, err := t.exec(ctx, insertMessage+placeholders(1, 13)+` ON CONFLICT DO NOTHING`, args...)
	if err != nil {
		return false, fmt.Errorf("sqlstore: insert message: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// AddEvents buffers events; flushEvents writes them, in order, before commit.
func (t *tx) AddEvents(_ context.Context, evs ...core.OutboxEvent) error {
	t.events = append(t.events, evs...)
	return nil
}

func (t *tx) flushEvents(ctx context.Context) error {
	for start := 0; start < len(t.events); start += eventChunk {
		chunk := t.events[start:min(start+eventChunk, len(t.events))]
		rows := make([][]any, len(chunk))
		for i, e := range chunk {
			var dead sql.NullString
			if e.DeadLetter != nil {
				b, _ := json.Marshal(e.DeadLetter)
				dead = sql.NullString{String: string(b), Valid: true}
			}
			rows[i] = []any{e.Topic, e.Key, e.Value, micros(t.now), dead}
		}
		values, args, err := t.rowSource([]string{"text", "text", "bytea", "bigint", "text"}, rows)
		if err == nil {
			_, err = t.exec(ctx, `INSERT INTO event_outbox (topic, key, value, created_at, dead_letter) `+values, args...)
		}
		if err != nil {
			return fmt.Errorf("sqlstore: add events: %w", err)
		}
	}
	t.events = nil
	return nil
}

func isUniqueViolation(err error) bool {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		return pg.SQLState() == "23505"
	}
	var se interface{ Code() int }
	if errors.As(err, &se) {
		return se.Code() == 2067 || se.Code() == 1555 // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
	}
	return false
}
