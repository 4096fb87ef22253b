#!/usr/bin/env bash
# bench/db.sh - what a database round trip costs through the host, against
# the same statements sent by pgbench straight to PostgreSQL.
#
# Usage: ./bench/db.sh [BUILD_DIR]   (default: build)
# Needs BUILD_DIR/bin/tanomu and BUILD_DIR/test-plugins/dbprobe.so
# (cmake --build BUILD_DIR --target tanomu plugin_dbprobe), PostgreSQL 15
# (scripts/pg.sh), wrk and pgbench.  Run by hand, not in CI.
#
#   1. a private cluster (scripts/pg.sh) with PostgreSQL's durable defaults:
#      fsync, synchronous_commit and full_page_writes ON (A3);
#   2. `tanomu migrate` (core + dbprobe migrations, tenant "bench");
#   3. the host with dbprobe, server.workers = BENCH_WORKERS, access log
#      off, database.pool_size = BENCH_POOL per worker; wrk POSTs
#      /db/roundtrip (INSERT ... RETURNING id, SELECT it by id, COMMIT);
#   4. the host stopped, pgbench runs bench/db_roundtrip.sql (the same
#      statements, as the app role, same RLS) against the same server with
#      as many connections as wrk had;
#   5. prints both TPS, latencies and the ratio host/pgbench.
#
# Knobs (environment):
#   BENCH_THREADS=2 BENCH_CONNS=16 BENCH_DURATION=15 (seconds) BENCH_WARMUP=3
#   BENCH_WORKERS=$(nproc)  BENCH_POOL=8  BENCH_RUNS=1 (repeat both sides)
#   BENCH_KEEP=1  keep the temporary directory (cluster, logs)
set -euo pipefail

# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
ROOT="$BENCH_ROOT"
BUILD="$(bench_build "${1:-}")"

THREADS="${BENCH_THREADS:-2}"
CONNS="${BENCH_CONNS:-16}"
DURATION="${BENCH_DURATION:-15}"
WARMUP="${BENCH_WARMUP:-3}"
WORKERS="${BENCH_WORKERS:-$(nproc)}"
POOL="${BENCH_POOL:-8}"
RUNS="${BENCH_RUNS:-1}"
HOST_NAME="bench.localhost"
PG="$ROOT/scripts/pg.sh"
PGBIN="${TANOMU_PGBIN:-/usr/lib/postgresql/15/bin}"

die() { echo "bench/db: $*" >&2; exit 1; }

for v in THREADS CONNS DURATION WARMUP WORKERS POOL RUNS; do
    case "${!v}" in '' | *[!0-9]*) die "BENCH_$v must be a number (got '${!v}')" ;; esac
done
TANOMU="$BUILD/bin/tanomu"
DBPROBE="$BUILD/test-plugins/dbprobe.so"
[ -x "$TANOMU" ] || die "$TANOMU not found: cmake --build $BUILD --target tanomu"
[ -e "$DBPROBE" ] || die "$DBPROBE not found: cmake --build $BUILD --target plugin_dbprobe"
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
PGBENCH="$(command -v pgbench || echo "$PGBIN/pgbench")"
[ -x "$PGBENCH" ] || die "pgbench is missing (apt-get install postgresql-15)"
command -v curl >/dev/null || die "curl is missing"

# ---- temp dir and cleanup -------------------------------------------------

# Traversable (not listable) by the postgres OS user pg.sh runs the server as.
TMP="$(mktemp -d "${TMPDIR:-/tmp}/tanomu-dbbench.XXXXXX")"
chmod 0711 "$TMP"
HOST_PID=""

stop_host() {
    stop_pid "$HOST_PID"
    HOST_PID=""
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_host
    finish_pg_bench db "$rc" "${BENCH_KEEP:-}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# ---- the cluster, durable (no TANOMU_PG_FAST) --------------------------------

echo "bench/db: starting a PostgreSQL cluster in $TMP/pg (fsync on)" >&2
env -u TANOMU_PG_FAST PGPORT=auto "$PG" start "$TMP/pg" >/dev/null
umask 077
"$PG" url app "$TMP/pg" >"$TMP/app.url"
"$PG" url owner "$TMP/pg" >"$TMP/owner.url"
umask 022
settings="$("$PG" psql super "$TMP/pg" -XAtq -c \
    "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings
     WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method')")"
case " $settings " in
  *" fsync=on "*" synchronous_commit=on "*) ;;
  *) die "the cluster is not durable: $settings" ;;
esac

# ---- the host ---------------------------------------------------------------

HOST_PORT="$(free_port)"
mkdir -p "$TMP/plugins" "$TMP/tenants"
cp "$DBPROBE" "$TMP/plugins/dbprobe.so"
cat >"$TMP/tanomu.conf" <<EOF
server: {
  listen = ["127.0.0.1:$HOST_PORT"];
  admin_listen = "";
  workers = $WORKERS;
  pid_file = "tanomu.pid";
};
logging: { level = "warn"; access = false; };
plugins: { dir = "plugins"; load = ["dbprobe"]; };
tenants_dir = "tenants";
database: {
  url_file = "app.url";
  owner_url_file = "owner.url";
  pool_size = $POOL;
  queue_max = 1024;
  queue_timeout_ms = 5000;
  statement_timeout_ms = 10000;
  migrations_dir = "$ROOT/migrations";
  plugin_migrations_dir = "$ROOT/tests/integration_db/plugins";
};
EOF
cat >"$TMP/tenants/bench.conf" <<EOF
tenant: {
  id = "bench";
  hosts = ["$HOST_NAME"];
  features: { dbprobe: { enabled = true; }; };
};
EOF
"$TANOMU" migrate -c "$TMP/tanomu.conf" >"$TMP/migrate.log" 2>&1 ||
    { cat "$TMP/migrate.log" >&2; die "tanomu migrate failed"; }

start_host() {
    setsid "$TANOMU" serve -c "$TMP/tanomu.conf" >>"$TMP/tanomu.log" 2>&1 &
    HOST_PID=$!
    local code=""
    for _ in $(seq 1 100); do
        kill -0 "$HOST_PID" 2>/dev/null || die "the host exited during startup"
        code="$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary bench \
                -H "Host: $HOST_NAME" "http://127.0.0.1:$HOST_PORT/db/roundtrip" || true)"
        [ "$code" = 201 ] && return 0
        sleep 0.1
    done
    die "POST /db/roundtrip did not answer 201 within 10s (last status: ${code:-none})"
}

cat >"$TMP/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "bench"
wrk.headers["Content-Type"] = "text/plain"
EOF


# run_host N: one wrk measurement into H_TPS[N] H_P50[N] H_P99[N] H_ERR[N].
declare -a H_TPS=() H_P50=() H_P99=() H_ERR=() P_TPS=() P_LAT=() P_ERR=()
run_host() {
    local n="$1" out="$TMP/wrk-$1.txt" url="http://127.0.0.1:$HOST_PORT/db/roundtrip"
    start_host
    wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$TMP/post.lua" -H "Host: $HOST_NAME" \
        "$url" >/dev/null
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/post.lua" \
        -H "Host: $HOST_NAME" "$url" >"$out"
    stop_host
    H_TPS[$n]="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    [ -n "${H_TPS[$n]}" ] || { cat "$out" >&2; die "could not parse wrk's output"; }
    H_P50[$n]="$(to_ms "$(awk '$1 == "50%" {print $2; exit}' "$out")")"
    H_P99[$n]="$(to_ms "$(awk '$1 == "99%" {print $2; exit}' "$out")")"
    H_ERR[$n]="$(awk '
        /Non-2xx or 3xx responses:/ {n += $NF}
        /Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
        END {print n + 0}' "$out")"
}

# run_pgbench N: the same statements, straight to PostgreSQL, as tanomu_app.
# The password goes in the environment (PGPASSWORD), never on a command
# line where ps would show it.
run_pgbench() {
    local n="$1" out="$TMP/pgbench-$1.txt"
    local args=(-n -M extended -c "$CONNS" -j "$THREADS" -D tenant=bench -D body=bench
                -f "$ROOT/bench/db_roundtrip.sql")
    (
        eval "$(python3 - "$TMP/app.url" <<'PY'
import shlex, sys, urllib.parse
u = urllib.parse.urlsplit(open(sys.argv[1]).read().strip())
q = urllib.parse.parse_qs(u.query)
env = {"PGUSER": urllib.parse.unquote(u.username or ""),
       "PGPASSWORD": urllib.parse.unquote(u.password or ""),
       "PGDATABASE": u.path.lstrip("/"),
       "PGHOST": q.get("host", [u.hostname or ""])[0],
       "PGPORT": q.get("port", [str(u.port or "")])[0]}
print(" ".join(f"export {k}={shlex.quote(v)};" for k, v in env.items()))
PY
)"
        "$PGBENCH" "${args[@]}" -T "$WARMUP" >/dev/null 2>"$TMP/pgbench-warmup.err" ||
            { cat "$TMP/pgbench-warmup.err" >&2; exit 1; }
        "$PGBENCH" "${args[@]}" -T "$DURATION" >"$out" 2>"$TMP/pgbench-$n.err" ||
            { cat "$TMP/pgbench-$n.err" >&2; exit 1; }
    ) || die "pgbench failed"
    P_TPS[$n]="$(awk -F'= *' '/^tps = / {split($2, a, " "); print a[1]}' "$out")"
    [ -n "${P_TPS[$n]}" ] || { cat "$out" >&2; die "could not parse pgbench's output"; }
    P_LAT[$n]="$(awk -F'= *' '/^latency average/ {split($2, a, " "); print a[1]}' "$out")"
    P_ERR[$n]="$(awk '/^number of failed transactions:/ {print $5 + 0}' "$out")"
    P_ERR[$n]="${P_ERR[$n]:-0}"
}

# ---- main ---------------------------------------------------------------------

cpu_model="$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)"
echo "machine:  $(nproc) CPUs, ${cpu_model:-$(uname -m)}, $(uname -sr)," \
    "$(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)"
echo "postgres: $("$PGBIN/postgres" --version | sed 's/^postgres (PostgreSQL) //'), $settings"
echo "host:     $("$TANOMU" version 2>/dev/null | head -n 1), $WORKERS workers x pool $POOL," \
    "access log off"
echo "unit:     POST /db/roundtrip = BEGIN; set_config(tenant); INSERT ... RETURNING id;" \
    "SELECT by id; COMMIT"
echo "load:     wrk -t$THREADS -c$CONNS -d${DURATION}s  vs  pgbench -c$CONNS -j$THREADS" \
    "-T$DURATION -n -M extended -f bench/db_roundtrip.sql"
echo "note:     client, host and PostgreSQL share these CPUs; compare ratios, and repeat"
echo

for n in $(seq 1 "$RUNS"); do
    echo "bench/db: run $n/$RUNS: host (warm-up ${WARMUP}s, then ${DURATION}s)" >&2
    run_host "$n"
    echo "bench/db: run $n/$RUNS: pgbench (warm-up ${WARMUP}s, then ${DURATION}s)" >&2
    run_pgbench "$n"
done

printf '%-4s %12s %9s %9s %7s   %12s %9s %7s   %10s\n' run "host tps" "p50 ms" "p99 ms" errors \
    "pgbench tps" "avg ms" errors "host/pgb"
for n in $(seq 1 "$RUNS"); do
    printf '%-4s %12s %9s %9s %7s   %12s %9s %7s   %10s\n' "$n" "${H_TPS[$n]}" "${H_P50[$n]}" \
        "${H_P99[$n]}" "${H_ERR[$n]}" "${P_TPS[$n]}" "${P_LAT[$n]}" "${P_ERR[$n]}" \
        "$(awk -v h="${H_TPS[$n]}" -v p="${P_TPS[$n]}" 'BEGIN { printf "%.2f", (p > 0 ? h / p : 0) }')"
done
rows="$("$PG" psql super "$TMP/pg" -XAtq -c "SELECT count(*) FROM notes")"
echo
echo "rows written: $rows (every 201 and every pgbench transaction is one note)"
for n in $(seq 1 "$RUNS"); do
    if [ "${H_ERR[$n]}" != 0 ] || [ "${P_ERR[$n]}" != 0 ]; then
        echo "warning: run $n had failed requests/transactions: its figures are not to be trusted" >&2
    fi
done
