#!/usr/bin/env bash
# nginx gray routing three ways under wrk, interleaved (A, B, C, A, B, C, ...) so that a change
# of machine load hits all three alike; the load average is printed before each run.
#
#   (A) nginx + Lua + a Redis lookup of the client IP per request (seed 004's design; a minimal
#       RESP client over ngx.socket.tcp with a keepalive pool: Debian packages no
#       lua-resty-redis)
#   (B) nginx + lua-resty-gray (cookie, header, IP list and 10 % rules; balancer_by_lua)
#   (C) nginx geo + map alone (the cookie and IP rules, no Lua)
#   (D) nginx + lua-resty-gray naming the group only (set_by_lua + group(), nginx's own upstream
#       blocks pick the server: no balancer or log phase)
#
# All three proxy to the same two local upstreams (nginx `return 200`) over keepalive
# connections. Prints requests/s and the nginx worker's CPU time per request for each run, the
# means per setup and the ratios B/C and B/A.
#
#   usage: benches/compare-nginx-lua.sh [seconds per run (10)] [rounds (3)] [connections (32)]
#   JITV=/tmp/jit.log to record LuaJIT's trace decisions (jit.v) while it runs
#   COUNT=N: instructions per request under callgrind instead (N requests per setup; valgrind)
#
# Needs nginx + libnginx-mod-http-lua (or GRAY_NGINX=/path/to/openresty), wrk and
# redis-server; builds libgray.so with `cargo build -p gray-ffi --release` (CARGO_TARGET_DIR
# is honoured). Waits while /tmp/quiet exists (someone else is benchmarking).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${1:-10}
ROUNDS=${2:-3}
CONNS=${3:-32}
THREADS=2

quiet() { while [ -e /tmp/quiet ]; do sleep 15; done; }
for tool in wrk redis-server; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install -y $tool)" >&2; exit 1; }
done
NGINX=${GRAY_NGINX:-/usr/sbin/nginx}
LOAD_MODULES=""
if [ -z "${GRAY_NGINX:-}" ]; then
    for m in ndk_http_module ngx_http_lua_module; do
        f=/usr/lib/nginx/modules/$m.so
        [ -f "$f" ] || { echo "$f is missing (apt-get install -y nginx libnginx-mod-http-lua)" >&2; exit 1; }
        LOAD_MODULES+="load_module $f;"$'\n'
    done
fi

quiet
cargo build --quiet -p gray-ffi --release
LIB=${CARGO_TARGET_DIR:-$ROOT/target}/release/libgray.so

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DIR=$(mktemp -d /tmp/gray-bench.XXXXXX)
mkdir -p "$DIR/logs" "$DIR/temp"
U1=$(free_port); U2=$(free_port); PA=$(free_port); PB=$(free_port); PC=$(free_port); PD=$(free_port); PR=$(free_port)

redis-server --port "$PR" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$DIR/redis.log" 2>&1 &
REDIS_PID=$!
NGINX_PID=""
cleanup() {
    [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
    kill "$REDIS_PID" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT
for _ in $(seq 50); do redis-cli -p "$PR" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$PR" set 192.168.2.20 192.168.2.20 >/dev/null   # seed 004: a tester's IP

cat >"$DIR/rules.yaml" <<YAML
version: 1
client_ip: { trusted_proxies: ["10.0.0.0/8"], header: x-forwarded-for, recursive: true }
ip_sets: { testers: { entries: ["192.168.2.20", "10.8.0.0/16"] } }
groups:
  stable: { nodes: [{ address: "127.0.0.1:$U1" }] }
  canary: { fallback: stable, nodes: [{ address: "127.0.0.1:$U2" }] }
rules:
  - { id: canary-cookie, when: { cookie: { name: canary, regex: "aaa\$", ignore_case: true } }, route: canary, set_headers: { x-gray: canary-cookie } }
  - { id: beta-header, when: { header: { name: x-beta, in: ["1", "yes"] } }, route: canary }
  - { id: testers, when: { ip: [testers] }, route: canary }
  - { id: ten-percent, when: { percent: { key: { cookie: uid }, value: 10 } }, route: canary }
default: stable
YAML

# JITV=FILE: LuaJIT's trace compiler reports (jit.v: traces made, aborted and why) go to FILE.
JITV_LINE=""
[ -n "${JITV:-}" ] && JITV_LINE="require('jit.v').on('$JITV')"
USER_LINE=""
[ "$(id -u)" = 0 ] && USER_LINE="user root;"
cat >"$DIR/nginx.conf" <<CONF
$LOAD_MODULES
$USER_LINE
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
env GRAY_LIB;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path temp/body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;
    lua_package_path "$ROOT/lua-resty-gray/lib/?.lua;/usr/share/luajit-2.1/?.lua;;";
    init_worker_by_lua_block {
        $JITV_LINE
        require("resty.gray").init{ rules = "$DIR/rules.yaml", watch = 1 }
    }
    proxy_http_version 1.1;
    proxy_set_header Connection "";

    server { listen 127.0.0.1:$U1; location / { return 200 "stable\n"; } }
    server { listen 127.0.0.1:$U2; location / { return 200 "canary\n"; } }
    upstream client1 { server 127.0.0.1:$U1; keepalive 64; }
    upstream client2 { server 127.0.0.1:$U2; keepalive 64; }

    # (A) seed 004: the client IP looked up in Redis per request.
    server {
        listen 127.0.0.1:$PA;
        location / {
            set \$backend client1;
            access_by_lua_block {
                local sock = ngx.socket.tcp()
                sock:settimeouts(200, 200, 200)
                local ok, err = sock:connect("127.0.0.1", $PR)
                if not ok then
                    ngx.log(ngx.ERR, "redis: ", err)
                    return ngx.exit(502)
                end
                local ip = ngx.var.remote_addr
                local _, serr = sock:send("*2\r\n\$3\r\nGET\r\n\$" .. #ip .. "\r\n" .. ip .. "\r\n")
                local line = not serr and sock:receive()
                local value
                if line and line:byte(1) == 36 then          -- "\$<len>" or "\$-1"
                    local n = tonumber(line:sub(2))
                    if n and n >= 0 then
                        value = sock:receive(n + 2)
                    end
                end
                sock:setkeepalive(10000, 64)
                if value and #value > 2 then
                    ngx.var.backend = "client2"
                end
            }
            proxy_pass http://\$backend;
        }
    }

    # (B) lua-resty-gray.
    upstream gray_balancer {
        server 0.0.0.1;
        balancer_by_lua_block { require("resty.gray").balance() }
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$PB;
        location / {
            access_by_lua_block { require("resty.gray").route(false) }
            proxy_pass http://gray_balancer;
            log_by_lua_block { require("resty.gray").log() }
        }
    }

    # (C) geo + map alone: seed 000's cookie map and the IP list.
    geo \$remote_addr \$tester { default 0; 192.168.2.20 1; 10.8.0.0/16 1; }
    map \$cookie_canary \$by_cookie { ~*aaa\$ 1; default 0; }
    map "\$by_cookie\$tester" \$backend_c { "00" client1; default client2; }
    server {
        listen 127.0.0.1:$PC;
        location / { proxy_pass http://\$backend_c; }
    }

    # (D) lua-resty-gray names one of nginx's upstream blocks.
    upstream stable { server 127.0.0.1:$U1; keepalive 64; }
    upstream canary { server 127.0.0.1:$U2; keepalive 64; }
    server {
        listen 127.0.0.1:$PD;
        location / {
            set_by_lua_block \$gray_group { return require("resty.gray").group("stable") }
            proxy_pass http://\$gray_group;
        }
    }
}
CONF

if [ -n "${COUNT:-}" ]; then
    # Instructions per request instead of times: nginx in one process under callgrind (no
    # master), COUNT keep-alive requests per setup (curl's URL globbing reuses one connection),
    # the counters zeroed before and dumped after each setup's requests. Independent of the
    # machine's load, unlike requests/s; user-space instructions of nginx only (not the
    # kernel's TCP work, the same for every setup, and not Redis's own work for A).
    command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
    GRAY_LIB=$LIB valgrind --tool=callgrind --smc-check=all-non-file --compress-strings=no \
        --callgrind-out-file="$DIR/cg.%p" "$NGINX" -p "$DIR/" -c nginx.conf -e logs/error.log \
        -g 'daemon off; master_process off;' >"$DIR/valgrind.log" 2>&1 &
    NGINX_PID=$!
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$PD/" >/dev/null 2>&1 && break
        sleep 0.2
    done
    declare -A PORT=([A]=$PA [B]=$PB [C]=$PC [D]=$PD)
    declare -A NAME=([A]="nginx+Lua+Redis lookup" [B]="nginx+lua-resty-gray" [C]="nginx geo/map" [D]="lua-resty-gray group()")
    declare -A PER=()
    for s in A B C D; do
        # Warm up (LuaJIT compiles its traces), then count.
        curl -sf -o /dev/null -H 'Cookie: uid=7' "http://127.0.0.1:${PORT[$s]}/[1-300]"
        callgrind_control -z "$NGINX_PID" >/dev/null 2>&1
        curl -sf -o /dev/null -H 'Cookie: uid=7' "http://127.0.0.1:${PORT[$s]}/[1-$COUNT]"
        callgrind_control -d "$s" "$NGINX_PID" >/dev/null 2>&1
        f=$(ls -t "$DIR"/cg.* | head -1)
        ir=$(awk '/^summary:|^totals:/ {print $2; exit}' "$f")
        PER[$s]=$((ir / COUNT))
        printf '(%s) %-24s %8d instructions per request (%d requests)\n' "$s" "${NAME[$s]}" "${PER[$s]}" "$COUNT"
        # COUNT_DIR=DIR keeps each setup's profile (callgrind_annotate DIR/D.callgrind).
        [ -n "${COUNT_DIR:-}" ] && mkdir -p "$COUNT_DIR" && cp "$f" "$COUNT_DIR/$s.callgrind"
    done
    awk -v a="${PER[A]}" -v b="${PER[B]}" -v c="${PER[C]}" -v d="${PER[D]}" 'BEGIN {
        printf "over geo/map: B +%d (%.2fx), D +%d (%.2fx), A +%d (%.2fx, nginx side only)\n", b - c, b / c, d - c, d / c, a - c, a / c
    }'
    exit 0
fi

GRAY_LIB=$LIB "$NGINX" -p "$DIR/" -c nginx.conf -e logs/error.log -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PB/" >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$PA/" >/dev/null 2>&1 && break
    sleep 0.1
done
for p in "$PA" "$PB" "$PC" "$PD"; do
    curl -sf -H 'Cookie: uid=7' "http://127.0.0.1:$p/" >/dev/null || { echo "setup on port $p failed:"; cat "$DIR/logs/error.log"; exit 1; }
done

# The worker's CPU time per request (utime + stime over the requests wrk made): steadier than
# requests/s on a small machine where wrk and nginx share the cores.
WORKER=$(pgrep -P "$NGINX_PID" | head -1)
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$WORKER/stat"; }
declare -A SUM=([A]=0 [B]=0 [C]=0 [D]=0)
declare -A CPU=([A]=0 [B]=0 [C]=0 [D]=0)
declare -A PORT=([A]=$PA [B]=$PB [C]=$PC [D]=$PD)
declare -A NAME=([A]="nginx+Lua+Redis lookup" [B]="nginx+lua-resty-gray" [C]="nginx geo/map" [D]="lua-resty-gray group()")
echo "wrk -t$THREADS -c$CONNS -d${DURATION}s, $ROUNDS rounds, interleaved A B C D"
for round in $(seq "$ROUNDS"); do
    for s in A B C D; do
        quiet
        echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
        t0=$(cpu_ticks)
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -H 'Cookie: uid=7' "http://127.0.0.1:${PORT[$s]}/")
        t1=$(cpu_ticks)
        rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
        us=$(echo "$out" | awk -v a="$t0" -v b="$t1" -v hz="$HZ" '/requests in/ { printf "%.1f", (b - a) / hz * 1e6 / $1 }')
        printf 'round %d  (%s) %-24s %12.0f req/s  %6.1f us worker CPU/request\n' "$round" "$s" "${NAME[$s]}" "$rps" "$us"
        SUM[$s]=$(awk -v a="${SUM[$s]}" -v b="$rps" 'BEGIN { print a + b }')
        CPU[$s]=$(awk -v a="${CPU[$s]}" -v b="$us" 'BEGIN { print a + b }')
    done
done
if grep -q '\[error\]' "$DIR/logs/error.log"; then
    echo "errors in nginx's log:"; grep '\[error\]' "$DIR/logs/error.log" | head -5
fi
awk -v a="${CPU[A]}" -v b="${CPU[B]}" -v c="${CPU[C]}" -v d="${CPU[D]}" -v n="$ROUNDS" 'BEGIN {
    printf "worker CPU per request: A %.1f  B %.1f  C %.1f  D %.1f us (B - C = %.1f us, D - C = %.1f us)\n", a / n, b / n, c / n, d / n, (b - c) / n, (d - c) / n
}'
awk -v a="${SUM[A]}" -v b="${SUM[B]}" -v c="${SUM[C]}" -v d="${SUM[D]}" -v n="$ROUNDS" 'BEGIN {
    printf "mean: A %.0f  B %.0f  C %.0f  D %.0f req/s\n", a / n, b / n, c / n, d / n
    printf "B/C = %.2f (gray vs geo/map alone)   B/A = %.2f (gray vs a Redis lookup per request)\n", b / c, b / a
    printf "D/C = %.2f (gray naming the group vs geo/map)   D/A = %.2f\n", d / c, d / a
}'
