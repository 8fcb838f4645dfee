"""redis-py's stock Sentinel support against a 3-node Rhea cluster: a
client made by `Sentinel(...).master_for("mymaster")` writes continuously
while the leader is SIGKILLed; it recovers with no change to its
configuration, and every write it got an OK for is on every node afterwards
(the killed node included, once restarted). Prints the time it could not
write.

Needs the built binary (RHEA_BIN, default target/debug/rhea-server); skipped
when the suite runs against another server (RHEA_CLIENT_PORT).
"""

import os
import signal
import time

import pytest
import redis
from redis.sentinel import Sentinel

from rhea_cluster import RheaCluster, Writer, rhea_bin

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("RHEA_CLIENT_PORT")), reason="needs rhea-server processes, not an external server"
)


@pytest.fixture
def cluster():
    binary = rhea_bin()
    if not binary.exists():
        pytest.skip(f"{binary} not built")
    c = RheaCluster(binary)
    yield c
    c.close()


def sentinel_for(c):
    return Sentinel(
        [("127.0.0.1", p) for p in c.sentinel_ports],
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
    )


def test_master_for_writes_through_a_leader_sigkill(cluster):
    old = cluster.settle()
    sentinel = sentinel_for(cluster)
    assert sentinel.discover_master("mymaster") == ("127.0.0.1", cluster.ports[old])
    master = sentinel.master_for("mymaster", socket_timeout=1.0, socket_connect_timeout=0.5)
    w = Writer(lambda reset: master, "py")
    w.start()
    deadline = time.monotonic() + 15
    while len(w.acked) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(w.acked) >= 200, f"only {len(w.acked)} writes before the kill"

    killed_at = time.monotonic()
    cluster.kill(old)
    new = cluster.leader(exclude=(old,))
    deadline = time.monotonic() + 20
    while w.first_ack_after(killed_at) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    w.stop()
    gap = w.first_ack_after(killed_at)
    assert gap is not None, "redis-py's Sentinel client never wrote again after the leader died"
    print(f"\nredis-py Sentinel: could not write for {gap:.3f} s after SIGKILL of the leader "
          f"({len(w.acked)} writes acknowledged, {w.errors} failed)")
    assert sentinel.discover_master("mymaster") == ("127.0.0.1", cluster.ports[new])
    assert gap < 10, f"{gap:.1f} s without a write"

    cluster.start(old)
    cluster.wait_converged()
    keys = [k for k, _, _ in w.acked]
    missing = cluster.missing(keys)
    assert all(not m for m in missing.values()), {i: m[:10] for i, m in missing.items() if m}


def test_clients_of_a_deposed_leader_reconnect_to_the_new_one(cluster):
    """A pool connected through Sentinel to a leader that loses leadership
    (SIGSTOP, the others elect, SIGCONT) is disconnected by it, and its next
    command goes to the new leader."""
    old = cluster.settle()
    sentinel = sentinel_for(cluster)
    master = sentinel.master_for("mymaster", socket_timeout=2.0, socket_connect_timeout=0.5)
    assert master.set("k", "1")
    assert master.client_id()
    before = master.connection_pool.get_master_address()
    assert before == ("127.0.0.1", cluster.ports[old])
    cluster.procs[old].send_signal(signal.SIGSTOP)
    try:
        new = cluster.leader(exclude=(old,))
    finally:
        cluster.procs[old].send_signal(signal.SIGCONT)
    # The old leader closes the pooled connection; the pool resolves the
    # leader again on the next command.
    deadline = time.monotonic() + 10
    where = None
    while time.monotonic() < deadline:
        try:
            info = master.info("replication")
            where = info.get("raft_node_id")
            if where == new + 1 and info.get("role") == "master":
                break
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            pass
        time.sleep(0.05)
    assert where == new + 1, f"the pool still talks to node id {where}, the leader is {new + 1}"
    assert master.set("k", "2")
