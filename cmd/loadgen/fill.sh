#!/usr/bin/env bash
# fill.sh: fills a PostgreSQL database through the real path for the read
# benchmark (readbench.sh): the whole gateway (all roles) against a kfake
# broker, `loadgen fill` sending signed Twilio SMS webhooks (CONVERSATIONS
# customers, MESSAGES in all), then operator state through the API (agents
# ann, bob, cid, dee, eve assign, reply, close; an admin restricts
# visibility). The database is kept; readbench.sh copies it (createdb -T).
#
#   DB=bench_reads cmd/loadgen/fill.sh
#
# Environment: DB (bench_reads, created anew unless FROM is set),
# CONVERSATIONS (300000), MESSAGES (1000000), FROM (0; resume a fill at this
# message), EVERY (3: operator state on every 3rd conversation), CONNS (32),
# DATABASE (the PostgreSQL server URL without a database name).
set -euo pipefail
cd "$(dirname "$0")/../.."

DB=${DB:-bench_reads}
CONVERSATIONS=${CONVERSATIONS:-300000}
MESSAGES=${MESSAGES:-1000000}
FROM=${FROM:-0}
EVERY=${EVERY:-3}
CONNS=${CONNS:-32}
DATABASE=${DATABASE:-postgres://postgres@127.0.0.1:5432}
BROKER=127.0.0.1:19193
GW=127.0.0.1:18182
TWILIO=127.0.0.1:18183
TOKEN=benchtoken

# shellcheck source=cmd/loadgen/common.sh
. cmd/loadgen/common.sh
# shellcheck source=cmd/loadgen/gateway.sh
. cmd/loadgen/gateway.sh

go build -o "$bin/" ./cmd/gateway ./cmd/kfakebroker ./cmd/loadgen
if [ "$FROM" = 0 ]; then
	psql -q "$DATABASE/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
	# A bulk load: commits need not wait for the disk (this database only;
	# readbench.sh's copies keep the server's setting).
	psql -q "$DATABASE/postgres?sslmode=disable" -c "ALTER DATABASE $DB SET synchronous_commit = off"
fi
start_gateway "$bin" "$DB"
fill() { "$bin/loadgen" fill -url "http://$GW" -token $TOKEN -admin fill-admin -fake-twilio $TWILIO \
	-conversations "$CONVERSATIONS" -messages "$MESSAGES" -from "$FROM" -conns "$CONNS" "$@"; }
count() { psql -Atq "$DATABASE/$DB?sslmode=disable" -c 'SELECT count(*) FROM messages'; }
fill -every 0
# The core consumes the webhooks' messages from the broker: wait until the
# count of stored messages stops growing before the operator state.
last=-1
while [ "$(count)" != "$last" ]; do last=$(count); echo "$(date +%T): $last messages stored"; sleep 10; done
fill -from "$MESSAGES" -every "$EVERY"
psql -q "$DATABASE/$DB?sslmode=disable" -c 'SELECT count(*) AS conversations FROM conversations' -c 'SELECT count(*) AS messages FROM messages'
