# Shared by the loopback load comparisons (compare-nginx.sh, compare-mirror.sh); sourced, not
# run. `start_backends` needs $WORK and $NGINX set.

# Installs nginx and wrk from Debian packages when missing; sets $NGINX.
ensure_tools() {
    local need=()
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
    command -v wrk >/dev/null 2>&1 || need+=(wrk)
    if ((${#need[@]})); then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
    NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_backends STABLE_PORT CANARY_PORT: one nginx answering "stable" and "canary" on them.
start_backends() {
    cat > "$WORK/backend.conf" <<NGX
worker_processes 1;
pid $WORK/backend.pid;
error_log $WORK/backend-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    server { listen 127.0.0.1:$1; keepalive_requests 100000; location / { return 200 "stable\n"; } }
    server { listen 127.0.0.1:$2; keepalive_requests 100000; location / { return 200 "canary\n"; } }
}
NGX
    "$NGINX" -c "$WORK/backend.conf" -p "$WORK"
}

# wrk_p99 < wrk output: the 99th percentile latency in milliseconds.
wrk_p99() {
    awk '/^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}'
}
