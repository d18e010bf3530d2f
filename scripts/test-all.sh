#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, docs, the Rust test suites (unit,
# integration, doc tests, fuzz-crash replays), the gateway admin page in headless Chromium and
# the Python suite (gray-py: built into target/py-venv, then pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

# gray-redis tests start private redis-server instances (127.0.0.1, ephemeral ports, no
# persistence); install the server when it is missing.
if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installing redis-server"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

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
