"""Fixtures for the redis-py suite.

The suite starts its own rhea-server on a free loopback port, from the
binary named by RHEA_BIN (default: target/debug/rhea-server under the repo
root). Setting RHEA_CLIENT_PORT instead points the suite at a server that is
already running, e.g. a real redis-server 7.0, which is how the expectations
in these tests were checked against the reference.
"""

import os
import subprocess
import time
from pathlib import Path

import pytest
import redis
from rhea_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]


def _wait_ready(port, proc=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"rhea-server exited with status {proc.returncode}")
        try:
            if redis.Redis(port=port, protocol=2, socket_timeout=1).ping():
                return
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} not ready after {timeout}s")


@pytest.fixture(scope="session")
def server_port():
    existing = os.environ.get("RHEA_CLIENT_PORT")
    if existing:
        port = int(existing)
        _wait_ready(port)
        yield port
        return
    binary = Path(os.environ.get("RHEA_BIN", ROOT / "target" / "debug" / "rhea-server"))
    if not binary.is_absolute():
        binary = ROOT / binary
    if not binary.exists():
        pytest.exit(f"{binary} not found: run `cargo build` first or set RHEA_BIN", returncode=2)
    port = free_port()
    proc = subprocess.Popen(
        [str(binary), "--port", str(port), "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_ready(port, proc)
        yield port
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def port(server_port):
    """The server's port, with every database flushed before the test."""
    redis.Redis(port=server_port, protocol=2).flushall()
    return server_port


@pytest.fixture
def r(port):
    """A RESP2 client returning bytes (the protocol is explicit because
    redis-py's default changed to RESP3 in recent releases)."""
    c = redis.Redis(port=port, protocol=2, socket_timeout=10)
    yield c
    c.close()


@pytest.fixture
def rs(port):
    """A RESP2 client that decodes replies to str."""
    c = redis.Redis(port=port, protocol=2, decode_responses=True, socket_timeout=10)
    yield c
    c.close()


@pytest.fixture
def r3(port):
    """A RESP3 client (redis-py sends HELLO 3 on connect)."""
    c = redis.Redis(port=port, protocol=3, decode_responses=True, socket_timeout=10)
    yield c
    c.close()
