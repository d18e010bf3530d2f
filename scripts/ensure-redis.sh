#!/usr/bin/env bash
# Installs the Debian packages the test suites need when missing: redis-server (and redis-cli),
# whose tests start their own private instances on ephemeral 127.0.0.1 ports, and valgrind,
# under which gray-ffi runs its C test program (gray-ffi/tests/c_program.rs). Idempotent and
# quiet.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "== installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
