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
seek="SET LOCAL enable_sort = off; SET LOCAL enable_seqscan = off"
# A page carries the caller's unread counts (running counts) and is read
# with its contacts in one transaction, after one statement of settings.
unread="inbound_count - COALESCE((SELECT r.read_count FROM conversation_reads r WHERE r.conversation_id = conversations.id AND r.agent = 'ann'), 0) AS unread"
list() { echo "SELECT $cols, $unread FROM conversations WHERE 1 = 1 AND $1 $page"; }
explain "first page" "$(list "$vis")" "$seek"
explain "page by cursor" "$(list "$vis AND (last_activity_at, id) < ($at, '$conv')")" "$seek"
explain "status=open&assignee=ann (the assignee's and several assignees', one statement)" \
	"SELECT * FROM ($(list "status = 'open' AND $vis AND assignee = 'ann'")) AS own UNION ALL SELECT * FROM ($(list "status = 'open' AND $vis AND assignee <> 'ann' AND assignees LIKE '%,%' AND assignees::jsonb @> jsonb_build_array('ann'::text)")) AS more" "$seek"
explain "unreplied=true" "$(list "unreplied > 0 AND handler = 'human' AND status <> 'closed' AND $vis")" "$seek"
ids=$(q "SELECT string_agg(id, ',') FROM (SELECT id FROM conversations WHERE $vis $page) p")
explain "contacts of a page" "SELECT l.* FROM unnest('{$ids}'::text[]) AS page(id) CROSS JOIN LATERAL (SELECT id, conversation_id, channel, started_by, started_at, last_activity_at, ended_at, end_reason, ended_by FROM contacts WHERE conversation_id = page.id ORDER BY started_at DESC, id DESC LIMIT 3) AS l" "$seek"
explain "stats: the counts and the outbox" "SELECT kind, key, SUM(n), SUM(closed), SUM(unassigned), SUM(unreplied), SUM(fr_sum), SUM(fr_n), SUM(res_sum), SUM(res_n) FROM conversation_counts WHERE (kind = 's' OR kind = 't' OR (kind = 'a' AND key = 'ann')) AND $vis GROUP BY kind, key UNION ALL SELECT 'o', '', COUNT(*), 0, 0, 0, 0, 0, 0, 0 FROM outbox WHERE state IN ('pending', 'sending') AND conversation_id IN (SELECT id FROM conversations WHERE $vis)"
explain "stats: mine (assigned, customer messages, read by ann; one statement)" "SELECT a.n, a.unreplied, i.inbound, i.n, m.read, m.done FROM
	(SELECT COALESCE(SUM(n), 0) AS n, COALESCE(SUM(unreplied), 0) AS unreplied FROM conversation_counts WHERE kind = 'a' AND key = 'ann' AND $vis) AS a,
	(SELECT COALESCE(SUM(inbound), 0) AS inbound, COALESCE(SUM(n), 0) AS n FROM conversation_counts WHERE kind = 'i' AND key = '' AND $vis) AS i,
	(SELECT COALESCE(SUM(r.read_count), 0) AS read, COALESCE(SUM(CASE WHEN r.read_count = c.inbound_count AND c.inbound_count > 0 THEN 1 ELSE 0 END), 0) AS done
	FROM conversation_reads r JOIN conversations c ON c.id = r.conversation_id WHERE r.agent = 'ann' AND c.status <> 'closed' AND (c.visible_to = '[]' OR c.visible_to::jsonb @> jsonb_build_array('ann'::text))) AS m" "SET LOCAL enable_seqscan = off"
explain "messages page" "SELECT id, created_at FROM messages WHERE conversation_id = '$conv' ORDER BY created_at, id LIMIT 101"
explain "lookup by address" "SELECT c.id, c.name, c.created_at FROM identities i JOIN customers c ON c.id = i.customer_id WHERE i.kind = 'phone' AND i.address = '$addr'"
explain "a customer with its identities" "SELECT c.id, c.name, c.attributes, c.created_at, i.kind, i.address FROM customers c LEFT JOIN identities i ON i.customer_id = c.id WHERE c.id = '$cust' AND c.merged_into IS NULL ORDER BY i.created_at, i.kind, i.address"
explain "timeline page" "SELECT id, created_at FROM messages WHERE customer_id = '$cust' AND conversation_id IN (SELECT id FROM conversations WHERE customer_id = '$cust' AND $vis) ORDER BY created_at, id LIMIT 101"
