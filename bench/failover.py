#!/usr/bin/env python3
"""Failover time and replicated write throughput of a Rhea Raft cluster
(driven by bench/failover.sh; see there for the settings).

failover: starts a 3-node cluster on loopback, then TRIALS times: finds the
leader, SIGKILLs it, and sends SET to the surviving nodes (a fresh attempt
every few ms, each with a short timeout) until one is acknowledged; the
failover time is from the kill to that acknowledgement. The killed node is
restarted and the cluster left to converge before the next trial.

throughput: redis-benchmark SET (-c CLIENTS, -P 1 and -P 16) against the
3-node cluster's leader, a follower (writes forwarded), the leader of a 3-node
cluster without persistence (raft-persist no), a 1-node cluster, a
plain single Rhea node and redis-server, interleaved over ROUNDS rounds,
medians reported.

Every process started here is killed on exit.
"""

import atexit
import csv
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

RHEA = os.environ.get("RHEA_BIN", "target/release/rhea-server")
WORK = os.environ.get("WORK", "/tmp")
PROCS = []


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            p.kill()
    for p in PROCS:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def env_int(name, default):
    return int(os.environ.get(name, default))


def freeport(used=set()):
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in used:
            used.add(port)
            return port


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def command(port, *args, timeout=1.0):
    """One command on a fresh connection; the reply's first line (and, for
    a bulk reply, its body) as text, or None on any failure."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(encode(*args))
            data = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    return None
                data += chunk
                if data.startswith(b"$"):
                    head, _, rest = data.partition(b"\r\n")
                    n = int(head[1:])
                    if n < 0:
                        return ""
                    if len(rest) >= n + 2:
                        return rest[:n].decode(errors="replace")
                elif data.endswith(b"\r\n"):
                    return data.decode(errors="replace").strip()
    except (OSError, ValueError):
        return None
    return None


def info(port):
    text = command(port, "INFO", "replication", timeout=0.5)
    if not text:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    try:
        return {
            "master": fields["role"].strip() == "master",
            "id": int(fields["raft_node_id"]),
            "leader": int(fields["raft_leader_id"]),
            "term": int(fields["raft_term"]),
            "commit": int(fields["raft_commit_index"]),
            "applied": int(fields["raft_applied_index"]),
        }
    except (KeyError, ValueError):
        return None


def wait_ping(port, proc, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if command(port, "PING", timeout=0.5) == "+PONG":
            return
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    raise SystemExit(f"server on port {port} did not start (see logs in {WORK})")


class Node:
    def __init__(self, name, port, args):
        self.name, self.port, self.args, self.proc = name, port, args, None

    def start(self):
        log = open(os.path.join(WORK, f"{self.name}.log"), "ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=WORK)
        PROCS.append(self.proc)
        wait_ping(self.port, self.proc)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def cluster(n, prefix, extra=()):
    raft = [freeport() for _ in range(n)]
    peers = ",".join(f"{i + 1}@127.0.0.1:{raft[i]}" for i in range(n))
    nodes = []
    for i in range(n):
        port = freeport()
        args = [RHEA, "--port", str(port), "--node-id", str(i + 1), "--raft-addr", f"127.0.0.1:{raft[i]}",
                "--peers", peers, "--loglevel", "notice",
                # Each node its own log: clusters in one run must not share
                # (or inherit) a default rhea-raft-<id> directory.
                "--raft-dir", os.path.join(WORK, f"{prefix}{i}-raft"), *extra]
        nodes.append(Node(f"{prefix}{i}", port, args))
    for node in nodes:
        node.start()
    return nodes


def leader(nodes, seconds=15):
    """Index of the node a majority agrees leads, or None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        infos = [info(n.port) if n.proc else None for n in nodes]
        for i, r in enumerate(infos):
            if r and r["master"] and r["leader"] == r["id"]:
                agree = sum(1 for o in infos if o and o["leader"] == r["id"] and o["term"] == r["term"])
                if agree > len(nodes) // 2:
                    return i
        time.sleep(0.02)
    return None


def converged(nodes, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        l = leader(nodes, 1)
        if l is not None:
            infos = [info(n.port) for n in nodes]
            if all(infos) and all(r["applied"] == infos[l]["commit"] for r in infos):
                return True
        time.sleep(0.05)
    return False


def percentile(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def failover(trials):
    nodes = cluster(3, "failover-node")
    times = []
    for t in range(trials):
        l = leader(nodes)
        if l is None:
            raise SystemExit(f"trial {t}: no leader")
        if command(nodes[l].port, "SET", "bench:before", t) != "+OK":
            raise SystemExit(f"trial {t}: the leader does not accept writes")
        survivors = [n for i, n in enumerate(nodes) if i != l]
        nodes[l].kill()
        killed = time.monotonic()
        acked = None
        k = 0
        while time.monotonic() - killed < 30:
            node = survivors[k % len(survivors)]
            k += 1
            if command(node.port, "SET", f"bench:failover:{t}", k, timeout=0.3) == "+OK":
                acked = time.monotonic()
                break
            time.sleep(0.005)
        if acked is None:
            raise SystemExit(f"trial {t}: no write acknowledged within 30 s of the kill")
        times.append(acked - killed)
        print(f"trial {t + 1}/{trials}: killed node {l + 1}, first write acknowledged after {times[-1] * 1000:.0f} ms",
              file=sys.stderr)
        nodes[l].start()
        if not converged(nodes):
            raise SystemExit(f"trial {t}: the cluster did not converge after restarting node {l + 1}")
    for n in nodes:
        n.kill()
    return {"trials": trials, "p50_ms": percentile(times, 50) * 1000, "p99_ms": percentile(times, 99) * 1000,
            "max_ms": max(times) * 1000, "min_ms": min(times) * 1000}


def benchmark(port, pipeline, requests, clients, timeout):
    cmd = ["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(requests), "-c", str(clients),
           "-P", str(pipeline), "-r", "100000", "--csv"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout
    except subprocess.TimeoutExpired:
        return None
    rows = [r for r in csv.reader(io.StringIO(out)) if r and r[0] == "SET"]
    if not rows:
        return None
    r = rows[-1]
    return {"rps": float(r[1]), "p50": float(r[4]), "p99": float(r[6])}


def throughput():
    rounds, requests, clients = env_int("ROUNDS", 3), env_int("REQUESTS", 100000), env_int("CLIENTS", 50)
    timeout = env_int("RUN_TIMEOUT", 120)
    nodes = cluster(3, "tp-node")
    l = leader(nodes)
    if l is None:
        raise SystemExit("throughput: no leader")
    # The same cluster without persistence (`raft-persist no`: no fsync;
    # acknowledged writes survive the loss of a minority, not of all nodes).
    mem = cluster(3, "tp-mem-node", ("--raft-persist", "no"))
    m = leader(mem)
    if m is None:
        raise SystemExit("throughput: no leader in the memory-only cluster")
    one = cluster(1, "tp-single-raft")
    if leader(one) is None:
        raise SystemExit("throughput: the 1-node cluster elected no leader")
    plain_port = freeport()
    plain = Node("tp-plain", plain_port, [RHEA, "--port", str(plain_port), "--loglevel", "warning"])
    plain.start()
    redis_port = freeport()
    redis = Node("tp-redis", redis_port, ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                          "--appendonly", "no", "--logfile", ""])
    redis.start()
    targets = [
        ("rhea 3-node cluster (leader)", nodes[l].port),
        ("rhea 3-node cluster (via follower)", nodes[(l + 1) % 3].port),
        ("rhea 3-node cluster, raft-persist no (leader)", mem[m].port),
        ("rhea 1-node cluster", one[0].port),
        ("rhea single node (no raft)", plain_port),
        ("redis-server", redis_port),
    ]
    results = {name: {1: [], 16: []} for name, _ in targets}
    for r in range(rounds):
        for pipeline in (1, 16):
            for name, port in targets:
                res = benchmark(port, pipeline, requests, clients, timeout)
                print(f"round {r + 1}/{rounds} -P {pipeline} {name}: {res}", file=sys.stderr)
                if res:
                    results[name][pipeline].append(res)
    table = []
    for name, _ in targets:
        row = {"server": name}
        for pipeline in (1, 16):
            runs = results[name][pipeline]
            row[f"P{pipeline}"] = None if not runs else {
                "rps": statistics.median(x["rps"] for x in runs),
                "p50": statistics.median(x["p50"] for x in runs),
                "p99": statistics.median(x["p99"] for x in runs),
                "runs": len(runs),
            }
        table.append(row)
    for n in nodes + mem + one + [plain, redis]:
        n.kill()
    return table


def report(fo, tp):
    lines = []
    if fo:
        lines += ["## Failover time (leader SIGKILL to first acknowledged write)", "",
                  f"{fo['trials']} trials: p50 {fo['p50_ms']:.0f} ms, p99 {fo['p99_ms']:.0f} ms "
                  f"(min {fo['min_ms']:.0f} ms, max {fo['max_ms']:.0f} ms); target p50 < 1000 ms, p99 < 2000 ms", ""]
    if tp:
        lines += ["## Replicated write throughput (redis-benchmark SET, median)", "",
                  "| server | -P 1 rps | p50/p99 ms | -P 16 rps | p50/p99 ms |", "|---|---:|---:|---:|---:|"]
        base = next((r for r in tp if r["server"].startswith("rhea single")), None)
        for r in tp:
            cells = []
            for p in ("P1", "P16"):
                x = r[p]
                cells += ["ERROR", "-"] if not x else [f"{x['rps']:,.0f}", f"{x['p50']:.3f} / {x['p99']:.3f}"]
            lines.append(f"| {r['server']} | " + " | ".join(cells) + " |")
        lines.append("")
        for r in tp:
            if r["server"].endswith("(leader)") and base and base["P16"] and r["P16"]:
                ratio = r["P16"]["rps"] / base["P16"]["rps"]
                name = r["server"].removesuffix(" (leader)")
                lines.append(f"- {name} / single node, pipelined: {ratio:.2f} (target >= 0.50)")
        # The same comparison with the same durability on both sides: the
        # plain single node keeps no log, the 1-node cluster keeps it on
        # disk as the 3-node cluster does.
        one = next((r for r in tp if r["server"] == "rhea 1-node cluster"), None)
        three = next((r for r in tp if r["server"] == "rhea 3-node cluster (leader)"), None)
        if one and three and one["P16"] and three["P16"] and base and base["P16"]:
            lines.append(f"- rhea 3-node cluster / 1-node cluster, both with the log on disk, pipelined: "
                         f"{three['P16']['rps'] / one['P16']['rps']:.2f}")
            lines.append(f"- rhea 1-node cluster / single node (what Raft and the log on disk cost without "
                         f"replication), pipelined: {one['P16']['rps'] / base['P16']['rps']:.2f}")
    return "\n".join(lines)


def main():
    what = sys.argv[1:] or ["failover", "throughput"]
    fo = failover(env_int("TRIALS", 20)) if "failover" in what else None
    tp = throughput() if "throughput" in what else None
    print(report(fo, tp))
    print(json.dumps({"failover": fo, "throughput": tp}), file=sys.stderr)


if __name__ == "__main__":
    main()
