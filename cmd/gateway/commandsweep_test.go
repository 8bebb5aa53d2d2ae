package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/opengateway/gateway/core/sqlstore"
)

// The core role sweeps the ids of handled commands older than
// GATEWAY_COMMAND_IDS_KEEP (at start, then hourly) and keeps the recent ones.
func TestGatewaySweepsCommandIDs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.db")
	st, err := sqlstore.Open(context.Background(), path) // migrated
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := time.Now().Add(-31 * 24 * time.Hour).UnixMicro()
	if _, err := db.Exec(`INSERT INTO processed_commands (id, type, result, created_at) VALUES ('old', 'note.add', 'done', ?), ('recent', 'note.add', 'done', ?)`,
		old, time.Now().UnixMicro()); err != nil {
		t.Fatal(err)
	}
	startGateway(t, sqlstore.SQLite, map[string]string{"GATEWAY_DATA_DIR": dir, "GATEWAY_ROLES": "core"})
	left := func() (ids []string) {
		rows, err := db.Query(`SELECT id FROM processed_commands ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			_ = rows.Scan(&id)
			ids = append(ids, id)
		}
		return ids
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ids := left()
		if len(ids) == 1 && ids[0] == "recent" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processed_commands holds %v, want only the recent id", ids)
		}
	}
}
