#!/usr/bin/env bash
# Runs every test of the project: the module-shape check, formatting, lints, docs, the Rust test suites (unit,
# integration, doc tests, fuzz-crash replays), the gateway admin page in headless Chromium and
# the Python suite (gray-py: built into target/py-venv, then pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

# gray-redis, gateway and Python tests start private redis-server instances (127.0.0.1,
# ephemeral ports, no persistence); gray-ffi runs its C test program under valgrind;
# lua-resty-gray's tests start nginx with the Lua module (installed here, so they must not skip);
# gray-etcd's tests start private etcd members (etcd-server, installed here too).
bash scripts/ensure-redis.sh
export GRAY_REQUIRE_NGINX=1

echo "== architecture (no import cycle, no oversized file)"
python3 scripts/check-architecture.py
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "== cargo test"
cargo test --workspace
echo "== admin page in headless Chromium"
bash scripts/test-admin-ui.sh
echo "== python (gray-py)"
bash scripts/test-python.sh
