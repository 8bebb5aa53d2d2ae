#!/usr/bin/env bash
# readplans.sh: EXPLAIN (ANALYZE, BUFFERS) of the reads behind the read
# benchmark, as the store sends them for agent ann, on a filled database
# the working tree's gateway has migrated (e.g. readbench.sh's copy kept
# with KEEP=1: DB=bench_reads_ours).
#
#   DB=bench_reads_ours cmd/loadgen/readplans.sh
set -euo pipefail
DB=${DB:-bench_reads_ours}
DATABASE=${DATABASE:-postgres://postgres@127.0.0.1:5432}
q() { psql -Atq "$DATABASE/$DB?sslmode=disable" -c "$1"; }
conv=$(q "SELECT id FROM conversations ORDER BY last_activity_at DESC, id DESC OFFSET 500 LIMIT 1")
cust=$(q "SELECT customer_id FROM conversations WHERE id = '$conv'")
at=$(q "SELECT last_activity_at FROM conversations WHERE id = '$conv'")
addr=$(q "SELECT address FROM identities WHERE customer_id = '$cust' LIMIT 1")
cols=$(q "SELECT string_agg(column_name, ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'conversations' AND column_name NOT IN ('inbound')")
vis="(visible_to = '[]' OR visible_to::jsonb @> jsonb_build_array('ann'::text))"
page="ORDER BY last_activity_at DESC, id DESC LIMIT 51"
explain() {
	echo "-- $1"
	psql -q "$DATABASE/$DB?sslmode=disable" -c "BEGIN" -c "${3:-SET LOCAL enable_sort = on}" \
		-c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) $2" -c "ROLLBACK" | grep -v '^\(BEGIN\|SET\|ROLLBACK\|JIT\|  Functions\|  Options\)'
}
seek="SET LOCAL enable_sort = off"
explain "first page" "SELECT $cols FROM conversations WHERE 1 = 1 AND $vis $page" "$seek"
explain "page by cursor" "SELECT $cols FROM conversations WHERE 1 = 1 AND $vis AND (last_activity_at, id) < ($at, '$conv') $page" "$seek"
explain "status=open&assignee=ann (the assignee's)" "SELECT $cols FROM conversations WHERE 1 = 1 AND status = 'open' AND $vis AND assignee = 'ann' $page" "$seek"
explain "status=open&assignee=ann (several assignees)" "SELECT $cols FROM conversations WHERE 1 = 1 AND status = 'open' AND $vis AND assignee <> 'ann' AND assignees LIKE '%,%' AND assignees::jsonb @> jsonb_build_array('ann'::text) $page" "$seek"
explain "unreplied=true" "SELECT $cols FROM conversations WHERE 1 = 1 AND unreplied > 0 AND handler = 'human' AND status <> 'closed' AND $vis $page" "$seek"
explain "stats: the counts" "SELECT kind, key, SUM(n), SUM(closed), SUM(unassigned), SUM(unreplied), SUM(fr_sum), SUM(fr_n), SUM(res_sum), SUM(res_n) FROM conversation_counts WHERE (kind = 's' OR (kind = 'a' AND key = 'ann') OR kind = 't') AND $vis GROUP BY kind, key"
explain "stats: the outbox" "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending') AND conversation_id IN (SELECT id FROM conversations WHERE $vis)"
explain "stats: mine (customer messages, running counts)" "SELECT COALESCE(SUM(inbound), 0), COALESCE(SUM(n), 0) FROM conversation_counts WHERE kind = 'i' AND key = '' AND $vis"
explain "stats: mine (read by ann)" "SELECT COALESCE(SUM(r.read_count), 0), COALESCE(SUM(CASE WHEN r.read_count = c.inbound_count AND c.inbound_count > 0 THEN 1 ELSE 0 END), 0) FROM conversation_reads r JOIN conversations c ON c.id = r.conversation_id WHERE r.agent = 'ann' AND c.status <> 'closed' AND (c.visible_to = '[]' OR c.visible_to::jsonb @> jsonb_build_array('ann'::text))" "SET LOCAL enable_seqscan = off"
explain "unread of a page" "SELECT m.conversation_id, COUNT(*) FROM messages m LEFT JOIN conversation_reads r ON r.conversation_id = m.conversation_id AND r.agent = 'ann' WHERE m.conversation_id IN ('$conv') AND m.kind = 'message' AND m.direction = 'inbound' AND (r.read_at IS NULL OR m.created_at > r.read_at) GROUP BY m.conversation_id"
explain "messages page" "SELECT id, created_at FROM messages WHERE conversation_id = '$conv' ORDER BY created_at, id LIMIT 101"
explain "lookup by address" "SELECT c.id, c.name, c.created_at FROM identities i JOIN customers c ON c.id = i.customer_id WHERE i.kind = 'phone' AND i.address = '$addr'"
explain "timeline page" "SELECT id, created_at FROM messages WHERE customer_id = '$cust' AND conversation_id IN (SELECT id FROM conversations WHERE customer_id = '$cust' AND $vis) ORDER BY created_at, id LIMIT 101"
