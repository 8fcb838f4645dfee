#!/usr/bin/env bash
# Rhea built with each global allocator, side by side with redis-server:
# memory per key and SET/GET throughput (interleaved rounds, medians).
#
#   bash bench/allocators.sh
#
# Builds three release binaries (jemalloc = the default features, mimalloc,
# the system allocator) into target/alloc-bench/, then runs vsredis.py's
# throughput and memory steps against redis-server and the three. Every
# server it starts is stopped on exit. Settings (environment variables):
#   ROUNDS=3 REQUESTS=100000 PIPELINES="1 16" TESTS=set,get KEYSPACE=100000
#   MEM_KEYS=1000000 VALUE_SIZE=16   memory test (VALUE_SIZE=1000 for a cache
#                                    of larger values; MEM_KEYS=0 skips it)
#   SKIP_BUILD=1                     reuse target/alloc-bench/rhea-*
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
HELPER=(python3 "$ROOT/bench/vsredis.py")
export ROUNDS=${ROUNDS:-3} REQUESTS=${REQUESTS:-100000} PIPELINES=${PIPELINES:-"1 16"} TESTS=${TESTS:-set,get}
export KEYSPACE=${KEYSPACE:-100000} MEM_KEYS=${MEM_KEYS:-1000000} VALUE_SIZE=${VALUE_SIZE:-16}
BIN_DIR="$ROOT/target/alloc-bench"
VARIANTS=(jemalloc mimalloc system)
WORK=$(mktemp -d /tmp/rhea-alloc.XXXXXX)
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
    mkdir -p "$BIN_DIR"
    for v in "${VARIANTS[@]}"; do
        case $v in
            jemalloc) feats=() ;;
            mimalloc) feats=(--no-default-features --features mimalloc) ;;
            system) feats=(--no-default-features) ;;
        esac
        echo "building rhea ($v)..." >&2
        cargo build --release --bin rhea-server "${feats[@]}" >&2
        cp target/release/rhea-server "$BIN_DIR/rhea-$v"
    done
    # Leave target/release with the default build.
    cargo build --release --bin rhea-server >&2
fi

start() { # NAME PORT CMD...
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    "${HELPER[@]}" wait "$port" 20 || { echo "$name did not start" >&2; cat "$WORK/$name.log" >&2; exit 1; }
}
start_all() { # sets SERVERS (name:port:pid) and MEMSPECS (name:pid:port)
    SERVERS=() MEMSPECS=()
    local port
    port=$("${HELPER[@]}" freeport)
    start redis "$port" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK"
    SERVERS+=("redis:$port:$STARTED_PID") MEMSPECS+=("redis:$STARTED_PID:$port")
    for v in "${VARIANTS[@]}"; do
        port=$("${HELPER[@]}" freeport)
        start "$v" "$port" "$BIN_DIR/rhea-$v" --port "$port" --bind 127.0.0.1 --loglevel warning
        SERVERS+=("rhea-$v:$port:$STARTED_PID") MEMSPECS+=("rhea-$v:$STARTED_PID:$port")
    done
}
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $ROUNDS != 0 ]]; then
    start_all
    "${HELPER[@]}" throughput "${SERVERS[@]}" >"$WORK/tp.json"
    stop_all
    python3 - "$WORK/tp.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print("| test | P | " + " | ".join("%s rps (CPU µs/req)" % s for s in d["servers"]) + " |")
print("|---|---:|" + "---:|" * len(d["servers"]))
for t in d["tests"]:
    for p in d["pipelines"]:
        cells = []
        for s in d["servers"]:
            r = d["results"]["%s|%d|%s" % (t, p, s)]
            cells.append("%.0f (%.2f)" % (r["rps"], r["cpu_us"] or 0) if "rps" in r else "ERROR")
        print("| %s | %d | %s |" % (t.upper(), p, " | ".join(cells)))
EOF
fi
if [[ $MEM_KEYS != 0 ]]; then
    start_all
    "${HELPER[@]}" memory "${MEMSPECS[@]}" >"$WORK/mem.json"
    stop_all
    python3 - "$WORK/mem.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print("\n%d keys, %d-byte values\n" % (d["keys"], d["value_size"]))
print("| server | RSS B/key | used_memory B/key | RSS after load MB |")
print("|---|---:|---:|---:|")
for s, r in d["servers"].items():
    print("| %s | %.1f | %s | %.1f |" % (s, r["rss_per_key"], "%.1f" % r["used_memory_per_key"]
          if "used_memory_per_key" in r else "n/a", r["rss_after_kb"] / 1024))
EOF
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
