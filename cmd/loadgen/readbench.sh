#!/usr/bin/env bash
# readbench.sh: the read benchmark on a year's history. Each binary (the
# gateway of BASE, a git revision, and of the working tree) runs on its own
# copy (createdb -T) of the database fill.sh filled, all roles, against a
# kfake broker; `loadgen read` then has CLIENTS keep-alive clients read for
# DURATION as each token of TOKENS: the first page of conversations, pages
# 2-21 by cursor, status=open&assignee=ann, unreplied=true, stats, a page of
# messages, a lookup by address and a timeline page; p50/p99 per read. The
# runs alternate (BASE, ours, BASE, ours, ... ROUNDS times).
#
#   DB=bench_reads BASE=fc53a6a cmd/loadgen/readbench.sh
#
# Environment: DB (bench_reads), SKIP (reads to leave out, e.g. stats), BASE (the revision to compare with; empty:
# ours only), ROUNDS (1), CLIENTS (16), DURATION (30s), TOKENS ("fill-ann
# fill-admin"), CONVERSATIONS (300000, of the fill), KEEP (set: keep the copies,
# ${DB}_base and ${DB}_ours, e.g. for EXPLAIN), REUSE (set: read the copies
# kept by an earlier run instead of copying anew), DATABASE.
set -euo pipefail
cd "$(dirname "$0")/../.."

DB=${DB:-bench_reads}
BASE=${BASE:-}
ROUNDS=${ROUNDS:-1}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-30s}
TOKENS=${TOKENS:-fill-ann fill-admin}
CONVERSATIONS=${CONVERSATIONS:-300000}
DATABASE=${DATABASE:-postgres://postgres@127.0.0.1:5432}
BROKER=127.0.0.1:19293
GW=127.0.0.1:18282
TWILIO=127.0.0.1:18283
TOKEN=benchtoken

# shellcheck source=cmd/loadgen/common.sh
. cmd/loadgen/common.sh
# shellcheck source=cmd/loadgen/gateway.sh
. cmd/loadgen/gateway.sh

mkdir -p "$bin/ours"
go build -o "$bin/ours/" ./cmd/gateway ./cmd/kfakebroker ./cmd/loadgen
names=ours
if [ -n "$BASE" ]; then
	mkdir -p "$work/src" "$bin/base"
	git archive "$BASE" | tar -x -C "$work/src"
	(cd "$work/src" && go build -o "$bin/base/" ./cmd/gateway ./cmd/kfakebroker)
	names="base ours"
fi
psql() { command psql -q "$DATABASE/postgres?sslmode=disable" "$@"; }
[ -n "${REUSE:-}" ] || for name in $names; do
	psql -c "DROP DATABASE IF EXISTS ${DB}_$name" -c "CREATE DATABASE ${DB}_$name TEMPLATE $DB"
done
# read NAME: one run of each token against the gateway of NAME.
read_run() {
	local before=${#pids[@]}
	start_gateway "$bin/$1" "${DB}_$1"
	for tok in $TOKENS; do
		"$bin/ours/loadgen" read -url "http://$GW" -token "$tok" -clients "$CLIENTS" -duration "$DURATION" \
			-conversations "$CONVERSATIONS" -label "$1 $tok" -skip "${SKIP:-}"
	done
	for p in "${pids[@]:$before}"; do kill "$p"; wait "$p" 2>/dev/null || true; done
	pids=("${pids[@]:0:$before}")
}
for _ in $(seq "$ROUNDS"); do
	for name in $names; do read_run "$name"; done
done
[ -n "${KEEP:-}" ] || for name in $names; do psql -c "DROP DATABASE ${DB}_$name"; done
