#!/usr/bin/env bash
# Gateway throughput with a 10 % mirror vs without, interleaved on one machine: two gateways on
# the same nginx backends, one whose `stable` group mirrors 10 % of its requests to `canary`.
# Not run by CI (a few minutes, needs a quiet machine). Prints one line per run and the medians.
#
#   bash benches/compare-mirror.sh [DURATION_SECONDS] [ROUNDS]   (defaults 10 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
ROUNDS="${2:-3}"
# shellcheck source=loopback.sh
source benches/loopback.sh
ensure_tools
cargo build --release --quiet -p gray-gateway --bin gateway
GATEWAY="${CARGO_TARGET_DIR:-target}/release/gateway"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$WORK/backend.pid" ] && kill "$(cat "$WORK/backend.pid")" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
STABLE=$(free_port); CANARY=$(free_port); PLAIN=$(free_port); MIRRORED=$(free_port)
start_backends "$STABLE" "$CANARY"
for side in plain mirrored; do
    mirror=""
    [ "$side" = mirrored ] && mirror=", mirror: { to: canary, percent: 10 }"
    cat > "$WORK/$side.yaml" <<YAML
version: 1
groups:
  stable: { nodes: [{ address: "127.0.0.1:$STABLE" }]$mirror }
  canary: { nodes: [{ address: "127.0.0.1:$CANARY" }] }
default: stable
YAML
done
RUST_LOG=warn "$GATEWAY" --config "$WORK/plain.yaml" --listen "127.0.0.1:$PLAIN" --admin-listen off >/dev/null 2>&1 &
PIDS+=($!)
RUST_LOG=warn "$GATEWAY" --config "$WORK/mirrored.yaml" --listen "127.0.0.1:$MIRRORED" --admin-listen off >/dev/null 2>&1 &
PIDS+=($!)
for port in $PLAIN $MIRRORED; do
    for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break; sleep 0.1; done
done
# Waits (up to 90 s) for the 1-minute load to fall to 1.0 before a run, as compare-nginx.sh.
quiet() {
    for _ in $(seq 90); do
        awk '{exit !($1 <= 1.0)}' /proc/loadavg && return
        sleep 1
    done
}
run() { # side port
    local out rps p99 before
    quiet
    before=$(cut -d' ' -f1 /proc/loadavg)
    out=$(wrk -t2 -c64 -d"${DURATION}s" --latency "http://127.0.0.1:$2/")
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(wrk_p99 <<<"$out")
    echo "$1 $rps $p99 load-before $before"
}
: > "$WORK/results"
for r in $(seq "$ROUNDS"); do
    run plain "$PLAIN" | tee -a "$WORK/results"
    run mirrored "$MIRRORED" | tee -a "$WORK/results"
done
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {s: statistics.median(float(r[1]) for r in rows if r[0] == s) for s in ("plain", "mirrored")}
p99 = {s: statistics.median(float(r[2]) for r in rows if r[0] == s) for s in ("plain", "mirrored")}
print(f"median requests/s: without mirror {med['plain']:.0f}, with a 10 % mirror {med['mirrored']:.0f} "
      f"({med['mirrored'] / med['plain']:.2f}x); p99 {p99['plain']:.2f} ms vs {p99['mirrored']:.2f} ms")
PY
