#!/usr/bin/env bash
# Installs redis-server (and redis-cli) when missing; the Redis tests start their own private
# instances on ephemeral 127.0.0.1 ports. Idempotent and quiet.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  exit 0
fi
echo "== installing redis-server"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
