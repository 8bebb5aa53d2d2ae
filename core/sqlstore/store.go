// Package sqlstore keeps the conversation engine's data in SQLite (embedded
// default, pure Go) or PostgreSQL (production). Both run the same SQL, with
// placeholders rewritten for PostgreSQL, and the same behaviour suite.
// It implements core.Store and every role of core.Tx, and imports core and
// normalize of the gateway; never Kafka or HTTP.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/opengateway/gateway/core"
)

//go:embed migrations
var migrationFiles embed.FS

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Store is the SQL implementation of core.Store.
type Store struct {
	db      *sql.DB
	dialect string
	now     func() time.Time
	queries map[string]string
	// earlyMax bounds the early_statuses table (WithEarlyStatusLimit).
	earlyMax int

	// sweepMu guards lastSweep, when expired idempotency keys were last deleted.
	sweepMu   sync.Mutex
	lastSweep time.Time

	// statements counts the statements sent (Statements), transactions
	// the transactions begun (Transactions).
	statements, transactions atomic.Int64

	// pgConfig is the PostgreSQL connections' configuration; plannedDBs
	// are the pools of sessions with planner methods off (planned), by
	// the methods, guarded by plannedMu.
	pgConfig   *pgx.ConnConfig
	plannedMu  sync.Mutex
	plannedDBs map[string]*sql.DB
}

// Statements returns how many statements the store has sent so far: on
// PostgreSQL each is a round trip, so tests and benchmarks use it to hold
// the work of a batch to a bound that does not grow with the batch.
func (s *Store) Statements() int64 { return s.statements.Load() }

// Transactions returns how many transactions the store has begun so far:
// on PostgreSQL each costs two round trips more (BEGIN and COMMIT) than
// its statements.
func (s *Store) Transactions() int64 { return s.transactions.Load() }

var _ core.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithClock replaces the wall clock (tests move time forward with it).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithEarlyStatusLimit bounds the statuses kept for sends not recorded yet
// (default 10,000); past it the oldest are dropped.
func WithEarlyStatusLimit(n int) Option { return func(s *Store) { s.earlyMax = n } }

// oltpSettings are the session settings of the gateway's PostgreSQL
// connections unless the URL names them: every query of the gateway is a
// short, index-driven one, for which JIT compilation and parallel workers
// cost far more to start (tens of milliseconds) than they save; without
// fresh statistics (autovacuum behind, a restored copy) the planner's row
// estimates reach both thresholds on reads of a few hundred rows.
var oltpSettings = map[string]string{"jit": "off", "max_parallel_workers_per_gather": "0"}

// openPostgres opens a pool of connections to url with oltpSettings.
func openPostgres(url string) (*sql.DB, *pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range oltpSettings {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	return stdlib.OpenDB(*cfg), cfg, nil
}

// planned returns the pool of PostgreSQL sessions that have the planner
// methods off (each an enable_ setting), opened at its first use: a read
// that wants them runs there in one round trip instead of a transaction's
// SET LOCAL, BEGIN and COMMIT.
func (s *Store) planned(methods []string) *sql.DB {
	methods = slices.Sorted(slices.Values(methods))
	key := strings.Join(methods, ",")
	s.plannedMu.Lock()
	defer s.plannedMu.Unlock()
	if db, ok := s.plannedDBs[key]; ok {
		return db
	}
	cfg := s.pgConfig.Copy()
	for _, m := range methods {
		cfg.RuntimeParams[m] = "off"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(plannedConns)
	db.SetMaxIdleConns(plannedConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if s.plannedDBs == nil {
		s.plannedDBs = map[string]*sql.DB{}
	}
	s.plannedDBs[key] = db
	return db
}

// plannedConns bounds each pool of planned sessions: its statements are
// single short reads, and each new session's first reads are slow (its
// catalog caches are empty).
const plannedConns = 8

// Open connects to PostgreSQL when url starts with postgres:// or
// postgresql://, else opens (creating) the SQLite file at path url, and
// applies the schema migrations.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	s := &Store{now: time.Now, queries: map[string]string{}, earlyMax: 10000}
	for _, o := range opts {
		o(s)
	}
	var err error
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		s.dialect = Postgres
		s.db, s.pgConfig, err = openPostgres(url)
		if err == nil {
			s.db.SetMaxOpenConns(20)
			s.db.SetMaxIdleConns(20)
			s.db.SetConnMaxIdleTime(5 * time.Minute)
		}
	} else {
		s.dialect = SQLite
		if dir := filepath.Dir(url); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("sqlstore: create %s: %w", dir, err)
			}
		}
		dsn := "file:" + url + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		s.db, err = sql.Open("sqlite", dsn)
		// One connection: SQLite has one writer, and a single connection
		// turns every contention into a queue instead of a busy error.
		s.db.SetMaxOpenConns(1)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	p, err := migrations(ctx, s.db, s.dialect)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlstore: migrate %s: %w", s.dialect, classify(err))
	}
	return nil
}

// migrationLockID is the PostgreSQL advisory lock of the migrations of the
// schema whose name hashes (hashtext) to schema.
func migrationLockID(schema int32) int64 { return lock.DefaultLockID ^ int64(schema) }

// migrations is the schema migrations of a database of dialect.
func migrations(ctx context.Context, db *sql.DB, dialect string) (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/"+dialect)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	gooseDialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if dialect == Postgres {
		gooseDialect = goose.DialectPostgres
		// Several instances may start at once: one migrates, the others
		// wait. The lock is taken per schema, as the relay's is: gateways
		// whose tables live in different schemas of one database migrate
		// without waiting for each other.
		var schema int32
		if err := db.QueryRowContext(ctx, `SELECT hashtext(current_schema())`).Scan(&schema); err != nil {
			return nil, fmt.Errorf("sqlstore: migration lock: %w", classify(err))
		}
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID(schema)))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gooseDialect, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	return p, nil
}

// Dialect returns SQLite or Postgres.
func (s *Store) Dialect() string { return s.dialect }

// DB returns the database handle.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error {
	s.plannedMu.Lock()
	for _, db := range s.plannedDBs {
		db.Close()
	}
	s.plannedDBs = nil
	s.plannedMu.Unlock()
	return s.db.Close()
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var one int
	return classify(s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one))
}

// q returns a query with ? placeholders rewritten for the dialect.
func (s *Store) q(query string) string {
	s.statements.Add(1)
	if s.dialect != Postgres {
		return query
	}
	return rebind(query)
}

// rebind turns ? placeholders into $1, $2, ... outside quoted strings.
func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n, quoted := 0, false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// InTx runs fn in a transaction.
func (s *Store) InTx(ctx context.Context, fn func(core.Tx) error) error {
	return s.inTx(ctx, func(t *tx) error { return fn(t.roles()) })
}

// inTx runs fn in a transaction of the store's own: on SQLite begun
// before fn, on PostgreSQL at fn's first statement that needs one (tx).
func (s *Store) inTx(ctx context.Context, fn func(*tx) error) error {
	t := &tx{s: s, now: s.now().UTC().Truncate(time.Microsecond)}
	if s.dialect != Postgres {
		s.transactions.Add(1)
		sqltx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlstore: begin: %w", classify(err))
		}
		t.tx = sqltx
	}
	if err := fn(t); err != nil {
		_ = t.end(true)
		return classify(err)
	}
	if err := t.flushEvents(ctx); err != nil {
		_ = t.end(true)
		return classify(err)
	}
	return t.end(false)
}

// classify wraps errors worth retrying with core.ErrTransient.
func classify(err error) error {
	if err == nil || errors.Is(err, core.ErrTransient) {
		return err
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "40001", pg.Code == "40P01", pg.Code == "55P03", // serialization, deadlock, lock not available
			strings.HasPrefix(pg.Code, "08"), strings.HasPrefix(pg.Code, "53"), strings.HasPrefix(pg.Code, "57P"):
			return fmt.Errorf("%w: %w", core.ErrTransient, err)
		}
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("%w: %w", core.ErrTransient, err)
		}
		return err
	}
	var ce *core.Error
	if errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, sql.ErrNoRows) {
		return err
	}
	// Connection-level failures (refused, reset, bad connection) are transient.
	if errors.Is(err, context.DeadlineExceeded) || isConnError(err) {
		return fmt.Errorf("%w: %w", core.ErrTransient, err)
	}
	return err
}

func isConnError(err error) bool {
	var pc *pgconn.ConnectError
	if errors.As(err, &pc) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "bad connection", "broken pipe", "conn closed", "failed to connect", "unexpected EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// micros stores times as microseconds since the epoch, the same in both dialects.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func floatPtr(v sql.NullFloat64) *float64 {
	if !v.Valid {
		return nil
	}
	f := v.Float64
	return &f
}

func nullFloat(f *float64) sql.NullFloat64 {
	if f == nil {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: *f, Valid: true}
}
