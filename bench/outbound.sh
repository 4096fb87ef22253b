#!/usr/bin/env bash
# bench/outbound.sh - one worker making many concurrent outbound calls
# (SDK 1.2 http_call) while it also serves GET /hello: outbound calls per
# second, and the p99 of /hello meanwhile (the loop must stay responsive).
#
# Usage: ./bench/outbound.sh [BUILD_DIR]   (default: build)
# Needs BUILD_DIR/bin/tanomu, BUILD_DIR/plugins/hello.so and
# BUILD_DIR/test-plugins/outprobe.so, wrk, curl and openssl.  By hand, not CI.
#
#   1. the peer: a second tanomu (hello plugin, BENCH_PEER_WORKERS workers)
#      on a TLS listener with a self-signed certificate made here;
#   2. the host under test: ONE worker with hello and outprobe, the peer in
#      outbound.allow, its certificate as outbound.ca_file,
#      max_per_plugin = queue_max = BENCH_CALLS;
#   3. baseline: wrk --latency GET /hello on the host, no outbound load;
#   4. outprobe's /out/load keeps BENCH_CALLS calls to the peer's /hello in
#      flight (each started again when it ends) while the same wrk runs;
#   5. prints calls/s, failed calls, and /hello req/s and p50/p99 for both.
#
# Knobs: BENCH_CALLS=1000  BENCH_DURATION=10 (s)  BENCH_CONNS=16 (wrk -c)
#        BENCH_PEER_WORKERS=1  BENCH_TLS=1 (0: plain http through the allow
#        entry)  BENCH_LOG=info (the per-call log line; warn: none)
#        BENCH_KEEP=1 keep the temporary directory
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
BUILD="$(bench_build "${1:-}")"
CALLS="${BENCH_CALLS:-1000}"
DURATION="${BENCH_DURATION:-10}"
CONNS="${BENCH_CONNS:-16}"
PEER_WORKERS="${BENCH_PEER_WORKERS:-1}"
TLS="${BENCH_TLS:-1}"
LOG="${BENCH_LOG:-info}"

die() { echo "bench/outbound: $*" >&2; exit 1; }
for v in CALLS DURATION CONNS PEER_WORKERS TLS; do
    case "${!v}" in '' | *[!0-9]*) die "BENCH_$v must be a number (got '${!v}')" ;; esac
done
TANOMU="$BUILD/bin/tanomu"
[ -x "$TANOMU" ] || die "$TANOMU not found: cmake --build $BUILD"
[ -e "$BUILD/plugins/hello.so" ] || die "no $BUILD/plugins/hello.so"
[ -e "$BUILD/test-plugins/outprobe.so" ] || die "no outprobe: cmake --build $BUILD --target plugin_outprobe"
for t in wrk curl openssl; do command -v $t >/dev/null || die "$t is missing"; done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/tanomu-outbench.XXXXXX")"
PEER_PID="" HOST_PID=""
cleanup() {
    stop_pid "$HOST_PID"
    stop_pid "$PEER_PID"
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench/outbound: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT INT TERM

# 1 outbound socket per call, plus wrk's: more than the usual 1024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/peer.key" -out "$TMP/peer.crt" \
    -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1

PEER_PORT="$(free_port)" PEER_TLS_PORT="$(free_port)" PEER_ADMIN="$(free_port)"
HOST_PORT="$(free_port)" HOST_ADMIN="$(free_port)"
mkdir -p "$TMP/peer/plugins" "$TMP/peer/tenants" "$TMP/host/plugins" "$TMP/host/tenants"
cp "$BUILD/plugins/hello.so" "$TMP/peer/plugins/"
cp "$BUILD/plugins/hello.so" "$BUILD/test-plugins/outprobe.so" "$TMP/host/plugins/"

cat >"$TMP/peer/tanomu.conf" <<EOF
server: { listen = ["127.0.0.1:$PEER_PORT"]; admin_listen = "127.0.0.1:$PEER_ADMIN";
          workers = $PEER_WORKERS; pid_file = "$TMP/peer/tanomu.pid";
          tls: { enabled = true; listen = ["127.0.0.1:$PEER_TLS_PORT"];
                 cert = "$TMP/peer.crt"; key = "$TMP/peer.key"; }; };
logging: { level = "warn"; access = false; };
plugins: { dir = "$TMP/peer/plugins"; load = ["hello"]; };
tenants_dir = "$TMP/peer/tenants";
EOF
cat >"$TMP/peer/tenants/peer.conf" <<EOF
tenant: { id = "peer"; hosts = ["127.0.0.1"]; features: { hello: { enabled = true; }; }; };
EOF
if [ "$TLS" = 1 ]; then
    URL="https://127.0.0.1:$PEER_TLS_PORT/hello" ALLOW="127.0.0.1:$PEER_TLS_PORT"
else
    URL="http://127.0.0.1:$PEER_PORT/hello" ALLOW="127.0.0.1:$PEER_PORT"
fi
cat >"$TMP/host/tanomu.conf" <<EOF
server: { listen = ["127.0.0.1:$HOST_PORT"]; admin_listen = "127.0.0.1:$HOST_ADMIN";
          workers = 1; pid_file = "$TMP/host/tanomu.pid"; };
logging: { level = "$LOG"; access = false; };
plugins: { dir = "$TMP/host/plugins"; load = ["hello", "outprobe"]; };
tenants_dir = "$TMP/host/tenants";
outbound: { allow = ["$ALLOW"]; ca_file = "$TMP/peer.crt";
            max_per_plugin = $CALLS; queue_max = $CALLS; };
EOF
cat >"$TMP/host/tenants/bench.conf" <<EOF
tenant: { id = "bench"; hosts = ["bench.localhost"];
          features: { hello: { enabled = true; }; outprobe: { enabled = true; }; }; };
EOF

"$TANOMU" serve -c "$TMP/peer/tanomu.conf" >"$TMP/peer.log" 2>&1 &
PEER_PID=$!
"$TANOMU" serve -c "$TMP/host/tanomu.conf" >"$TMP/tanomu.log" 2>&1 &
HOST_PID=$!
H="Host: bench.localhost"
for _ in $(seq 1 100); do
    curl -sf -o /dev/null -H "$H" "http://127.0.0.1:$HOST_PORT/hello" &&
        curl -sf -o /dev/null "http://127.0.0.1:$PEER_PORT/hello" && break
    sleep 0.1
done
curl -sf -o /dev/null -H "$H" "http://127.0.0.1:$HOST_PORT/hello" || die "host did not start (see $TMP)"

# wrk_run LABEL: req/s, p50, p99 of /hello on the host.
wrk_run() {
    local out rps p50 p99
    out="$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H "$H" "http://127.0.0.1:$HOST_PORT/hello")"
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p50="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
    p99="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
    printf '%-28s %10s req/s   p50 %8s ms   p99 %8s ms\n' "$1" "$rps" "$p50" "$p99"
}

echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
echo "peer: $URL ($PEER_WORKERS worker(s)); host: 1 worker, $CALLS calls in flight, log $LOG"
wrk_run "/hello, no outbound load"

Q="url=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$URL")"
curl -sf -o /dev/null -H "$H" \
    "http://127.0.0.1:$HOST_PORT/out/load?$Q&n=$CALLS&ms=$(((DURATION + 2) * 1000))" ||
    die "outprobe refused the load"
sleep 1
wrk_run "/hello, $CALLS calls in flight"
for _ in $(seq 1 200); do
    stats="$(curl -sf -H "$H" "http://127.0.0.1:$HOST_PORT/out/load/stats")"
    case "$stats" in *'"running":0,'*) break ;; esac
    sleep 0.1
done
peer_conns="$(curl -sf "http://127.0.0.1:$PEER_ADMIN/metrics" |
    awk '/^tanomu_worker_connections_total/ {n += $2} END {print n + 0}')"
python3 - "$stats" "$peer_conns" <<'EOF'
import json, sys
s = json.loads(sys.argv[1])
secs = s["ms"] / 1000.0
print(f"outbound calls: {s['done']} ok, {s['failed']} failed in {secs:.1f} s "
      f"= {s['done'] / secs:.0f} calls/s (still running: {s['running']}); "
      f"connections the peer accepted: {sys.argv[2]}")
EOF
