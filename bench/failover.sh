#!/usr/bin/env bash
# Failover time and replicated write throughput of a Rhea Raft cluster.
#
#   bash bench/failover.sh                 # both
#   bash bench/failover.sh failover        # only the failover trials
#   bash bench/failover.sh throughput      # only redis-benchmark
#
# Failover: a 3-node cluster on loopback; TRIALS times the leader is
# SIGKILLed and the time to the first write acknowledged by a surviving
# node is measured (then the node is restarted and the cluster converges);
# p50/p99 reported. Throughput: redis-benchmark SET, 50 clients, -P 1 and
# -P 16, against the 3-node cluster's leader, a follower (forwarding), a
# 1-node cluster, a plain single node and redis-server, interleaved.
#
# Settings: TRIALS=20 ROUNDS=3 REQUESTS=100000 CLIENTS=50 RUN_TIMEOUT=120
# SKIP_BUILD=1 (use target/release/rhea-server as is), RHEA_BIN=path.
# The report goes to stdout and bench/out/failover-<date>.md; node logs
# stay in a temp dir printed at the end if something failed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
for tool in redis-server redis-benchmark python3 cargo; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
if [[ -z "${RHEA_BIN:-}" ]]; then
    [[ -n "${SKIP_BUILD:-}" ]] || cargo build --release --bin rhea-server
    export RHEA_BIN="$ROOT/target/release/rhea-server"
fi
export WORK
WORK=$(mktemp -d /tmp/rhea-failover.XXXXXX)
mkdir -p bench/out
OUT="bench/out/failover-$(date +%Y%m%d-%H%M%S).md"
rc=0
python3 bench/failover.py "$@" >"$OUT" || rc=$?
cat "$OUT"
if [[ $rc -ne 0 ]]; then
    echo "failed (exit $rc); node logs in $WORK" >&2
    exit "$rc"
fi
rm -rf "$WORK"
