#!/usr/bin/env bash
# Installs what the tests and benchmarks need, only what is missing:
# redis-server/redis-cli/redis-benchmark (the oracle and the load tool) from
# Debian, ss and prlimit, redis-py and pytest from PyPI. Idempotent; safe to run every time.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
  # Debian starts a redis-server service on 6379; tests use their own ports,
  # and a stray server on the default port would confuse `cargo run`.
  $SUDO service redis-server stop >/dev/null 2>&1 || true
fi
# ss (iproute2) and prlimit (util-linux): tests/observability.rs reads the
# sockets' keepalive timers and raises the open-file limit for 1,000 clients.
if ! command -v ss >/dev/null || ! command -v prlimit >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iproute2 util-linux >/dev/null
fi
if ! python3 -c 'import redis, pytest' 2>/dev/null; then
  python3 -m pip install -q redis pytest
fi
# dig (dnsutils): tests/cluster_dns.rs asks the cluster's DNS server as an
# operator would.
if ! command -v dig >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dnsutils >/dev/null
fi
