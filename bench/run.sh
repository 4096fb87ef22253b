#!/usr/bin/env bash
# bench/run.sh - compares the host serving the hello plugin with nginx
# returning the same JSON, under the same wrk load, on this machine.
#
# Usage: ./bench/run.sh [BUILD_DIR]   (default: build; `make bench` passes it)
# Run by hand, not in CI: the numbers depend on the machine and what else
# runs on it.  Knobs (environment):
#   BENCH_THREADS=2  BENCH_CONNS=64  BENCH_DURATION=15s  BENCH_WARMUP=3s
#   BENCH_WORKERS=$(nproc)   worker processes for both servers
#   BENCH_HOST_PORT / BENCH_NGINX_PORT   default: free loopback ports
#   BENCH_ONLY=host|nginx   measure one side only
# Both servers get temporary configs under one temp dir, removed on exit.
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
ROOT="$BENCH_ROOT"
BUILD="$(bench_build "${1:-}")"

THREADS="${BENCH_THREADS:-2}"
CONNS="${BENCH_CONNS:-64}"
DURATION="${BENCH_DURATION:-15s}"
WARMUP="${BENCH_WARMUP:-3s}"
WORKERS="${BENCH_WORKERS:-$(nproc)}"
ONLY="${BENCH_ONLY:-}"
HOST_NAME="demo.localhost"

die() { echo "bench: $*" >&2; exit 1; }

case "$ONLY" in "" | host | nginx) ;; *) die "BENCH_ONLY must be host or nginx" ;; esac
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

# ---- tools ----------------------------------------------------------------

# Debian puts nginx in /usr/sbin, which a non-root PATH may lack.
NGINX="$(command -v nginx || true)"
[ -n "$NGINX" ] || { [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx; } || true
need_pkgs=""
command -v wrk >/dev/null || need_pkgs="$need_pkgs wrk"
command -v curl >/dev/null || need_pkgs="$need_pkgs curl"
if want nginx && [ -z "$NGINX" ]; then need_pkgs="$need_pkgs nginx"; fi
if [ -n "$need_pkgs" ]; then
    [ "$(id -u)" = 0 ] || die "missing packages; run as root: apt-get install -y$need_pkgs"
    echo "bench: installing$need_pkgs"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086  # word splitting of the list is intended
    apt-get install -y -q $need_pkgs >/dev/null ||
        { apt-get update -q >/dev/null && apt-get install -y -q $need_pkgs >/dev/null; } ||
        die "apt-get install$need_pkgs failed"
    NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
fi

TANOMU="$BUILD/bin/tanomu"
PLUGINS="$BUILD/plugins"
if want host; then
    [ -x "$TANOMU" ] || die "$TANOMU not found: build first (make build)"
    [ -e "$PLUGINS/hello.so" ] || [ -n "$(ls "$PLUGINS"/hello* 2>/dev/null)" ] ||
        die "no hello plugin in $PLUGINS: build first (make build)"
fi

# ---- temp dir and cleanup -------------------------------------------------

TMP="$(mktemp -d "${TMPDIR:-/tmp}/tanomu-bench.XXXXXX")"
HOST_PID=""
NGINX_PID=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$HOST_PID"
    stop_pid "$NGINX_PID"
    if [ "$rc" != 0 ]; then
        for f in "$TMP/tanomu.log" "$TMP/nginx/error.log"; do
            [ -s "$f" ] && { echo "--- last lines of $f" >&2; tail -n 20 "$f" >&2; }
        done
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Polls until url answers 200 with the Host header, or the pid dies.
wait_ready() {
    local name="$1" url="$2" pid="$3" code=""
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during startup"
        code="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST_NAME" "$url" || true)"
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    die "$name did not answer 200 on $url within 10s (last status: ${code:-none})"
}

# ---- the host ---------------------------------------------------------------

start_host() {
    local port="$1"
    mkdir -p "$TMP/host/tenants"
    # Paths in the config are relative to its directory: the plugins dir is absolute.
    cat >"$TMP/host/tanomu.conf" <<EOF
server: {
  listen = ["127.0.0.1:$port"];
  admin_listen = "";
  workers = $WORKERS;
  pid_file = "tanomu.pid";
};
logging: {
  level = "warn";
  access = false;
};
plugins: {
  dir = "$PLUGINS";
  load = ["hello"];
};
tenants_dir = "tenants";
EOF
    cat >"$TMP/host/tenants/demo.conf" <<EOF
tenant: {
  id = "demo";
  hosts = ["$HOST_NAME"];
  features: {
    hello: {
      enabled = true;
      greeting = "Hello";
    };
  };
};
EOF
    "$TANOMU" serve -c "$TMP/host/tanomu.conf" >"$TMP/tanomu.log" 2>&1 &
    HOST_PID=$!
    wait_ready tanomu "http://127.0.0.1:$port/hello" "$HOST_PID"
}

# ---- nginx ------------------------------------------------------------------

start_nginx() {
    local port="$1" user_line=""
    mkdir -p "$TMP/nginx"
    # As root, nginx would hand its workers to "nobody": keep the current user.
    if [ "$(id -u)" = 0 ]; then user_line="user $(id -un) $(id -gn);"; fi
    sed -e "s|@PREFIX@|$TMP/nginx|g" -e "s|@WORKERS@|$WORKERS|g" -e "s|@PORT@|$port|g" \
        -e "s|@USER_LINE@|$user_line|g" "$ROOT/bench/nginx.conf.in" >"$TMP/nginx/nginx.conf"
    # -e: the startup error log, before the config's error_log takes over.
    "$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" -t -q ||
        die "nginx rejected its config"
    "$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" \
        >"$TMP/nginx/stdout.log" 2>&1 &
    NGINX_PID=$!
    wait_ready nginx "http://127.0.0.1:$port/hello" "$NGINX_PID"
}

# ---- measuring ----------------------------------------------------------------

# run_wrk NAME URL: warm-up, then the measured run, into RPS/P50/P99/ERR[NAME].
declare -A RPS=() P50=() P99=() ERR=()
run_wrk() {
    local name="$1" url="$2" out="$TMP/wrk-$1.txt"
    echo "bench: $name: warm-up $WARMUP, then $DURATION" >&2
    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -H "Host: $HOST_NAME" "$url" >/dev/null
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -H "Host: $HOST_NAME" "$url" >"$out"
    RPS[$name]="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    [ -n "${RPS[$name]}" ] || { cat "$out" >&2; die "could not parse wrk output for $name"; }
    P50[$name]="$(to_ms "$(awk '$1 == "50%" {print $2; exit}' "$out")")"
    P99[$name]="$(to_ms "$(awk '$1 == "99%" {print $2; exit}' "$out")")"
    # Non-2xx answers and socket errors make req/s meaningless: count them.
    ERR[$name]="$(awk '
        /Non-2xx or 3xx responses:/ {n += $NF}
        /Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
        END {print n + 0}' "$out")"
}

# ---- main ---------------------------------------------------------------------

cpu_model="$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)"
[ -n "$cpu_model" ] || cpu_model="$(uname -m)"
echo "machine: $(nproc) CPUs, $cpu_model"
echo "         $(uname -sr), $(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)"
echo "load:    wrk -t$THREADS -c$CONNS -d$DURATION --latency, GET /hello, Host: $HOST_NAME;" \
    "$WORKERS workers each"
if want host; then
    ver="$("$TANOMU" version 2>/dev/null)" || ver=""
    echo "host:    ${ver%%$'\n'*}${ver:+, }$TANOMU"
fi
if want nginx; then echo "nginx:   $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"; fi
echo "note:    wrk and the servers share these CPUs; compare ratios, not absolutes"
echo

if want host; then
    HOST_PORT="${BENCH_HOST_PORT:-$(free_port)}"
    start_host "$HOST_PORT"
    run_wrk host "http://127.0.0.1:$HOST_PORT/hello"
    stop_pid "$HOST_PID"
    HOST_PID=""
fi
if want nginx; then
    NGINX_PORT="${BENCH_NGINX_PORT:-$(free_port)}"
    start_nginx "$NGINX_PORT"
    run_wrk nginx "http://127.0.0.1:$NGINX_PORT/hello"
    stop_pid "$NGINX_PID"
    NGINX_PID=""
fi

printf '%-8s %12s %10s %10s %8s\n' server "req/s" "p50 ms" "p99 ms" errors
for name in host nginx; do
    want "$name" || continue
    printf '%-8s %12s %10s %10s %8s\n' "$name" "${RPS[$name]}" "${P50[$name]}" \
        "${P99[$name]}" "${ERR[$name]}"
done
if [ -z "$ONLY" ]; then
    awk -v h="${RPS[host]}" -v n="${RPS[nginx]}" \
        'BEGIN { if (n > 0) printf "\nhost/nginx req/s: %.2f\n", h / n }'
fi
for name in "${!ERR[@]}"; do
    if [ "${ERR[$name]}" != 0 ]; then
        echo "warning: $name: ${ERR[$name]} requests failed (non-2xx or socket errors)" >&2
    fi
done
