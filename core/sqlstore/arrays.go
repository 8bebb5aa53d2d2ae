package sqlstore

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// On PostgreSQL a bulk statement takes its rows as one array parameter
// per column, unnested into rows ("SELECT * FROM unnest(?::text[], …)"),
// and a list of ids as one array ("IN (SELECT unnest(?::text[]))"): its
// text is the same whatever the number of rows, so that PostgreSQL parses
// and plans it once per connection (pgx prepares each statement text
// once) and pgx encodes a few arrays instead of thousands of parameters.
// SQLite, which has no arrays, keeps a VALUES list or an IN list of
// placeholders.

// rowSource is the rows of a bulk statement's values, rows of columns of
// the PostgreSQL types types, and its arguments: on PostgreSQL
// "SELECT * FROM unnest(?::text[], …)" with an array per column, on SQLite
// "VALUES (?, …), …" with the values.
func (t *tx) rowSource(types []string, rows [][]any) (string, []any, error) {
	if t.s.dialect != Postgres {
		args := make([]any, 0, len(types)*len(rows))
		for _, r := range rows {
			args = append(args, r...)
		}
		return `VALUES ` + placeholders(len(rows), len(types)), args, nil
	}
	args, err := columnArrays(types, rows)
	if err != nil {
		return "", nil, err
	}
	return `SELECT * FROM ` + unnestOf(types), args, nil
}

// unnestOf is "unnest(?::<type>[], …)", a parameter per type.
func unnestOf(types []string) string {
	casts := make([]string, len(types))
	for i, typ := range types {
		casts[i] = "?::" + typ + "[]"
	}
	return `unnest(` + strings.Join(casts, ", ") + `)`
}

// columnArrays turns rows into one array per column, the values of column
// i (of PostgreSQL type types[i]) in the order of rows: a string,
// sql.NullString or nil for text; an int, int64, sql.NullInt64 or nil for
// bigint and integer; a float64, sql.NullFloat64 or nil for double
// precision; a []byte for bytea.
func columnArrays(types []string, rows [][]any) ([]any, error) {
	out := make([]any, len(types))
	for i, typ := range types {
		var err error
		switch typ {
		case "text":
			out[i], err = column(rows, i, textOf)
		case "bigint":
			out[i], err = column(rows, i, int8Of)
		case "integer":
			out[i], err = column(rows, i, int4Of)
		case "double precision":
			out[i], err = column(rows, i, float8Of)
		case "bytea":
			out[i], err = column(rows, i, byteaOf)
		default:
			err = fmt.Errorf("no array of %s", typ)
		}
		if err != nil {
			return nil, fmt.Errorf("sqlstore: column %d: %w", i, err)
		}
	}
	return out, nil
}

// column is the values of column i of rows, each converted by of.
func column[T any](rows [][]any, i int, of func(any) (T, bool)) ([]T, error) {
	out := make([]T, len(rows))
	for j, r := range rows {
		v, ok := of(r[i])
		if !ok {
			return nil, fmt.Errorf("unexpected value of type %T", r[i])
		}
		out[j] = v
	}
	return out, nil
}

func textOf(v any) (pgtype.Text, bool) {
	switch v := v.(type) {
	case string:
		return pgtype.Text{String: v, Valid: true}, true
	case sql.NullString:
		return pgtype.Text{String: v.String, Valid: v.Valid}, true
	case nil:
		return pgtype.Text{}, true
	}
	return pgtype.Text{}, false
}

func int8Of(v any) (pgtype.Int8, bool) {
	switch v := v.(type) {
	case int64:
		return pgtype.Int8{Int64: v, Valid: true}, true
	case int:
		return pgtype.Int8{Int64: int64(v), Valid: true}, true
	case sql.NullInt64:
		return pgtype.Int8{Int64: v.Int64, Valid: v.Valid}, true
	case nil:
		return pgtype.Int8{}, true
	}
	return pgtype.Int8{}, false
}

func int4Of(v any) (pgtype.Int4, bool) {
	n, ok := int8Of(v)
	return pgtype.Int4{Int32: int32(n.Int64), Valid: n.Valid}, ok
}

func float8Of(v any) (pgtype.Float8, bool) {
	switch v := v.(type) {
	case float64:
		return pgtype.Float8{Float64: v, Valid: true}, true
	case sql.NullFloat64:
		return pgtype.Float8{Float64: v.Float64, Valid: v.Valid}, true
	case nil:
		return pgtype.Float8{}, true
	}
	return pgtype.Float8{}, false
}

func byteaOf(v any) ([]byte, bool) {
	switch v := v.(type) {
	case []byte:
		return v, true
	case nil:
		return nil, true
	}
	return nil, false
}
