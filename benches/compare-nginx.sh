#!/usr/bin/env bash
# Compares the gray gateway with nginx doing the same routing (seed 000's cookie map and a 10k
# CIDR geo set as in seeds 003/004) under wrk on loopback, and writes both results into
# BENCHMARKS.md (section "Gateway vs nginx"). Not run by CI: it takes a few minutes and needs a
# quiet machine for meaningful numbers.
#
#   bash benches/compare-nginx.sh [DURATION_SECONDS] [ROUNDS]   (defaults 10 and 3)
#
# Cases: cookie (the cookie rule matches), cidr (the client address, given by the trusted local
# proxy in X-Forwarded-For, is in the 10k set), miss (nothing matches), tls (the cookie case
# over HTTPS: nginx `ssl` and the gateway's rustls with the same certificate).
# Knobs: CASES="cookie cidr miss tls" (a subset for a quick look), GATEWAY=path (another build),
# WORKERS=N (gateway workers and nginx worker_processes, default 2), WRITE=0 (print only, do not
# touch BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
ROUNDS="${2:-3}"
CONNS=64
THREADS=2
CASES="${CASES:-cookie cidr miss tls}"
WORKERS="${WORKERS:-2}"
WRITE="${WRITE:-1}"

# shellcheck source=loopback.sh
source benches/loopback.sh
ensure_tools

if [ -z "${GATEWAY:-}" ]; then
    cargo build --release --quiet -p gray-gateway --bin gateway
    GATEWAY="${CARGO_TARGET_DIR:-target}/release/gateway"
fi

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$WORK/backend.pid" ] && kill "$(cat "$WORK/backend.pid")" 2>/dev/null || true
    [ -f "$WORK/proxy.pid" ] && kill "$(cat "$WORK/proxy.pid")" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

STABLE=$(free_port); CANARY=$(free_port); NGX=$(free_port); GRAY=$(free_port); ADMIN=$(free_port)
NGX_TLS=$(free_port); GRAY_TLS=$(free_port); ADMIN_TLS=$(free_port)

# One self-signed certificate for both TLS listeners (ECDSA P-256, as a modern site would use).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# 10,000 deterministic CIDRs from 11.0.0.0 up (never loopback, so wrk's 127.0.0.1 misses).
python3 - "$WORK" <<'PY'
import sys
work = sys.argv[1]
cidrs = []
for i in range(10000):
    a = 11 + i // 4096
    b = (i // 16) % 256
    c = (i % 16) * 16
    cidrs.append(f"{a}.{b}.{c}.0/{24 if i % 3 else 28}")
with open(f"{work}/geo.conf", "w") as f:
    f.writelines(f"{c} 1;\n" for c in cidrs)
with open(f"{work}/gray-list.txt", "w") as f:
    f.writelines(f"{c}\n" for c in cidrs)
PY

# The upstreams: one nginx answering fixed bodies, shared by both runs.
start_backends "$STABLE" "$CANARY"

# nginx as the gray proxy: cookie map first, then the geo set, as in the seeds.
cat > "$WORK/proxy.conf" <<NGX
worker_processes $WORKERS;
pid $WORK/proxy.pid;
error_log $WORK/proxy-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    map \$cookie_canary \$by_cookie { ~*aaa\$ canary; default ""; }
    # The client address: X-Forwarded-For's last untrusted entry when the peer is the trusted
    # local proxy, as gray's trusted_proxies.
    geo \$gray_ip { proxy 127.0.0.1; proxy_recursive; default 0; include $WORK/geo.conf; }
    map "\$by_cookie:\$gray_ip" \$group { "~^canary" canary; "~:1\$" canary; default stable; }
    upstream stable { server 127.0.0.1:$STABLE max_fails=1 fail_timeout=10s; keepalive 64; }
    upstream canary { server 127.0.0.1:$CANARY max_fails=1 fail_timeout=10s; keepalive 64; }
    server {
        listen 127.0.0.1:$NGX;
        listen 127.0.0.1:$NGX_TLS ssl;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        keepalive_requests 100000;
        location / {
            proxy_pass http://\$group;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
NGX
"$NGINX" -c "$WORK/proxy.conf" -p "$WORK"

cat > "$WORK/gray.yaml" <<YAML
version: 1
client_ip:
  trusted_proxies: ["127.0.0.1"]
  recursive: true
ip_sets:
  gray_list: { file: gray-list.txt }
groups:
  stable: { nodes: [{ address: "127.0.0.1:$STABLE", max_fails: 1, fail_timeout: 10s }] }
  canary: { fallback: stable, nodes: [{ address: "127.0.0.1:$CANARY", max_fails: 1, fail_timeout: 10s }] }
rules:
  - { id: canary-cookie, when: { cookie: { name: canary, regex: "aaa$", ignore_case: true } }, route: canary }
  - { id: gray-list, when: { ip: [gray_list] }, route: canary }
default: stable
YAML
# Two gateways, plain and TLS (a gateway's proxy listener is one or the other).
RUST_LOG=warn "$GATEWAY" --config "$WORK/gray.yaml" --listen "127.0.0.1:$GRAY" \
    --admin-listen "127.0.0.1:$ADMIN" --workers "$WORKERS" >/dev/null 2>"$WORK/gateway.log" &
PIDS+=($!)
RUST_LOG=warn "$GATEWAY" --config "$WORK/gray.yaml" --listen "127.0.0.1:$GRAY_TLS" \
    --admin-listen "127.0.0.1:$ADMIN_TLS" --workers "$WORKERS" \
    --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" >/dev/null 2>"$WORK/gateway-tls.log" &
PIDS+=($!)

for url in "http://127.0.0.1:$NGX/" "http://127.0.0.1:$GRAY/" "https://127.0.0.1:$NGX_TLS/" "https://127.0.0.1:$GRAY_TLS/"; do
    for _ in $(seq 100); do curl -kfsS -o /dev/null "$url" 2>/dev/null && break; sleep 0.1; done
    [ "$(curl -kfsS -H 'Cookie: canary=xAAA' "$url")" = canary ] || { echo "routing check failed for $url" >&2; exit 1; }
    [ "$(curl -kfsS -H 'X-Forwarded-For: 11.0.16.5' "$url")" = canary ] || { echo "CIDR routing check failed for $url" >&2; exit 1; }
    [ "$(curl -kfsS -H 'X-Forwarded-For: 9.9.9.9' "$url")" = stable ] || { echo "routing check failed for $url" >&2; exit 1; }
    [ "$(curl -kfsS "$url")" = stable ] || { echo "routing check failed for $url" >&2; exit 1; }
done

# CPU time (user + system, in clock ticks) used so far by the proxy under test: every process
# of the nginx proxy (master and workers), or the gateway process (all its threads).
cpu_ticks() { # side case
    local pids
    if [ "$1" = nginx ]; then
        local master
        master=$(cat "$WORK/proxy.pid")
        pids="$master $(pgrep -P "$master" | tr '\n' ' ')"
    elif [ "$2" = tls ]; then
        pids="${PIDS[1]}"
    else
        pids="${PIDS[0]}"
    fi
    # Fields 14 and 15 of /proc/PID/stat (after the parenthesised name) are utime and stime.
    for p in $pids; do sed 's/^.*) //' "/proc/$p/stat"; done | awk '{t += $12 + $13} END {print t}'
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# wrk prints "Requests/sec:" and, with --latency, the percentiles. Each run prints one line:
# "<side> <case> <rps> <p99 in ms> <CPU µs per request of the proxy>".
run() { # side case url header
    local out before after
    before=$(cpu_ticks "$1" "$2")
    if [ -n "$4" ]; then
        out=$(wrk -t$THREADS -c$CONNS -d"${DURATION}s" --latency -H "$4" "$3")
    else
        out=$(wrk -t$THREADS -c$CONNS -d"${DURATION}s" --latency "$3")
    fi
    after=$(cpu_ticks "$1" "$2")
    local rps p99 errs requests
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(wrk_p99 <<<"$out")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr -s ' ' | paste -sd ';' -)
    [ -z "$errs" ] || echo "warning: $1 $2: $errs" >&2
    echo "$1 $2 $rps $p99 $(awk -v t=$((after - before)) -v u="$TICK_US" -v n="$requests" 'BEGIN {printf "%.2f", t * u / n}')"
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# A warm-up run of every case on both sides (2 s each, not counted): the first run after a
# start pays for page faults, the node connections' setup and the TLS session caches.
for case in $CASES; do
    case $case in
        tls) urls="https://127.0.0.1:$NGX_TLS/ https://127.0.0.1:$GRAY_TLS/" ;;
        *) urls="http://127.0.0.1:$NGX/ http://127.0.0.1:$GRAY/" ;;
    esac
    for u in $urls; do wrk -t$THREADS -c$CONNS -d2s "$u" >/dev/null; done
done
RESULTS="$WORK/results"
LOADS="$WORK/loads"
: >"$RESULTS"
: >"$LOADS"
# Interleaved: in every round each case runs on nginx, then on the gateway.
# A saturating run keeps both cores busy, so the load average during a round is the benchmark's
# own; what must be low is the load *before* each round: wait (up to 3 minutes) for the
# 1-minute load to fall to 1.0 first.
for round in $(seq "$ROUNDS"); do
    for _ in $(seq 36); do
        awk '{ exit !($1 > 1.0) }' /proc/loadavg || break
        sleep 5
    done
    l=$(load1)
    echo "$l" >>"$LOADS"
    echo "round $round: load before $l" >&2
    awk -v l="$l" 'BEGIN { if (l > 1.5) print "warning: load " l " is above 1.5: figures of this round are not a result" }' >&2
    for case in $CASES; do
        n="http://127.0.0.1:$NGX/"; g="http://127.0.0.1:$GRAY/"
        case $case in
            cookie) h="Cookie: canary=xaaa" ;;
            cidr) h="X-Forwarded-For: 11.0.16.5" ;;
            miss) h="" ;;
            tls) h="Cookie: canary=xaaa"; n="https://127.0.0.1:$NGX_TLS/"; g="https://127.0.0.1:$GRAY_TLS/" ;;
            *) echo "unknown case $case" >&2; exit 2 ;;
        esac
        run nginx "$case" "$n" "$h" >>"$RESULTS"
        run gateway "$case" "$g" "$h" >>"$RESULTS"
    done
    echo "round $round: load after $(load1) (the benchmark's own)" >&2
done

ROWS=$(python3 - "$RESULTS" "$LOADS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
names = {"cookie": "cookie canary", "cidr": "client IP in the 10k CIDRs (X-Forwarded-For from the trusted proxy)",
         "miss": "nothing matches (→ stable)", "tls": "cookie canary over TLS (HTTP/1.1, keep-alive)"}
for case in [c for c in names if any(x[1] == c for x in rows)]:
    col = lambda i: {side: [float(x[i]) for x in rows if x[0] == side and x[1] == case] for side in ("nginx", "gateway")}
    r, p, cpu = col(2), col(3), col(4)
    med = {k: statistics.median(v) for k, v in r.items()}
    pmed = {k: statistics.median(v) for k, v in p.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    # Each round's gateway run follows its nginx run, so a per-round ratio compares two runs
    # taken under the same conditions; the machine's speed drifts between rounds.
    ratio = statistics.median(g / n for g, n in zip(r["gateway"], r["nginx"]))
    cratio = statistics.median(g / n for g, n in zip(cpu["gateway"], cpu["nginx"]))
    runs = lambda v: ", ".join(f"{x/1000:.1f}k" for x in v)
    print(f"| {names[case]} | {med['nginx']/1000:.1f}k ({runs(r['nginx'])}) | {med['gateway']/1000:.1f}k ({runs(r['gateway'])}) "
          f"| **{ratio:.2f}×** | {pmed['nginx']:.2f} ms / {pmed['gateway']:.2f} ms "
          f"| {cmed['nginx']:.1f} / {cmed['gateway']:.1f} µs ({cratio:.2f}×) |")
PY
)
LOAD_RANGE=$(sort -n "$LOADS" | sed -n '1p;$p' | paste -sd '-' -)
HIGH=$(awk '$1 > 1.5 {h=1} END {print h+0}' "$LOADS")
if [ "$HIGH" = 1 ]; then
    VERDICT="**Measured under high load (above 1.5 before some round): not a result.**"
else
    VERDICT="The load before every round was at or below 1.5."
fi

SECTION=$(cat <<MD
<!-- gateway-vs-nginx:start -->
## Gateway vs nginx (benches/compare-nginx.sh)

Same routing in both: seed 000's cookie map (\`~*aaa\$\` → canary) and a 10,000-CIDR gray list
(nginx \`geo\` with \`proxy 127.0.0.1\`, gray \`ip_sets\` from a file with the same trusted
proxy), upstreams with \`max_fails=1 fail_timeout=10s\` and pooled keep-alive connections. Both
upstreams are one nginx answering fixed bodies. nginx runs $WORKERS worker processes, the gateway
$WORKERS workers (\`--workers\`: a single-threaded runtime, \`SO_REUSEPORT\` listener and upstream
pool per thread; plain HTTP/1.1 on the shortcut, \`examples/gateway/src/fast/\`); TLS with one ECDSA P-256 certificate on both (TLS 1.3); wrk
\`-t$THREADS -c$CONNS -d${DURATION}s\` on loopback. Everything shares one $(nproc)-core machine
($(uname -m), $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), gateway release build), so
the absolute numbers are indicative. After a 2 s warm-up of every case on both sides,
interleaved: $ROUNDS rounds, each running every case on
nginx and then on the gateway; requests/s and p99 are medians of the rounds (each round's figure
in brackets), the ratios medians of the rounds' own ratios (gateway run / the nginx run just
before it). CPU per request is the proxy's own CPU time (user + system, all nginx processes or
all gateway threads) during the run, divided by the requests wrk completed.
Measured $(date -u +%Y-%m-%d); 1-minute load average before the rounds $LOAD_RANGE (during a
round both cores are saturated by the benchmark itself). $VERDICT

| case | nginx requests/s | gateway requests/s | gateway / nginx (median) | p99 nginx / gateway (median) | CPU per request nginx / gateway (ratio) |
|---|---|---|---|---|---|
$ROWS
<!-- gateway-vs-nginx:end -->
MD
)

if [ "$WRITE" = 0 ]; then echo "$SECTION"; exit 0; fi
python3 - "$SECTION" <<'PY'
import os, re, sys
section = sys.argv[1]
path = "BENCHMARKS.md"
text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
pattern = re.compile(r"<!-- gateway-vs-nginx:start -->.*?<!-- gateway-vs-nginx:end -->", re.S)
text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
echo "$SECTION"
