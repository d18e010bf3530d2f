#!/usr/bin/env bash
# Builds the `gray` Python package from source and runs its tests (pytest: corpus, sticky
# vectors, API, bad input, FastAPI and Flask middleware, outgoing calls through the httpx and
# requests adapters, the three-hop chain through the gateway binary, gray.etcd registration
# against a private etcd, mypy --strict and
# stubtest).
#
# Needs CPython >= 3.9 with venv and pip (3.11 on CI) and the Rust toolchain. Everything else
# (maturin, pytest, fastapi, httpx, requests, flask, mypy, pyyaml; versions pinned in
# gray-py/requirements-test.txt) is installed into target/py-venv, once, and reused.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${GRAY_PY_VENV:-$PWD/target/py-venv}"
REQS="gray-py/requirements-test.txt"

bash scripts/ensure-redis.sh   # test_redis.py runs a private redis-server, test_etcd.py an etcd
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    echo "installing python3-venv" >&2
    (apt-get update -qq && apt-get install -y -qq python3-venv python3-pip) >/dev/null
fi
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
# Reinstall the tools only when the pinned list changes.
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"
    echo "$want" > "$stamp"
fi

# A debug build reuses what `cargo test` just compiled; GRAY_PY_RELEASE=1 builds optimised
# (needed for benches/python/bench_decide.py).
profile=()
if [ "${GRAY_PY_RELEASE:-0}" = 1 ]; then profile=(--release); fi
echo "== maturin develop (gray-py ${profile[*]:-debug})"
VIRTUAL_ENV="$VENV" "$VENV/bin/maturin" develop --quiet "${profile[@]}" -m gray-py/Cargo.toml

# test_call_chain.py runs client -> gateway -> Python svc-a -> svc-b with the real gateway.
echo "== cargo build gateway (for the call-chain test)"
cargo build --quiet -p gray-gateway --bin gateway
export GRAY_GATEWAY="${CARGO_TARGET_DIR:-$PWD/target}/debug/gateway"

echo "== pytest gray-py/tests"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider gray-py/tests
