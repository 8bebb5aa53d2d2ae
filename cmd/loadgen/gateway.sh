# gateway.sh: start_gateway BIN DB starts a kfake broker and the whole
# gateway (all roles) of BIN on PostgreSQL database DB, with the API tokens
# of `loadgen fill` and `loadgen read` (admin fill-admin, agents
# fill-NAME) and replies sent to the fill's fake Twilio API; sourced after
# common.sh, with BROKER, GW, TWILIO, TOKEN and DATABASE set.
start_gateway() {
	local gwbin=$1 db=$2 tokens=admin:ops:fill-admin
	for a in ann bob cid dee eve; do tokens="$tokens,agent:$a:fill-$a"; done
	mkdir -p "$work/$db"
	"$gwbin/kfakebroker" -addr "$BROKER" -partitions 6 >"$work/$db/broker.log" 2>&1 &
	pids+=($!)
	wait_tcp "$BROKER"
	env -i PATH="$PATH" KAFKA_BROKERS="$BROKER" KAFKA_PARTITIONS=6 KAFKA_REPLICATION_FACTOR=1 \
		DATABASE_URL="$DATABASE/$db?sslmode=disable" GATEWAY_API_TOKENS="$tokens" \
		GATEWAY_HTTP_ADDR="$GW" GATEWAY_PUBLIC_URL="http://$GW" GATEWAY_DATA_DIR="$work/$db/data" \
		TWILIO_ACCOUNT_SID=ACbench TWILIO_AUTH_TOKEN="$TOKEN" TWILIO_API_URL="http://$TWILIO" \
		GATEWAY_LOG_LEVEL=error "$gwbin/gateway" >"$work/$db/gateway.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 600); do curl -fs -o /dev/null "http://$GW/readyz" && break; sleep 0.1; done
	curl -fs -o /dev/null "http://$GW/readyz" || { cat "$work/$db/gateway.log" >&2; return 1; }
}
