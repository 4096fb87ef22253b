#!/usr/bin/env bash
# bench/soak.sh - a long run of mixed load while everything that may happen
# to a server in production happens to it (P1 availability, S10), reporting
# every failed request as explained or not, and the memory of the master and
# the workers over time.
#
# Usage: ./bench/soak.sh [DURATION_SECONDS] [BUILD_DIR]   (default 600, build)
# Needs BUILD_DIR/bin/tanomu, BUILD_DIR/plugins/hello.so and
# BUILD_DIR/test-plugins/dbprobe.so, PostgreSQL 15 (scripts/pg.sh) and
# python3.  Run by hand, not in make test.
#
# What runs (bench/soak.py drives it all):
#   - load: client threads on keep-alive and on fresh connections, GET /hello
#     (no database) and POST /db/roundtrip (insert + select + commit);
#   - slow readers: connections that pipeline many requests and read the
#     answers a few bytes at a time;
#   - in turn, every SOAK_PERIOD seconds: a good `tanomu reload`, a worker
#     SIGKILLed, a refused reload by SIGHUP (tenant file that does not
#     parse), a worker SIGSTOPped for 3 s, a database restart (pg.sh stop,
#     5 s down, start), a good reload by SIGHUP, a reload refused by a
#     plugin's check() via `tanomu reload`;
#   - every 5 s the RSS of the master and of each worker.
# Errors are "explained" when they are what the event promises (503 from a
# database route while the database is down and for a few seconds after;
# a connection of a worker that was SIGKILLed cut within 2 s of the kill)
# and "unexplained" otherwise; the exit status is 1 when any is unexplained.
#
# Knobs (environment): SOAK_PERIOD=8 (seconds between events)
# SOAK_WORKERS=2  SOAK_CLIENTS=4  SOAK_KEEP=1 (keep the temporary directory)
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
ROOT="$BENCH_ROOT"
DURATION="${1:-600}"
BUILD="$(bench_build "${2:-}")"
PERIOD="${SOAK_PERIOD:-8}"
WORKERS="${SOAK_WORKERS:-2}"
CLIENTS="${SOAK_CLIENTS:-4}"
PG="$ROOT/scripts/pg.sh"

die() { echo "bench/soak: $*" >&2; exit 1; }

for v in DURATION PERIOD WORKERS CLIENTS; do
    case "${!v}" in '' | *[!0-9]*) die "$v must be a number (got '${!v}')" ;; esac
done
TANOMU="$BUILD/bin/tanomu"
[ -x "$TANOMU" ] || die "$TANOMU not found: cmake --build $BUILD --target tanomu"
for p in "$BUILD/plugins/hello.so" "$BUILD/test-plugins/dbprobe.so"; do
    [ -e "$p" ] || die "$p not found: cmake --build $BUILD"
done

# Traversable (not listable) by the postgres OS user pg.sh runs the server as.
TMP="$(mktemp -d "${TMPDIR:-/tmp}/tanomu-soak.XXXXXX")"
chmod 0711 "$TMP"
HOST_PID=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # A worker left stopped would never drain.
    pkill -CONT -P "${HOST_PID:-0}" 2>/dev/null || true
    stop_pid "$HOST_PID"
    finish_pg_bench soak "$rc" "${SOAK_KEEP:-}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "bench/soak: starting a PostgreSQL cluster in $TMP/pg" >&2
PGPORT=auto "$PG" start "$TMP/pg" >/dev/null
umask 077
"$PG" url app "$TMP/pg" >"$TMP/app.url"
"$PG" url owner "$TMP/pg" >"$TMP/owner.url"
umask 022

PORT="$(free_port)"
ADMIN="$(free_port)"
while [ "$ADMIN" = "$PORT" ]; do ADMIN="$(free_port)"; done
mkdir -p "$TMP/plugins" "$TMP/tenants"
cp "$BUILD/plugins/hello.so" "$BUILD/test-plugins/dbprobe.so" "$TMP/plugins/"
cat >"$TMP/tanomu.conf" <<EOF
server: {
  listen = ["127.0.0.1:$PORT"];
  admin_listen = "127.0.0.1:$ADMIN";
  workers = $WORKERS;
  pid_file = "$TMP/tanomu.pid";
  reload_timeout_ms = 20000;
};
logging: { level = "info"; access = false; };
plugins: { dir = "plugins"; load = ["hello", "dbprobe"]; };
tenants_dir = "tenants";
database: {
  url_file = "app.url";
  owner_url_file = "owner.url";
  pool_size = 4;
  queue_max = 1024;
  queue_timeout_ms = 5000;
  statement_timeout_ms = 10000;
  migrations_dir = "$ROOT/migrations";
  plugin_migrations_dir = "$ROOT/tests/integration_db/plugins";
};
EOF
cat >"$TMP/tenants/soak.conf" <<EOF
tenant: {
  id = "soak";
  hosts = ["soak.localhost"];
  features: { hello: { enabled = true; greeting = "soak-0"; }; dbprobe: { enabled = true; }; };
};
EOF
"$TANOMU" migrate -c "$TMP/tanomu.conf" >"$TMP/migrate.log" 2>&1 ||
    { cat "$TMP/migrate.log" >&2; die "tanomu migrate failed"; }

setsid "$TANOMU" serve -c "$TMP/tanomu.conf" >>"$TMP/tanomu.log" 2>&1 &
HOST_PID=$!
for _ in $(seq 1 100); do
    kill -0 "$HOST_PID" 2>/dev/null || die "the host exited during startup"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN/readyz" || true)" = 200 ] &&
        break
    sleep 0.1
done

python3 "$ROOT/bench/soak.py" --tanomu "$TANOMU" --conf "$TMP/tanomu.conf" \
    --tenants "$TMP/tenants" --port "$PORT" --admin "$ADMIN" --master "$HOST_PID" \
    --pg "$PG" --pg-dir "$TMP/pg" --duration "$DURATION" --period "$PERIOD" \
    --clients "$CLIENTS"
