#!/usr/bin/env bash
# Tests the gateway's admin page in headless Chromium (installs chromium, chromium-driver and
# python3 from Debian packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${need[*]}"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo build --quiet -p gray-gateway --bin gateway
CONSOLE_SCREENSHOT="${CONSOLE_SCREENSHOT:-${CARGO_TARGET_DIR:-target}/console.png}" \
    python3 scripts/admin_ui_test.py "${CARGO_TARGET_DIR:-target}/debug/gateway"
