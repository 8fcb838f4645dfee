#!/usr/bin/env bash
# The eviction benchmark of issue 4: SET throughput while allkeys-lru evicts
# continuously, against Rhea's own without a limit and against redis-server
# under the same limit, side by side (interleaved rounds, medians).
#
#   bash bench/eviction.sh
#
# Three servers: redis-server and rhea-server with `--maxmemory $MAXMEMORY
# --maxmemory-policy allkeys-lru`, and rhea-server without a limit. The two
# limited ones are first filled past the limit, so that from the first
# measured request on, almost every SET (of a new key, out of KEYSPACE) makes
# room by evicting. Reports rps, p50/p99, server CPU per request, and the
# keys each evicting server evicted during the measured runs.
# Settings (environment variables):
#   MAXMEMORY=64mb DATA_SIZE=100 ROUNDS=5 REQUESTS=200000 PIPELINES="1 16"
#   CLIENTS=50 KEYSPACE=100000000 RHEA_IO_THREADS=1 SKIP_BUILD=1
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
HELPER=(python3 "$ROOT/bench/vsredis.py")
MAXMEMORY=${MAXMEMORY:-64mb}
export DATA_SIZE=${DATA_SIZE:-100} ROUNDS=${ROUNDS:-5} REQUESTS=${REQUESTS:-200000} PIPELINES=${PIPELINES:-"1 16"}
export CLIENTS=${CLIENTS:-50} KEYSPACE=${KEYSPACE:-100000000} TESTS=set
RHEA_IO_THREADS=${RHEA_IO_THREADS:-1}
WORK=$(mktemp -d /tmp/rhea-evict.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ${SKIP_BUILD:-} != 1 ]]; then
    echo "building rhea (release)..." >&2
    cargo build --release --bin rhea-server >&2
fi
RHEA_BIN="$ROOT/target/release/rhea-server"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates src Cargo.toml Cargo.lock 2>/dev/null || COMMIT="$COMMIT (+ uncommitted changes)"

start() { # NAME PORT CMD...
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    "${HELPER[@]}" wait "$port" 20 || { echo "$name did not start" >&2; cat "$WORK/$name.log" >&2; exit 1; }
}
LIMIT=(--maxmemory "$MAXMEMORY" --maxmemory-policy allkeys-lru)
p_redis=$("${HELPER[@]}" freeport)
start redis "$p_redis" redis-server --port "$p_redis" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" "${LIMIT[@]}"
pid_redis=$STARTED_PID
p_evict=$("${HELPER[@]}" freeport)
start rhea-evict "$p_evict" "$RHEA_BIN" --port "$p_evict" --loglevel warning --io-threads "$RHEA_IO_THREADS" "${LIMIT[@]}"
pid_evict=$STARTED_PID
p_plain=$("${HELPER[@]}" freeport)
start rhea-nolimit "$p_plain" "$RHEA_BIN" --port "$p_plain" --loglevel warning --io-threads "$RHEA_IO_THREADS"
pid_plain=$STARTED_PID

evicted() { redis-cli -p "$1" info stats | tr -d '\r' | sed -n 's/^evicted_keys://p'; }
mem() { redis-cli -p "$1" info memory | tr -d '\r' | sed -n 's/^used_memory_human://p'; }
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# Fill the limited servers well past the limit (keys of DATA_SIZE bytes).
for p in "$p_redis" "$p_evict"; do
    redis-benchmark -p "$p" -t set -n 1500000 -r "$KEYSPACE" -d "$DATA_SIZE" -P 32 -q >/dev/null
    [[ $(evicted "$p") -gt 0 ]] || { echo "server on port $p is not evicting after the fill" >&2; exit 1; }
done
e0_redis=$(evicted "$p_redis") e0_evict=$(evicted "$p_evict")
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
"${HELPER[@]}" throughput "redis-lru:$p_redis:$pid_redis" "rhea-lru:$p_evict:$pid_evict" \
    "rhea-nolimit:$p_plain:$pid_plain" >"$WORK/tp.json"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
EV_REDIS=$(($(evicted "$p_redis") - e0_redis)) EV_RHEA=$(($(evicted "$p_evict") - e0_evict))
echo "## Eviction benchmark: SET with allkeys-lru evicting continuously"
echo
echo "\`MAXMEMORY=$MAXMEMORY DATA_SIZE=$DATA_SIZE ROUNDS=$ROUNDS REQUESTS=$REQUESTS PIPELINES=\"$PIPELINES\" CLIENTS=$CLIENTS KEYSPACE=$KEYSPACE RHEA_IO_THREADS=$RHEA_IO_THREADS bash bench/eviction.sh\`"
echo
echo "rhea $COMMIT, $(redis-server --version | cut -d' ' -f1-3), nproc $(nproc), load average $LOAD_BEFORE before, $LOAD_AFTER after."
echo "Evicted during the measured runs: redis $EV_REDIS, rhea $EV_RHEA. After: redis used_memory $(mem "$p_redis") RSS $(rss_mb "$pid_redis") MB;"
echo "rhea used_memory $(mem "$p_evict") RSS $(rss_mb "$pid_evict") MB; rhea without limit used_memory $(mem "$p_plain")."
echo
python3 - "$WORK/tp.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["results"]
print("| P | redis allkeys-lru rps | rhea allkeys-lru rps | rhea no limit rps | rhea-lru / redis-lru | rhea-lru / rhea no limit | CPU µs/req redis / rhea-lru / rhea no limit | p99 ms redis / rhea-lru / rhea no limit |")
print("|---:|---:|---:|---:|---:|---:|---|---|")
for p in d["pipelines"]:
    g = lambda s, f: r["%s|%d|%s" % ("set", p, s)].get(f)
    a, b, c = g("redis-lru", "rps"), g("rhea-lru", "rps"), g("rhea-nolimit", "rps")
    if None in (a, b, c):
        print("| %d | ERROR | | | | | | |" % p)
        continue
    print("| %d | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f / %.2f / %.2f | %.3f / %.3f / %.3f |" % (
        p, a, b, c, b / a, b / c, g("redis-lru", "cpu_us"), g("rhea-lru", "cpu_us"), g("rhea-nolimit", "cpu_us"),
        g("redis-lru", "p99"), g("rhea-lru", "p99"), g("rhea-nolimit", "p99")))
PY
