#!/usr/bin/env bash
# Failover as a real client library (redis-py) sees it, per discovery path:
# Rhea through its Sentinel endpoint, Rhea through any node (a client on a
# follower that moves on to the next node on an error), Rhea through a DNS
# name (only where rhea-server has a dns-port setting), and Redis 7 + three
# redis-sentinel with default settings and with down-after-milliseconds
# 1000, all on this machine. TRIALS SIGKILLs of the leader/master per path,
# each on a fresh cluster; p50/p99 of the time the client could not write
# and the acknowledged writes lost. See bench/failover_paths.py.
#
#   bash bench/failover-paths.sh
#   TRIALS=5 REDIS_DEFAULT_TRIALS=3 PATHS=sentinel,any-node bash bench/failover-paths.sh
#
# Settings: TRIALS=20, REDIS_DEFAULT_TRIALS (default TRIALS; each takes
# ~35 s), PATHS (comma list), STOCK=1 (redis-py's default retry policy),
# SKIP_BUILD=1, RHEA_BIN=path. The table also goes to bench/out/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
for tool in redis-server python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (bash scripts/install-deps.sh)" >&2; exit 1; }
done
python3 -c 'import redis' 2>/dev/null || { echo "missing redis-py (pip install redis)" >&2; exit 1; }
if [[ -z "${RHEA_BIN:-}" ]]; then
    [[ -n "${SKIP_BUILD:-}" ]] || cargo build --release --bin rhea-server
    RHEA_BIN="$ROOT/target/release/rhea-server"
fi
TRIALS=${TRIALS:-20}
PATHS=${PATHS:-sentinel,any-node,dns,redis-sentinel-1000,redis-sentinel-default}
mkdir -p bench/out
OUT="bench/out/failover-paths-$(date -u +%Y%m%dT%H%M%SZ).md"
args=(--rhea-bin "$RHEA_BIN" --trials "$TRIALS" --paths "$PATHS" --json "${OUT%.md}.json")
[[ -n "${REDIS_DEFAULT_TRIALS:-}" ]] && args+=(--redis-default-trials "$REDIS_DEFAULT_TRIALS")
[[ -n "${STOCK:-}" ]] && args+=(--stock)
python3 bench/failover_paths.py "${args[@]}" | tee "$OUT"
echo "report: $OUT"
