#!/usr/bin/env bash
# Starts a local 3-node Rhea cluster on loopback for trying it out:
# clients on ports 7001-7003, Raft on 17001-17003, logs in a temp dir.
# Ctrl-C (or SIGTERM) stops every node.
#   RHEA_BIN=path/to/rhea-server   binary (default: target/release/rhea-server, built if missing)
#   NODES=3 BASE_PORT=7001 RAFT_BASE_PORT=17001   change the layout
# Extra arguments go to every node (e.g. --cluster-secret s3cret).
set -euo pipefail
cd "$(dirname "$0")/.."
NODES=${NODES:-3}
BASE_PORT=${BASE_PORT:-7001}
RAFT_BASE_PORT=${RAFT_BASE_PORT:-17001}
BIN=${RHEA_BIN:-target/release/rhea-server}
if [[ -z "${RHEA_BIN:-}" && ! -x "$BIN" ]]; then
    cargo build --release --bin rhea-server
fi
LOGS=$(mktemp -d -t rhea-dev-cluster.XXXXXX)
peers=""
for i in $(seq 1 "$NODES"); do
    peers+="${peers:+,}$i@127.0.0.1:$((RAFT_BASE_PORT + i - 1))"
done
pids=()
stop() {
    trap - INT TERM EXIT
    echo "stopping ${#pids[@]} nodes (logs kept in $LOGS)"
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT
for i in $(seq 1 "$NODES"); do
    "$BIN" --port $((BASE_PORT + i - 1)) --node-id "$i" \
        --raft-addr "127.0.0.1:$((RAFT_BASE_PORT + i - 1))" --peers "$peers" "$@" \
        >"$LOGS/node$i.log" 2>&1 &
    pids+=($!)
done
echo "rhea dev cluster: $NODES nodes, clients on 127.0.0.1:$BASE_PORT-$((BASE_PORT + NODES - 1)), logs in $LOGS"
echo "try: redis-cli -p $BASE_PORT set k v; redis-cli -p $((BASE_PORT + 1)) get k; redis-cli -p $BASE_PORT role"
echo "Ctrl-C stops them."
# Exit (stopping the others) as soon as any node exits.
wait -n "${pids[@]}" || true
echo "a node exited; see $LOGS"
