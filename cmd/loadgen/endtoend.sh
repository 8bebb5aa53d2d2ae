#!/usr/bin/env bash
# endtoend.sh: the whole gateway (all roles) on PostgreSQL against a kfake
# broker (cmd/kfakebroker, 6 partitions) in its own process, cmd/loadgen
# sending signed Twilio SMS webhooks from 1,000 customers and then reading
# events.v1: the time from a webhook's arrival to its message.received
# event on events.v1, at each rate of RATES, after a warm-up.
#
#   cmd/loadgen/endtoend.sh
#
# Environment: RATES ("2000 4000"), DURATION (15s), WARMUP (5s), SENDERS (1000),
# NEW_FRACTION (0: the share of webhooks from customers never seen before),
# BUSY (0: CPU spinners running meanwhile), GATEWAY_CORE_BATCH and GATEWAY_CORE_CONSUMERS (passed
# to the gateway when set; its defaults are 500 and 2 on PostgreSQL), DATABASE (the PostgreSQL server URL
# without a database name; a database gateway_bench is created anew there).
set -euo pipefail
cd "$(dirname "$0")/../.."

RATES=${RATES:-2000 4000}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-5s}
SENDERS=${SENDERS:-1000}
NEW_FRACTION=${NEW_FRACTION:-0}
BUSY=${BUSY:-0}
DATABASE=${DATABASE:-postgres://postgres@127.0.0.1:5432}
BROKER=127.0.0.1:19093
GW=127.0.0.1:18082
TOKEN=benchtoken

# shellcheck source=cmd/loadgen/common.sh
. cmd/loadgen/common.sh

go build -o "$bin/" ./cmd/gateway ./cmd/kfakebroker ./cmd/loadgen
psql -q "$DATABASE/postgres?sslmode=disable" -c 'DROP DATABASE IF EXISTS gateway_bench' -c 'CREATE DATABASE gateway_bench'

"$bin/kfakebroker" -addr $BROKER -partitions 6 >"$work/broker.log" 2>&1 &
pids+=($!)
wait_tcp $BROKER

env -i PATH="$PATH" KAFKA_BROKERS=$BROKER KAFKA_PARTITIONS=6 KAFKA_REPLICATION_FACTOR=1 \
	DATABASE_URL="$DATABASE/gateway_bench?sslmode=disable" \
	GATEWAY_HTTP_ADDR=$GW GATEWAY_PUBLIC_URL=http://$GW GATEWAY_DATA_DIR="$work/data" \
	${GATEWAY_CORE_BATCH:+GATEWAY_CORE_BATCH=$GATEWAY_CORE_BATCH} ${GATEWAY_CORE_CONSUMERS:+GATEWAY_CORE_CONSUMERS=$GATEWAY_CORE_CONSUMERS} \
	TWILIO_ACCOUNT_SID=ACbench TWILIO_AUTH_TOKEN=$TOKEN GATEWAY_LOG_LEVEL=error "$bin/gateway" >"$work/gateway.log" 2>&1 &
gateway=$!
pids+=("$gateway")
for _ in $(seq 300); do curl -fs -o /dev/null "http://$GW/readyz" && break; sleep 0.1; done
curl -fs -o /dev/null "http://$GW/readyz" || { cat "$work/gateway.log" >&2; exit 1; }

spin "$BUSY"

"$bin/loadgen" -url "http://$GW" -token $TOKEN -senders "$SENDERS" -rate "${RATES%% *}" -duration "$WARMUP" >/dev/null
for rate in $RATES; do
	echo "== $rate/s for $DURATION, $SENDERS customers, new customers $NEW_FRACTION, all roles, PostgreSQL, BUSY=$BUSY"
	"$bin/loadgen" -url "http://$GW" -token $TOKEN -senders "$SENDERS" -new-fraction "$NEW_FRACTION" -rate "$rate" -duration "$DURATION" \
		-events $BROKER -summary | grep -v '^RESULT'
done
