#!/bin/bash
# A/B of two rhea-server binaries on a 3-node cluster: for each round, each
# binary gets a fresh cluster on loopback and redis-benchmark SET (50
# clients) against its leader; rounds alternate the two so drift on a shared
# machine hits both. Prints rps, latency percentiles, and the CPU time the
# three nodes spent per write (user + system, all threads): on a shared
# 2-core VM, throughput moves with the neighbours, CPU per write much less.
#   OLD=/tmp/rhea-old NEW=/tmp/rhea-new ROUNDS=3 N=600000 P=16 EXTRA="--raft-persist no" \
#     bash bench/cluster-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=${OLD:?path to the first binary} NEW=${NEW:?path to the second binary}
ROUNDS=${ROUNDS:-3} N=${N:-600000} P=${P:-16} P0=${PORT0:-27101}
source bench/cluster-lib.sh
D=$(mktemp -d /tmp/rhea-ab.XXXXXX)
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap 'stop; rm -rf "$D"' EXIT
cpu_ticks() { # utime + stime of every node process (fields 14, 15 of /proc/PID/stat)
  for p in "${pids[@]}"; do sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'; done | awk '{t += $1} END {print t}'
}
run() { # bin label
  rm -rf "$D"/n*
  local leader before after
  # shellcheck disable=SC2086 # EXTRA is a list of flags
  start_cluster "$1" "$D" "$P0" ${EXTRA:-}
  leader=$(wait_leader "$P0")
  before=$(cpu_ticks)
  # csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  redis-benchmark -p $((P0 + leader - 1)) -t set -n "$N" -c 50 -P "$P" -r 100000 --csv | tail -1 |
    tr -d '"' | awk -F, -v l="$2" '{printf "%-4s %9.0f rps  p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms", l, $2, $5, $7, $8}'
  after=$(cpu_ticks)
  awk -v b="$before" -v a="$after" -v hz="$(getconf CLK_TCK)" -v n="$N" \
    'BEGIN {printf "  cpu %5.2f us/write\n", (a - b) / hz / n * 1e6}'
  stop
}
for r in $(seq "$ROUNDS"); do
  run "$OLD" old
  run "$NEW" new
done
