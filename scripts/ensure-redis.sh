#!/usr/bin/env bash
# Installs the Debian packages the test suites need when missing: redis-server (and redis-cli),
# whose tests start their own private instances on ephemeral 127.0.0.1 ports, and valgrind,
# under which gray-ffi runs its C test program (gray-ffi/tests/c_program.rs), and nginx with
# its Lua module (libnginx-mod-http-lua, which brings LuaJIT and lua-resty-core), which
# lua-resty-gray's tests start in front of their own upstreams, etcd (etcd-server), which
# gray-etcd's tests start on free 127.0.0.1 ports with their own data directories, and cmake,
# which gray-pingora's build needs (pingora's flate2 builds zlib-ng from source). Idempotent
# and quiet.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
[ -x /usr/sbin/nginx ] || need+=(nginx)
[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] || need+=(libnginx-mod-http-lua)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "== installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
