# Sourced by the cluster benchmarks: a 3-node cluster on loopback.
# Clients on PORT0..PORT0+2, Raft on PORT0+3..PORT0+5.

# start_cluster BIN DIR PORT0 [server flags...]: starts the nodes (data and
# logs under DIR) and appends their PIDs to the caller's array `pids`.
start_cluster() {
  local bin=$1 dir=$2 p0=$3
  shift 3
  local peers="1@127.0.0.1:$((p0 + 3)),2@127.0.0.1:$((p0 + 4)),3@127.0.0.1:$((p0 + 5))"
  for i in 1 2 3; do
    "$bin" --port $((p0 + i - 1)) --node-id $i --raft-addr 127.0.0.1:$((p0 + i + 2)) --peers "$peers" \
      --loglevel warning --raft-dir "$dir/n$i" "$@" > "$dir/log$i" 2>&1 &
    pids+=($!)
  done
}

# wait_leader PORT0: prints the leader's node number (1-3) once ROLE says
# one is master; fails after about 10 s.
wait_leader() {
  local p0=$1
  for _ in $(seq 50); do
    for i in 1 2 3; do
      if [ "$(redis-cli -p $((p0 + i - 1)) role 2>/dev/null | head -1)" = master ]; then
        echo "$i"
        return 0
      fi
    done
    sleep 0.2
  done
  echo "no leader elected" >&2
  return 1
}
