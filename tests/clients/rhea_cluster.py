"""A Rhea cluster of real rhea-server processes on loopback, and a writer
that records every write it got an OK for, for the client-library failover
tests (test_sentinel_failover.py) and bench/failover-paths.py.

Node i has Raft id i + 1, a client port, a Raft port and a Sentinel port;
its log goes to <dir>/node<i>.log. Every wait is bounded.
"""

import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[2]


PORT_LOW, PORT_SPAN = 20000, 12000
# A random start keeps a second test process off this one's ports.
_port_seq = itertools.count(random.randrange(PORT_SPAN))


def free_port():
    """A port nothing listens on, below Linux's ephemeral range: a port from
    bind(0) is ephemeral, and an outgoing connection may take it as its
    source port before the server binds it (see tests/common/mod.rs)."""
    for _ in range(PORT_SPAN):
        port = PORT_LOW + next(_port_seq) % PORT_SPAN
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORT_LOW}..{PORT_LOW + PORT_SPAN}")


def rhea_bin():
    binary = Path(os.environ.get("RHEA_BIN", ROOT / "target" / "debug" / "rhea-server"))
    return binary if binary.is_absolute() else ROOT / binary


class RheaCluster:
    def __init__(self, binary, n=3, extra=(), hosts=None, per_node=lambda i: []):
        """`hosts`: one loopback address per node (then every node uses the
        same client port, as behind a DNS name); default all 127.0.0.1.
        `per_node(i)`: more arguments for node i."""
        self.dir = Path(tempfile.mkdtemp(prefix="rhea-py-cluster-"))
        self.hosts = hosts or ["127.0.0.1"] * n
        self.ports = [free_port()] * n if hosts else [free_port() for _ in range(n)]
        self.raft_ports = [free_port() for _ in range(n)]
        self.sentinel_ports = [free_port() for _ in range(n)]
        peers = ",".join(f"{i + 1}@{self.hosts[i]}:{p}" for i, p in enumerate(self.raft_ports))
        self.args = [
            [
                str(binary),
                "--bind", self.hosts[i],
                "--port", str(self.ports[i]),
                "--node-id", str(i + 1),
                "--raft-addr", f"{self.hosts[i]}:{self.raft_ports[i]}",
                "--peers", peers,
                "--raft-dir", str(self.dir / f"raft{i}"),
                "--sentinel-port", str(self.sentinel_ports[i]),
                *extra,
                *per_node(i),
            ]
            for i in range(n)
        ]
        self.procs = [None] * n
        try:
            for i in range(n):
                self.start(i)
        except Exception:
            self.close()
            raise

    def __len__(self):
        return len(self.ports)

    def start(self, i, timeout=20.0):
        log = open(self.dir / f"node{i}.log", "ab")
        self.procs[i] = subprocess.Popen(self.args[i], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[i].poll() is not None:
                raise RuntimeError(f"node {i} exited with {self.procs[i].returncode}; see {self.dir}")
            try:
                if self.redis(i).ping():
                    return
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"node {i} did not answer PING within {timeout}s")

    def redis(self, i, timeout=0.5):
        return redis.Redis(host=self.hosts[i], port=self.ports[i], socket_timeout=timeout, protocol=2)

    def kill(self, i):
        p = self.procs[i]
        if p is not None:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)
            self.procs[i] = None

    def role(self, i):
        if self.procs[i] is None:
            return None
        try:
            return self.redis(i).info("replication").get("raft_role")
        except redis.exceptions.RedisError:
            return None

    def leader(self, timeout=15.0, exclude=()):
        """The index of the node that says it leads, once exactly one does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = [i for i in range(len(self)) if i not in exclude and self.role(i) == "leader"]
            if len(leaders) == 1:
                return leaders[0]
            time.sleep(0.05)
        raise RuntimeError(f"no leader within {timeout}s")

    def settle(self, timeout=30.0):
        """Writes once through the leader and waits until every node applied
        it. A node that never heard from a leader since it started empty
        grants no vote (the rejoin rule), so killing the leader before every
        node caught up once can leave the others unable to elect."""
        leader = self.leader(timeout=timeout)
        self.redis(leader, timeout=5).set("__settle__", "1")
        self.wait_converged(timeout)
        return leader

    def wait_converged(self, timeout=30.0):
        """Waits until every running node has applied the same index."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            applied = set()
            for i in range(len(self)):
                try:
                    info = self.redis(i).info("replication")
                    applied.add((info.get("raft_applied_index"), info.get("raft_commit_index")))
                except redis.exceptions.RedisError:
                    applied.add(None)
            if len(applied) == 1 and None not in applied:
                return
            time.sleep(0.1)
        raise RuntimeError("the nodes did not converge")

    def missing(self, keys):
        """Per running node, the acknowledged keys it does not hold (read
        locally)."""
        out = {}
        for i in range(len(self)):
            if self.procs[i] is None:
                continue
            c = self.redis(i, timeout=5)
            c.execute_command("READONLY")
            absent = []
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                for k, v in zip(chunk, c.mget(chunk)):
                    if v is None:
                        absent.append(k)
            out[i] = absent
            c.close()
        return out

    def close(self, keep=False):
        """Kills every node; the logs stay (and their place is printed) when
        `keep` or RHEA_KEEP_LOGS is set."""
        for i in range(len(self)):
            if self.procs[i] is not None:
                self.procs[i].send_signal(signal.SIGCONT)
            self.kill(i)
        if keep or os.environ.get("RHEA_KEEP_LOGS"):
            print(f"node logs kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class Writer(threading.Thread):
    """Writes unique keys one at a time through `client()` until stopped.
    A write counts as acknowledged only if it got OK; any error (connection
    lost, TRYAGAIN, CLUSTERDOWN) makes the writer pause 10 ms and go on with
    the next key, asking `client(reset=True)` for a client again."""

    def __init__(self, client, prefix):
        super().__init__(daemon=True)
        self.client = client
        self.prefix = prefix
        self.acked = []  # (key, invoked, completed)
        self.errors = 0
        self.stopping = threading.Event()

    def run(self):
        n = 0
        c = None
        reset = False
        while not self.stopping.is_set() and n < 10_000_000:
            n += 1
            key = f"{self.prefix}:{n}"
            t0 = time.monotonic()
            try:
                if c is None:
                    c = self.client(reset=reset)
                ok = c.set(key, str(n))
            except Exception:  # noqa: BLE001 - any failure is "could not write"
                ok = False
                self.errors += 1
                c, reset = None, True
                time.sleep(0.01)
            if ok is True:
                self.acked.append((key, t0, time.monotonic()))

    def first_ack_after(self, t):
        """Seconds from `t` to the first OK of a write invoked after `t`."""
        for _key, t0, t1 in self.acked:
            if t0 >= t:
                return t1 - t
        return None

    def stop(self):
        self.stopping.set()
        self.join(timeout=15)
