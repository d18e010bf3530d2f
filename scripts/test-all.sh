#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, docs, the Rust test suites (unit,
# integration, doc tests, fuzz-crash replays) and, as they land, the Python suite.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "== cargo test"
cargo test --workspace
echo "== python (gray-py)"
bash scripts/test-python.sh
