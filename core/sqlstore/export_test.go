package sqlstore

import (
	"context"
	"database/sql"
)

// MigrateUpTo applies the schema migrations of dialect to db up to version
// (to test what a later migration does to the rows of an older schema).
func MigrateUpTo(ctx context.Context, db *sql.DB, dialect string, version int64) error {
	p, err := migrations(ctx, db, dialect)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// OnRead makes f see each query transactions read with (nil: none).
func OnRead(f func(query string, args []any)) { onRead = f }

// DB is the store's pool of connections.
func DB(s *Store) *sql.DB { return s.db }

// MigrationLockID is migrationLockID.
var MigrationLockID = migrationLockID
