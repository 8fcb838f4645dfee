#!/bin/bash
# Where a replicated write's CPU goes: starts a 3-node cluster (release
# build), runs redis-benchmark SET -P 16 against the leader and prints each
# node's CPU seconds per thread name (from /proc/PID/task/*/stat) over the
# run. PERF=1 also samples the leader with `perf record` for 4 s and prints
# the share per thread and object (kernel vs user).
#   bash bench/cluster-threads.sh            # N=400000 PORT0=27001 R=100000 (keyspace)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/rhea-server}
[ -x "$BIN" ] || cargo build --release --bin rhea-server
N=${N:-400000}
P0=${PORT0:-27001}
D=$(mktemp -d /tmp/rhea-threads.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$D"; }
trap cleanup EXIT
source bench/cluster-lib.sh
# shellcheck disable=SC2086 # EXTRA is a list of flags
start_cluster "$BIN" "$D" "$P0" ${EXTRA:-}
leader=$(wait_leader "$P0")
snap() {
  for i in 1 2 3; do
    for t in /proc/${pids[$((i - 1))]}/task/*; do
      # utime and stime: fields 14 and 15 of stat, after the "(comm)".
      read -r -a s <<< "$(sed 's/.*) //' "$t/stat")"
      cs=$(awk '/^voluntary_ctxt_switches|^nonvoluntary_ctxt_switches/ {n += $2} END {print n}' "$t/status")
      echo "$i $(cat "$t/comm" | sed 's/-[0-9]*$//') $((s[11] + s[12])) $cs"
    done
  done | awk '{a[$1" "$2]+=$3; c[$1" "$2]+=$4} END {for (k in a) print k, a[k], c[k]}' | sort
}
snap > "$D/before"
pp=""
if [ -n "${PERF:-}" ]; then
  perf record -F 999 -g -p "${pids[$((leader - 1))]}" -o "$D/perf.data" -- sleep 4 > /dev/null 2>&1 &
  pp=$!
fi
redis-benchmark -p $((P0 + leader - 1)) -t set -n "$N" -c 50 -P 16 -r ${R:-100000} -q | tr '\r' '\n' | tail -2
[ -n "$pp" ] && wait "$pp"
snap > "$D/after"
hz=$(getconf CLK_TCK)
echo "leader: node $leader; CPU seconds and context switches per thread over $N SETs:"
join <(awk '{print $1"_"$2, $3, $4}' "$D/before") <(awk '{print $1"_"$2, $3, $4}' "$D/after") |
  awk -v hz="$hz" '{printf "  node %-16s %.2f s %8d switches\n", $1, ($4 - $2) / hz, $5 - $3}' | sed 's/_/ /'
if [ -n "$pp" ]; then
  perf report -i "$D/perf.data" --no-children --sort comm,dso --stdio -g none 2>/dev/null | grep "%" | head -20
  [ -n "${PERF_SYMS:-}" ] && perf report -i "$D/perf.data" --no-children --sort comm,sym --stdio -g none 2>/dev/null | grep "%" | head -"$PERF_SYMS"
fi
