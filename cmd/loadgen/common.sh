# common.sh: what sidebyside.sh and endtoend.sh share; sourced, not run.
# It makes the work folder ($work, binaries in $bin), kills every process
# whose pid is added to pids when the script exits, and starts spinners.

work=$(mktemp -d)
bin=$work/bin
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# spin N: N CPU-bound processes until the script exits (the "other work"
# of a busy machine).
spin() {
	for _ in $(seq "$1"); do
		awk 'BEGIN { while (1) {} }' &
		pids+=($!)
	done
}

# wait_tcp HOST:PORT: until something listens there (10 s at most).
wait_tcp() {
	for _ in $(seq 100); do (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0; sleep 0.1; done
	echo "nothing listens on $1" >&2
	return 1
}
