#!/usr/bin/env bash
# bench/orders_place.sh - placing orders through the whole chain (issue 9):
# POST /api/v1/orders with 5 lines, as a buyer signed in with a session
# (auth plugin: cookie + CSRF), through the orders plugin (lookup, prices,
# tax, insert, render, audit, outbox, commit), fsync on; then pgbench
# running the same statements (bench/orders_place.sql) straight to
# PostgreSQL for comparison.  Aim (issue 9): 1,500 orders/s, mean < 5 ms.
#
# Usage: ./bench/orders_place.sh [BUILD_DIR]   (default: build)
# Needs BUILD_DIR/bin/tanomu, BUILD_DIR/plugins/{auth,orders}.so, PostgreSQL
# 15 (scripts/pg.sh), wrk, pgbench, curl, python3.  By hand, not in CI.
#
#   1. a private cluster (scripts/pg.sh) with fsync, synchronous_commit on;
#   2. `tanomu migrate`, a keyring (`tanomu secret rotate`), tenant "bench"
#      with auth and orders; 5 products (two at 8%) and buyer B001 written
#      as the superuser, and a buyer's session made as
#      tests/integration_db/ordersharness.py makes one (token hash stored,
#      CSRF token = HMAC-SHA256(token, "tanomu.auth.csrf.v1"));
#   3. wrk (a Lua script: cookie, CSRF header, the JSON body) for
#      BENCH_DURATION seconds after a warm-up: orders/s, mean, p50, p99;
#   4. the host stopped, pgbench with as many connections;
#   5. both side by side, and the orders written.
#
# Knobs: BENCH_THREADS=2 BENCH_CONNS=16 BENCH_DURATION=15 BENCH_WARMUP=3
#        BENCH_WORKERS=$(nproc) BENCH_POOL=8 BENCH_KEEP=1 (keep the temp dir)
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
HOST_NAME="bench.localhost"
PG="$ROOT/scripts/pg.sh"
PGBIN="${TANOMU_PGBIN:-/usr/lib/postgresql/15/bin}"

die() { echo "bench/orders_place: $*" >&2; exit 1; }

for v in THREADS CONNS DURATION WARMUP WORKERS POOL; do
    case "${!v}" in '' | *[!0-9]*) die "BENCH_$v must be a number (got '${!v}')" ;; esac
done
TANOMU="$BUILD/bin/tanomu"
[ -x "$TANOMU" ] || die "$TANOMU not found: cmake --build $BUILD"
for p in auth orders; do
    [ -e "$BUILD/plugins/$p.so" ] || die "$BUILD/plugins/$p.so not found"
done
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
PGBENCH="$(command -v pgbench || echo "$PGBIN/pgbench")"
[ -x "$PGBENCH" ] || die "pgbench is missing"
command -v curl >/dev/null || die "curl is missing"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/tanomu-ordersbench.XXXXXX")"
chmod 0711 "$TMP"
HOST_PID=""
stop_host() { stop_pid "$HOST_PID"; HOST_PID=""; }
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_host
    finish_pg_bench orders_place "$rc" "${BENCH_KEEP:-}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

psql_super() { "$PG" psql super "$TMP/pg" -XAtq -v ON_ERROR_STOP=1 "$@"; }

# ---- the cluster, durable ---------------------------------------------------

echo "bench/orders_place: starting a PostgreSQL cluster in $TMP/pg (fsync on)" >&2
env -u TANOMU_PG_FAST PGPORT=auto "$PG" start "$TMP/pg" >/dev/null
umask 077
"$PG" url app "$TMP/pg" >"$TMP/app.url"
"$PG" url owner "$TMP/pg" >"$TMP/owner.url"
umask 022
settings="$(psql_super -c "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name)
    FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes')")"
case " $settings " in
  *" fsync=on "*" synchronous_commit=on "*) ;;
  *) die "the cluster is not durable: $settings" ;;
esac

# ---- the host ---------------------------------------------------------------

HOST_PORT="$(free_port)"
mkdir -p "$TMP/plugins" "$TMP/tenants"
cp "$BUILD/plugins/auth.so" "$BUILD/plugins/orders.so" "$TMP/plugins/"
cat >"$TMP/tanomu.conf" <<EOF
server: {
  listen = ["127.0.0.1:$HOST_PORT"];
  admin_listen = "";
  workers = $WORKERS;
  pid_file = "tanomu.pid";
};
logging: { level = "warn"; access = false; };
plugins: { dir = "plugins"; load = ["auth", "orders"]; };
tenants_dir = "tenants";
secrets: { keyring_dir = "keys"; };
database: {
  url_file = "app.url";
  owner_url_file = "owner.url";
  pool_size = $POOL;
  queue_max = 1024;
  queue_timeout_ms = 5000;
  statement_timeout_ms = 10000;
  migrations_dir = "$ROOT/migrations";
  plugin_migrations_dir = "$ROOT/plugins";
};
EOF
cat >"$TMP/tenants/bench.conf" <<EOF
tenant: {
  id = "bench";
  hosts = ["$HOST_NAME"];
  features: {
    auth: { enabled = true; };
    orders: { enabled = true; cutoff_time = "23:59"; delivery_lead_days = 0;
              delivery_max_days_ahead = 366; order_max_lines = 200; };
  };
};
EOF
(cd "$TMP" && "$TANOMU" secret rotate -c "$TMP/tanomu.conf") >"$TMP/secret.log" 2>&1 ||
    { cat "$TMP/secret.log" >&2; die "tanomu secret rotate failed"; }
"$TANOMU" migrate -c "$TMP/tanomu.conf" >"$TMP/migrate.log" 2>&1 ||
    { cat "$TMP/migrate.log" >&2; die "tanomu migrate failed"; }

# Master data and a buyer's session, as the superuser.
psql_super <<'SQL' >/dev/null
INSERT INTO orders_buyers (tenant_id, code, name) VALUES ('bench', 'B001', '店 B001');
INSERT INTO orders_products (tenant_id, code, name, unit_price, tax_rate) VALUES
  ('bench', 'P1', '米', 198, 8), ('bench', 'P2', '醤油', 55, 8),
  ('bench', 'P3', '皿', 1234, 10), ('bench', 'P4', '布巾', 99, 10),
  ('bench', 'P5', '鍋', 3210, 10);
INSERT INTO orders_prices (tenant_id, buyer_id, product_id, unit_price)
  SELECT 'bench', b.id, p.id, 1000 FROM orders_buyers b, orders_products p
   WHERE b.code = 'B001' AND p.code = 'P3';
SQL
USER_ID="$(psql_super -c "INSERT INTO auth_users (tenant_id, login, roles, buyer_id,
    password_hash) VALUES ('bench', 'bench-buyer', ARRAY['buyer'], 'B001',
    '\$argon2id\$v=19\$m=19456,t=2,p=1\$AAAAAAAAAAAAAAAAAAAAAA\$' || repeat('A', 43))
    RETURNING id")"
read -r TOKEN HASH CSRF < <(python3 - <<'PY'
import base64, hashlib, hmac, secrets
raw = secrets.token_bytes(32)
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
print(b64(raw), hashlib.sha256(raw).hexdigest(),
      b64(hmac.new(raw, b"tanomu.auth.csrf.v1", hashlib.sha256).digest()))
PY
)
psql_super -c "INSERT INTO auth_sessions (id, tenant_id, user_id, mfa_passed)
    VALUES ('$HASH', 'bench', '$USER_ID', true)" >/dev/null
DAY="$(TZ=Asia/Tokyo date -d '+3 days' +%F)"
BODY="{\"lines\":[{\"product\":\"P1\",\"quantity\":3},{\"product\":\"P2\",\"quantity\":7},{\"product\":\"P3\",\"quantity\":2},{\"product\":\"P4\",\"quantity\":1},{\"product\":\"P5\",\"quantity\":1}],\"delivery_date\":\"$DAY\"}"

cat >"$TMP/place.lua" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "__Host-tanomu_sid=$TOKEN"
wrk.headers["X-CSRF-Token"] = "$CSRF"
EOF

URL="http://127.0.0.1:$HOST_PORT/api/v1/orders"
setsid "$TANOMU" serve -c "$TMP/tanomu.conf" >>"$TMP/tanomu.log" 2>&1 &
HOST_PID=$!
code=""
for _ in $(seq 1 100); do
    kill -0 "$HOST_PID" 2>/dev/null || die "the host exited during startup"
    code="$(curl -s -o "$TMP/first.json" -w '%{http_code}' -X POST --data-binary "$BODY" \
            -H "Host: $HOST_NAME" -H "Content-Type: application/json" \
            -H "Cookie: __Host-tanomu_sid=$TOKEN" -H "X-CSRF-Token: $CSRF" "$URL" || true)"
    [ "$code" = 201 ] && break
    sleep 0.1
done
[ "$code" = 201 ] || { cat "$TMP/first.json" >&2 || true; die "POST $URL did not answer 201 (last: ${code:-none})"; }

echo "bench/orders_place: wrk (warm-up ${WARMUP}s, then ${DURATION}s)" >&2
wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$TMP/place.lua" -H "Host: $HOST_NAME" "$URL" \
    >/dev/null
wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/place.lua" \
    -H "Host: $HOST_NAME" "$URL" >"$TMP/wrk.txt"
stop_host
H_TPS="$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.txt")"
[ -n "$H_TPS" ] || { cat "$TMP/wrk.txt" >&2; die "could not parse wrk's output"; }
H_AVG="$(to_ms "$(awk '$1 == "Latency" {print $2; exit}' "$TMP/wrk.txt")")"
H_P50="$(to_ms "$(awk '$1 == "50%" {print $2; exit}' "$TMP/wrk.txt")")"
H_P99="$(to_ms "$(awk '$1 == "99%" {print $2; exit}' "$TMP/wrk.txt")")"
H_ERR="$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
              /Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10}
              END {print n + 0}' "$TMP/wrk.txt")"
host_orders="$(psql_super -c "SELECT count(*) FROM orders_orders")"

# ---- pgbench: the same statements --------------------------------------------

INS="$(psql_super -c "SELECT json_agg(json_build_object('n', n, 'p', p.id, 'c', p.code,
    'name', p.name, 'unit', p.unit, 'price', p.unit_price, 'rate', p.tax_rate, 'q', 1,
    'amount', p.unit_price) ORDER BY n) FROM orders_products p
    JOIN unnest(ARRAY['P1','P2','P3','P4','P5']) WITH ORDINALITY AS c(code, n)
    ON c.code = p.code")"
echo "bench/orders_place: pgbench (warm-up ${WARMUP}s, then ${DURATION}s)" >&2
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
    args=(-n -M extended -c "$CONNS" -j "$THREADS" -D tenant=bench -D buyer=B001
          -D "user=$USER_ID" -D "day=$DAY" -D 'codes=["P1","P2","P3","P4","P5"]'
          -D "ins=$INS" -f "$ROOT/bench/orders_place.sql")
    "$PGBENCH" "${args[@]}" -T "$WARMUP" >/dev/null 2>"$TMP/pgbench-warmup.err" ||
        { cat "$TMP/pgbench-warmup.err" >&2; exit 1; }
    "$PGBENCH" "${args[@]}" -T "$DURATION" >"$TMP/pgbench.txt" 2>"$TMP/pgbench.err" ||
        { cat "$TMP/pgbench.err" >&2; exit 1; }
) || die "pgbench failed"
P_TPS="$(awk -F'= *' '/^tps = / {split($2, a, " "); print a[1]}' "$TMP/pgbench.txt")"
P_LAT="$(awk -F'= *' '/^latency average/ {split($2, a, " "); print a[1]}' "$TMP/pgbench.txt")"
P_ERR="$(awk '/^number of failed transactions:/ {print $5 + 0}' "$TMP/pgbench.txt")"

cpu_model="$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)"
echo "machine:  $(nproc) CPUs, ${cpu_model:-$(uname -m)}"
echo "postgres: $settings"
echo "host:     $WORKERS workers x pool $POOL, access log off; wrk -t$THREADS -c$CONNS -d${DURATION}s"
echo "unit:     POST /api/v1/orders, 5 lines, buyer session (cookie + CSRF)"
echo
printf '%-8s %10s %9s %9s %9s %7s\n' side "orders/s" "mean ms" "p50 ms" "p99 ms" errors
printf '%-8s %10s %9s %9s %9s %7s\n' host "$H_TPS" "$H_AVG" "$H_P50" "$H_P99" "$H_ERR"
printf '%-8s %10s %9s %9s %9s %7s\n' pgbench "$P_TPS" "$P_LAT" "-" "-" "${P_ERR:-0}"
echo
echo "orders written by the host: $host_orders (warm-up and measurement)"
[ "$H_ERR" = 0 ] || echo "warning: the host answered errors: its figures are not to be trusted" >&2
