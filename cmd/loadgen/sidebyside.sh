#!/usr/bin/env bash
# sidebyside.sh: the gateway (role ingest) and the naive handler (cmd/naive)
# measured in one run on one machine, alternating, each against a fresh kfake
# broker (cmd/kfakebroker, 6 partitions) in its own process, with
# cmd/loadgen sending signed Twilio SMS webhooks from the same machine.
#
# For each of ROUNDS rounds and each server: a warm-up, a closed loop
# (CONNS connections, DURATION) and an open loop at RATE/s (DURATION).
# Server CPU per request is the utime+stime delta of the server process
# (/proc/<pid>/stat) over a run divided by the requests of that run.
#
#   cmd/loadgen/sidebyside.sh                      # the table
#   BUSY=1 cmd/loadgen/sidebyside.sh               # the same while one CPU-bound process runs beside
#   PROFILE=/tmp/gw.pprof cmd/loadgen/sidebyside.sh  # instead: one CPU profile of the gateway's closed loop
#   PROFILE=/tmp/gw.pprof PROFILE_RATE=5000 cmd/loadgen/sidebyside.sh  # … of the gateway at 5,000/s
#   PROFILE=/tmp/naive.pprof PROFILE_SERVER=naive cmd/loadgen/sidebyside.sh  # … of the naive handler
#   SERVERS="naive naive-hash1000 naive-hash naive-roundrobin" cmd/loadgen/sidebyside.sh  # variants of the naive handler
#   BASE_GATEWAY=/tmp/old/gateway SERVERS="gateway naive gateway-base" cmd/loadgen/sidebyside.sh  # … and a gateway built before a change
#
# Servers: gateway; naive (kafka-go's Writer defaults, acks all, BatchTimeout 1 ms, Murmur2 balancer);
# naive-hash (the Hash balancer), naive-hash1000 (Hash and BatchSize 1000, the yardstick before),
# naive-roundrobin (kafka-go's default balancer, which ignores the sender's key), naive-100us
# (BatchTimeout 100 µs); gateway-base (the gateway binary BASE_GATEWAY, run like gateway).
#
# Environment: ROUNDS (3), DURATION (15s), WARMUP (3s), CONNS (64), RATE (5000), SENDERS (10000),
# BUSY (0: how many CPU-bound spinners run during the measurements, the "other work"),
# SERVERS ("gateway naive": run in this order every round; the ratio is of the first two).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15s}
WARMUP=${WARMUP:-3s}
CONNS=${CONNS:-64}
RATE=${RATE:-5000}
SENDERS=${SENDERS:-10000}
BUSY=${BUSY:-0}
read -r -a servers <<<"${SERVERS:-gateway naive}"
BROKER=127.0.0.1:19092
GW=127.0.0.1:18081
NAIVE=127.0.0.1:18080
PPROF=127.0.0.1:16060
TOKEN=benchtoken

# shellcheck source=cmd/loadgen/common.sh
. cmd/loadgen/common.sh

go build -o "$bin/" ./cmd/gateway ./cmd/naive ./cmd/kfakebroker ./cmd/loadgen
hz=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

wait_http() {
	for _ in $(seq 100); do
		curl -fs -o /dev/null "http://$1$2" && return 0
		sleep 0.1
	done
	echo "no answer from $1$2" >&2
	return 1
}

start_broker() {
	"$bin/kfakebroker" -addr $BROKER -partitions 6 >"$work/broker.log" 2>&1 &
	broker=$!
	pids+=("$broker")
	wait_tcp $BROKER
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# start_server NAME: sets server (pid) and base (URL).
start_server() {
	case $1 in
	gateway | gateway-base)
		local gw=$bin/gateway
		[[ $1 == gateway-base ]] && gw=${BASE_GATEWAY:?BASE_GATEWAY names the gateway binary of gateway-base}
		env -i PATH="$PATH" GATEWAY_ROLES=ingest KAFKA_BROKERS=$BROKER KAFKA_PARTITIONS=6 KAFKA_REPLICATION_FACTOR=1 \
			GATEWAY_HTTP_ADDR=$GW GATEWAY_PUBLIC_URL=http://$GW GATEWAY_DATA_DIR="$work/data" \
			TWILIO_ACCOUNT_SID=ACbench TWILIO_AUTH_TOKEN=$TOKEN GATEWAY_LOG_LEVEL=error \
			${PROFILE:+GATEWAY_PPROF_ADDR=$PPROF} "$gw" >"$work/gateway.log" 2>&1 &
		server=$!
		base=http://$GW
		wait_http $GW /readyz
		;;
	naive*)
		local flags=()
		case $1 in
		naive) ;;
		naive-hash) flags=(-balancer hash) ;;
		naive-hash1000) flags=(-balancer hash -batch-size 1000) ;;
		naive-roundrobin) flags=(-balancer roundrobin) ;;
		naive-100us) flags=(-batch-timeout 100us) ;;
		*) echo "unknown server $1" >&2; return 1 ;;
		esac
		"$bin/naive" -addr $NAIVE -brokers $BROKER ${PROFILE:+-pprof $PPROF} "${flags[@]}" >"$work/naive.log" 2>&1 &
		server=$!
		base=http://$NAIVE
		wait_http $NAIVE /healthz
		;;
	esac
	pids+=("$server")
}

# load ARGS...: runs loadgen against $base, prints "sent p99_ms rps cpu_us_per_request".
load() {
	local before after out
	before=$(cpu_ticks "$server")
	out=$("$bin/loadgen" -url "$base" -token $TOKEN -senders "$SENDERS" -summary "$@" | grep '^RESULT') || true
	after=$(cpu_ticks "$server")
	echo "$out" | awk -v d=$((after - before)) -v hz="$hz" '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		cpu = v["sent"] > 0 ? d / hz * 1e6 / v["sent"] : 0
		printf "%s %s %s %.1f %s\n", v["sent"], v["p99_ms"], v["rps"], cpu, v["errors"]
	}'
}

spin "$BUSY"

if [[ -n ${PROFILE:-} ]]; then
	start_broker
	start_server "${PROFILE_SERVER:-gateway}"
	"$bin/loadgen" -url "$base" -token $TOKEN -senders "$SENDERS" -conns "$CONNS" -duration "$WARMUP" >/dev/null
	secs=${DURATION%s}
	curl -fs -o "$PROFILE" "http://$PPROF/debug/pprof/profile?seconds=$((secs - 2))" &
	prof=$!
	"$bin/loadgen" -url "$base" -token $TOKEN -senders "$SENDERS" -conns "$CONNS" ${PROFILE_RATE:+-rate $PROFILE_RATE} \
		-duration "$DURATION" -summary | grep '^RESULT'
	wait $prof
	prog=${PROFILE_SERVER:-gateway}
	go tool pprof -top -nodecount=15 "$bin/${prog%%-*}" "$PROFILE" 2>/dev/null | head -21
	exit 0
fi

rows=$work/rows
echo "BUSY=$BUSY, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| round | server | closed loop ($CONNS conns) req/s | CPU µs/req (closed) | p99 ms at $RATE/s | CPU µs/req at $RATE/s | errors |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
	for name in "${servers[@]}"; do
		start_broker
		start_server $name
		"$bin/loadgen" -url "$base" -token $TOKEN -senders "$SENDERS" -conns "$CONNS" -duration "$WARMUP" >/dev/null || true
		read -r c_sent _ c_rps c_cpu c_err < <(load -conns "$CONNS" -duration "$DURATION")
		read -r r_sent r_p99 _ r_cpu r_err < <(load -conns "$CONNS" -rate "$RATE" -duration "$DURATION")
		stop "$server"
		stop "$broker"
		echo "| $round | $name | $c_rps | $c_cpu | $r_p99 | $r_cpu | $((c_err + r_err)) |"
		echo "$name $c_rps $c_cpu $r_p99 $r_cpu" >>"$rows"
	done
done

echo
echo "| server | median req/s (closed) | median CPU µs/req (closed) | median p99 ms at $RATE/s | median CPU µs/req at $RATE/s |"
echo "|---|---|---|---|---|"
for name in "${servers[@]}"; do
	med() { grep "^$name " "$rows" | awk -v c="$1" '{print $c}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
	echo "| $name | $(med 2) | $(med 3) | $(med 4) | $(med 5) |"
done
[[ ${#servers[@]} -ge 2 ]] || exit 0
a=${servers[0]} b=${servers[1]}
median() { grep "^$1 " "$rows" | awk -v c="$2" '{print $c}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
awk -v g="$(median "$a" 2)" -v n="$(median "$b" 2)" -v gc="$(median "$a" 3)" -v nc="$(median "$b" 3)" -v a="$a" -v b="$b" 'BEGIN {
	printf "\n%s / %s closed-loop throughput (medians): %.2fx; CPU per request (closed): %.2fx\n", a, b, g / n, gc / nc }'
