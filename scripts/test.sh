#!/usr/bin/env bash
# Runs every test Rhea has: unit tests, differential tests against a real
# redis-server, integration tests with real processes, and the client suites.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --bins
cargo test --workspace
if [ -f scripts/test-clients.sh ]; then
  RHEA_BIN="$PWD/target/debug/rhea-server" bash scripts/test-clients.sh
fi
