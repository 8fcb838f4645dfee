#!/bin/bash
# A/B of two rhea-server binaries beside redis-server: one redis-benchmark
# test, rounds alternating over the three servers (FLUSHALL before each run),
# rps, p50 and the server's CPU per request from /proc/PID/stat. For
# comparing a change against its parent on a noisy machine:
#   cp target/release/rhea-server /tmp/rhea-old   # before the change
#   cp target/release/rhea-server /tmp/rhea-new   # after it
#   T=zadd N=300000 P=16 ROUNDS=3 bash bench/ab.sh
# CMD runs a command line instead of the test T, and LOAD is a file of RESP
# commands piped in after each FLUSHALL, e.g. a leaderboard of 100,000
# members taking increments of 1:
#   python3 bench/leaderboard.py > /tmp/lb.resp
#   LOAD=/tmp/lb.resp CMD="ZINCRBY lb 1 member:__rand_int__" bash bench/ab.sh
set -euo pipefail
OLD=${OLD:-/tmp/rhea-old}; NEW=${NEW:-/tmp/rhea-new}
T=${T:-zadd}; N=${N:-300000}; P=${P:-16}; R=${ROUNDS:-3}; PORT0=${PORT0:-28000}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
redis-server --port "$PORT0" --save '' --appendonly no > /dev/null 2>&1 & pids+=($!)
"$OLD" --port $((PORT0 + 1)) --loglevel warning > /dev/null 2>&1 & pids+=($!)
"$NEW" --port $((PORT0 + 2)) --loglevel warning > /dev/null 2>&1 & pids+=($!)
for port in "$PORT0" $((PORT0 + 1)) $((PORT0 + 2)); do
  for _ in $(seq 50); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.1; done
done
hz=$(getconf CLK_TCK)
cpu() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
for r in $(seq "$R"); do
  for i in 0 1 2; do
    name=(redis old new); port=$((PORT0 + i)); pid=${pids[$i]}
    redis-cli -p "$port" flushall > /dev/null
    [ -z "${LOAD:-}" ] || redis-cli -p "$port" --pipe < "$LOAD" > /dev/null
    c0=$(cpu "$pid")
    # shellcheck disable=SC2086 # CMD is a command line for redis-benchmark
    out=$(redis-benchmark -p "$port" -n "$N" -c 50 -P "$P" -r 100000 -q ${CMD:--t $T} 2> /dev/null | tr '\r' '\n' | grep -v '^$' | tail -1)
    c1=$(cpu "$pid")
    echo "round $r ${name[$i]}: $out; CPU $(awk -v c=$((c1 - c0)) -v hz="$hz" -v n="$N" 'BEGIN {printf "%.3f", c / hz * 1e6 / n}') us/req"
  done
done
