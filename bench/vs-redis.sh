#!/usr/bin/env bash
# Side-by-side benchmark of rhea-server against redis-server.
#
#   bash bench/vs-redis.sh
#
# Builds Rhea in release, starts redis-server and one rhea-server per
# io-threads setting on free loopback ports, runs redis-benchmark against
# them interleaved (several rounds, medians reported, because the machine is
# shared and noisy), then loads MEM_KEYS keys into fresh instances to compare
# memory per key. Prints a Markdown report and writes it to
# bench/out/results-<date>.md. Every server it starts is stopped on exit.
#
# Settings (environment variables):
#   REQUESTS=100000        requests per redis-benchmark run (-n)
#   CLIENTS=50             parallel connections (-c)
#   ROUNDS=5               interleaved rounds; the median is reported
#   PIPELINES="1 16"       pipeline depths (-P)
#   TESTS=set,get,incr,mset  comma-separated tests and groups:
#                          default = set,get,incr,mset
#                          datatypes = hset,lpush,lpop,sadd,zadd,zrange100,publish50
#                          all = both. hset..zadd are redis-benchmark's own
#                          tests; lpop first fills "mylist" so every pop finds
#                          an element; zrange100 = ZRANGE bench:zset 0 99 on a
#                          10,000-member zset loaded before the first run;
#                          publish50 = PUBLISH bench:chan hello with 50
#                          subscriber connections (a child process draining
#                          them, stopped after each run; a run where the server
#                          disconnected one or lost messages is an ERROR)
#   KEYSPACE=100000        random key space (-r)
#   RHEA_IO_THREADS="2 1"  rhea worker-thread settings to run side by side;
#                          the first is the one in the main table ("default"
#                          = no --io-threads flag)
#   MEM_KEYS=1000000       keys loaded for the memory test (0 skips it)
#   VALUE_SIZE=16          value size for the memory test
#   SKIP_BUILD=1           use the existing target/release/rhea-server
#   RHEA_REF=HEAD          instead build this committed revision (git archive
#                          into target/bench-ref/src, re-extracted only when
#                          the revision changes so a rebuild is incremental;
#                          target dir target/bench-ref): benchmarks what is
#                          committed, whatever others are editing
#   SKIP_THROUGHPUT=1      only run the memory test
#   RUN_TIMEOUT=120        seconds before a redis-benchmark run counts as hung
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
HELPER=(python3 "$ROOT/bench/vsredis.py")
RHEA_IO_THREADS=${RHEA_IO_THREADS:-"2 1"}
MEM_KEYS=${MEM_KEYS:-1000000}
export REQUESTS=${REQUESTS:-100000} CLIENTS=${CLIENTS:-50} ROUNDS=${ROUNDS:-5} PIPELINES=${PIPELINES:-"1 16"}
export TESTS=${TESTS:-set,get,incr,mset} KEYSPACE=${KEYSPACE:-100000} MEM_KEYS VALUE_SIZE=${VALUE_SIZE:-16}
export RUN_TIMEOUT=${RUN_TIMEOUT:-120}

for tool in redis-server redis-benchmark redis-cli python3 cargo; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

STAMP=$(date +%Y%m%d-%H%M%S)
OUT_DIR="$ROOT/bench/out"
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d /tmp/rhea-bench.XXXXXX)
REPORT="$OUT_DIR/results-$STAMP.md"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Ports: distinct free loopback ports (the helper binds port 0 to find one).
USED_PORTS=" "
new_port() {
    local p
    while :; do
        p=$("${HELPER[@]}" freeport)
        case "$USED_PORTS" in *" $p "*) continue ;; esac
        USED_PORTS="$USED_PORTS$p "
        echo "$p"
        return
    done
}

# start NAME PORT COMMAND... ; sets STARTED_PID. The server runs in the
# foreground of a background job so its pid is ours to kill.
start() {
    local name=$1 port=$2
    shift 2
    "$@" >"$OUT_DIR/$name-$STAMP.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    if ! "${HELPER[@]}" wait "$port" 20 || ! kill -0 "$STARTED_PID" 2>/dev/null; then
        echo "$name did not start on port $port; log:" >&2
        tail -20 "$OUT_DIR/$name-$STAMP.log" >&2
        exit 1
    fi
}

stop() {
    local pid=$1 keep=() p
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

start_redis() {
    start "$1" "$2" redis-server --port "$2" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        --dir "$WORK" --logfile ''
}

start_rhea() {
    local name=$1 port=$2 threads=$3 args=()
    [[ $threads == default ]] || args=(--io-threads "$threads")
    start "$name" "$port" "$RHEA_BIN" --port "$port" --bind 127.0.0.1 --loglevel warning \
        "${args[@]}"
}

# Runs a long step in the background and waits for it, so that a signal
# interrupts the wait and the cleanup trap runs at once (bash defers traps
# until a foreground command ends).
run_step() {
    local out=$1 pid rc=0
    shift
    "$@" >"$out" &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    stop "$pid"
    return "$rc"
}

rhea_name() { [[ $1 == default ]] && echo rhea || echo "rhea-io$1"; }

RHEA_BIN="$ROOT/target/release/rhea-server"
if [[ -n ${RHEA_REF:-} ]]; then
    # Build a committed revision, untouched by uncommitted edits in the
    # working tree, in its own target dir (kept between runs for speed).
    COMMIT=$(git rev-parse --short "$RHEA_REF")
    # A fixed source path with untouched mtimes: cargo then rebuilds only
    # what changed between revisions (a new temp dir rebuilt every crate).
    SRC="$ROOT/target/bench-ref/src"
    if [[ $(cat "$SRC/.rhea-commit" 2>/dev/null) != "$COMMIT" ]]; then
        rm -rf "$SRC"
        mkdir -p "$SRC"
        git archive "$COMMIT" | tar -x -C "$SRC"
        echo "$COMMIT" >"$SRC/.rhea-commit"
    fi
    echo "building rhea $COMMIT (release, from git archive)..." >&2
    (cd "$SRC" && CARGO_TARGET_DIR="$ROOT/target/bench-ref" cargo build --release --bin rhea-server >&2)
    RHEA_BIN="$ROOT/target/bench-ref/release/rhea-server"
else
    if [[ ${SKIP_BUILD:-} != 1 ]]; then
        echo "building rhea (release)..." >&2
        cargo build --release --bin rhea-server >&2
    fi
    COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    git diff --quiet HEAD -- crates src Cargo.toml Cargo.lock 2>/dev/null || COMMIT="$COMMIT (+ uncommitted changes)"
    [[ ${SKIP_BUILD:-} != 1 ]] || COMMIT="$COMMIT (SKIP_BUILD: binary built $(date -r "$RHEA_BIN" +%H:%M:%S))"
fi
[[ -x $RHEA_BIN ]] || { echo "no $RHEA_BIN" >&2; exit 1; }
VARIANTS_JSON="{"
for t in $RHEA_IO_THREADS; do
    [[ $t == default ]] && label="rhea (default io-threads)" || label="rhea --io-threads $t"
    VARIANTS_JSON="$VARIANTS_JSON\"$(rhea_name "$t")\": \"$label\", "
done
VARIANTS_JSON="${VARIANTS_JSON%, }}"
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//' || echo unknown)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
CMDLINE="REQUESTS=$REQUESTS CLIENTS=$CLIENTS ROUNDS=$ROUNDS PIPELINES=\\\"$PIPELINES\\\" TESTS=$TESTS"
CMDLINE="$CMDLINE KEYSPACE=$KEYSPACE RHEA_IO_THREADS=\\\"$RHEA_IO_THREADS\\\" MEM_KEYS=$MEM_KEYS"
[[ -z ${RHEA_REF:-} ]] || CMDLINE="$CMDLINE RHEA_REF=$RHEA_REF"
CMDLINE="$CMDLINE bash bench/vs-redis.sh"
echo "nproc $(nproc), load average $LOAD_BEFORE, $(redis-server --version | cut -d' ' -f3), rhea $COMMIT" >&2

TP_JSON=-
if [[ ${SKIP_THROUGHPUT:-} != 1 ]]; then
    SERVERS=()
    port=$(new_port)
    start_redis redis "$port"
    TP_PIDS=("$STARTED_PID")
    SERVERS+=("redis:$port:$STARTED_PID")
    for t in $RHEA_IO_THREADS; do
        name=$(rhea_name "$t")
        port=$(new_port)
        start_rhea "$name" "$port" "$t"
        TP_PIDS+=("$STARTED_PID")
        SERVERS+=("$name:$port:$STARTED_PID")
    done
    TP_JSON="$WORK/throughput.json"
    run_step "$TP_JSON" "${HELPER[@]}" throughput "${SERVERS[@]}"
    for pid in "${TP_PIDS[@]}"; do stop "$pid"; done
fi

MEM_JSON=-
if [[ $MEM_KEYS != 0 ]]; then
    # Fresh instances: RSS must not include what the throughput test left.
    main_threads=${RHEA_IO_THREADS%% *}
    rport=$(new_port)
    start_redis redis-mem "$rport"
    rpid=$STARTED_PID
    hport=$(new_port)
    start_rhea rhea-mem "$hport" "$main_threads"
    hpid=$STARTED_PID
    MEM_JSON="$WORK/memory.json"
    run_step "$MEM_JSON" "${HELPER[@]}" memory "redis:$rpid:$rport" "$(rhea_name "$main_threads"):$hpid:$hport"
    stop "$rpid"
    stop "$hpid"
fi

cat >"$WORK/env.json" <<EOF
{"date": "$(date -Iseconds)", "cpu": "$CPU", "nproc": "$(nproc)", "load_before": "$LOAD_BEFORE",
 "load_after": "$(cut -d' ' -f1-3 /proc/loadavg)", "redis_version": "$(redis-server --version)",
 "rhea_commit": "$COMMIT", "rustc": "$(rustc --version)", "command": "$CMDLINE", "variants": $VARIANTS_JSON}
EOF
"${HELPER[@]}" report "$TP_JSON" "$MEM_JSON" "$WORK/env.json" | tee "$REPORT"
echo >&2
echo "written to $REPORT" >&2
