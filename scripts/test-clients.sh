#!/usr/bin/env bash
# Runs the redis-py client suite (tests/clients) against a rhea-server that
# the suite starts itself. Installs nothing: redis-py and pytest must be
# there already (CI installs them).
#   RHEA_BIN=path/to/rhea-server   binary to test (default target/debug/rhea-server, built here if missing)
#   RHEA_CLIENT_PORT=N             test an already running server instead (e.g. redis-server, to check the suite)
# Extra arguments go to pytest (e.g. -k incr, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import redis, pytest' 2>/dev/null; then
    echo "test-clients: redis-py and pytest are required (pip install redis pytest)" >&2
    exit 1
fi
if [[ -z "${RHEA_CLIENT_PORT:-}" && -z "${RHEA_BIN:-}" && ! -x target/debug/rhea-server ]]; then
    cargo build --bin rhea-server
fi
exec "$PYTHON" -m pytest -q -p no:cacheprovider tests/clients "$@"
