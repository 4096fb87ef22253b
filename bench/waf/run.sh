#!/usr/bin/env bash
# bench/waf/run.sh - the WAF anchor benchmark (issue 17): nginx 1.22 +
# ModSecurity-nginx + libmodsecurity 3.0.9 + OWASP CRS 3.3.4 as Debian ships
# them, against the host with the waf and echo plugins, on loopback.  For
# each target it runs ../shared/waf/waf_eval.py (detection per attack
# category, false positives on the benign corpus) and wrk (a GET with a query
# string, a 1 KiB JSON POST), then prints one comparison table.
#
# Usage: bench/waf/run.sh [BUILD_DIR]        (default: build)
#        bench/waf/run.sh --serve TARGET     start one nginx target with a full
#                                            audit log and wait (for rule_hits.py)
# Targets, in this order:
#   plain    nginx without ModSecurity: the ceiling (no eval, wrk only)
#   anchor   Debian's modsecurity.conf with SecRuleEngine On (blocking) +
#            crs-setup.conf + the CRS rules, paranoia level 1: "as shipped"
#   profile  the same nginx with the platform profile instead
#            (plugins/waf/rules: setup.conf, CRS, exclusions.conf): the
#            rules the plugin loads, in the anchor's engine
#   host     tanomu serve -c config/examples/waf.conf (127.0.0.1:8080,
#            tenant waf.localhost: waf in block mode at PL1 + echo); skipped
#            with a message when the host or the waf plugin is not built
# Every nginx answers 200 to any method and path (see nginx.conf.in).
# Run by hand, not in CI: numbers depend on the machine and its load.
# Knobs (environment):
#   BENCH_TARGETS="plain anchor profile host"   BENCH_WORKERS=2 (nginx)
#   BENCH_THREADS=2 BENCH_CONNS=50 BENCH_DURATION=10s BENCH_WARMUP=2s
#   WAF_SHARED=../shared/waf (waf_eval.py and the *-dev.jsonl corpora)
#   WAF_CORPORA="FILE ..."  (default: the dev attack and benign corpora and
#                            bench/waf/cases/*.jsonl)
#   BENCH_EVAL_CONCURRENCY=8  BENCH_HOST_CONF  BENCH_HOST_URL  BENCH_KEEP=1
#   --serve only: BENCH_PORT (default: a free port), BENCH_SERVE_AUDIT=0
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

SERVE=""
if [ "${1:-}" = "--serve" ]; then
    SERVE="${2:?usage: run.sh --serve plain|anchor|profile}"
    shift 2
fi
case "${1:-}" in -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
# (bench_build resolves against bench/'s parent only when run from bench/.)
case "${1:-build}" in /*) BUILD="${1}" ;; *) BUILD="$ROOT/${1:-build}" ;; esac

TARGETS="${BENCH_TARGETS:-plain anchor profile host}"
WORKERS="${BENCH_WORKERS:-2}"
THREADS="${BENCH_THREADS:-2}"
CONNS="${BENCH_CONNS:-50}"
DURATION="${BENCH_DURATION:-10s}"
WARMUP="${BENCH_WARMUP:-2s}"
EVAL_CONC="${BENCH_EVAL_CONCURRENCY:-8}"
SHARED="${WAF_SHARED:-$ROOT/../shared/waf}"
WAF_EVAL="$SHARED/waf_eval.py"
HOST_CONF="${BENCH_HOST_CONF:-$ROOT/config/examples/waf.conf}"
HOST_URL="${BENCH_HOST_URL:-http://127.0.0.1:8080}"
HOST_NAME="waf.localhost"
CRS_DIR=/usr/share/modsecurity-crs/rules
MODULE=/usr/lib/nginx/modules/ngx_http_modsecurity_module.so

# The GET: a product search in Japanese with the headers a browser sends.
GET_PATH="/api/products/search?q=%E3%82%B3%E3%83%94%E3%83%BC%E7%94%A8%E7%B4%99&category=%E6%96%87%E6%88%BF%E5%85%B7&page=2&sort=price_asc"
GET_HEADERS=(
    -H "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    -H "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    -H "Accept-Language: ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7"
    -H "Cookie: session_id=5b0e1c9f2a7d4e8b9c3f6a1d2e4b7c90; lang=ja"
)

die() { echo "bench/waf: $*" >&2; exit 1; }
note() { echo "bench/waf: $*" >&2; }
has_target() { case " $TARGETS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---- tools ----------------------------------------------------------------

NGINX="$(command -v nginx || true)"
[ -n "$NGINX" ] || { [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx; } || true
missing=""
[ -n "$NGINX" ] || missing="$missing nginx"
[ -e "$MODULE" ] || missing="$missing libnginx-mod-http-modsecurity"
[ -d "$CRS_DIR" ] || missing="$missing modsecurity-crs"
command -v wrk >/dev/null || missing="$missing wrk"
command -v curl >/dev/null || missing="$missing curl"
if [ -n "$missing" ]; then
    die "missing packages; as root: apt-get install -y$missing (services are not needed: this script runs its own nginx)"
fi
[ -r "$WAF_EVAL" ] || die "$WAF_EVAL not found (set WAF_SHARED)"
if [ -n "${WAF_CORPORA:-}" ]; then
    read -r -a CORPORA <<<"$WAF_CORPORA"
else
    CORPORA=("$SHARED/attacks-dev.jsonl" "$SHARED/benign-dev.jsonl")
    for f in "$HERE"/cases/*.jsonl; do [ -e "$f" ] && CORPORA+=("$f"); done
fi
for f in "${CORPORA[@]}"; do [ -r "$f" ] || die "corpus $f not found"; done

# ---- temp dir and cleanup -------------------------------------------------

TMP="$(mktemp -d "${TMPDIR:-/tmp}/tanomu-wafbench.XXXXXX")"
SERVER_PID=""
PG_STARTED=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$SERVER_PID"
    if [ -n "$PG_STARTED" ]; then "$ROOT/scripts/pg.sh" stop "$PG_STARTED" >/dev/null 2>&1 || true; fi
    if [ "$rc" != 0 ]; then
        for f in "$TMP"/*/error.log "$TMP/host/tanomu.log"; do
            [ -s "$f" ] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }
        done
    fi
    if [ -n "${BENCH_KEEP:-}" ]; then note "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Polls until url answers 200 with our Host header, or the pid dies.
wait_ready() {
    local name="$1" url="$2" pid="$3" code=""
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during startup"
        code="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $HOST_NAME" "$url" || true)"
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    die "$name did not answer 200 on $url within 15s (last status: ${code:-none})"
}

# ---- nginx targets ------------------------------------------------------------

# The ModSecurity rules of a target, into $dir/main.conf.  The anchor is
# Debian's files unchanged except: the engine blocks (SecRuleEngine On, as
# the CRS is meant to run and as issue 17 measured it), the audit log, tmp
# and data dirs live under $dir, the unicode map is found by absolute path,
# and the IncludeOptional lines of owasp-crs.load (refused by libmodsecurity
# 3.0.9) are plain Includes.
write_rules() {
    local target="$1" dir="$2"
    case "$target" in
      anchor)
        sed -e 's/^SecRuleEngine DetectionOnly/SecRuleEngine On/' \
            -e "s|^SecAuditLog .*|SecAuditLog $dir/modsec_audit.log|" \
            -e "s|^SecTmpDir .*|SecTmpDir $dir/|" -e "s|^SecDataDir .*|SecDataDir $dir/|" \
            -e "s|^SecUnicodeMapFile unicode.mapping|SecUnicodeMapFile /etc/nginx/unicode.mapping|" \
            /etc/nginx/modsecurity.conf >"$dir/modsecurity.conf"
        grep -q '^SecRuleEngine On' "$dir/modsecurity.conf" ||
            die "could not turn SecRuleEngine On in a copy of /etc/nginx/modsecurity.conf"
        {
            echo "Include $dir/modsecurity.conf"
            sed -e 's/^IncludeOptional /Include /' /usr/share/modsecurity-crs/owasp-crs.load |
                grep '^Include '
        } >"$dir/main.conf"
        ;;
      profile)
        {
            echo "Include $ROOT/plugins/waf/rules/setup.conf"
            echo "Include $CRS_DIR/*.conf"
            echo "Include $ROOT/plugins/waf/rules/exclusions.conf"
        } >"$dir/main.conf"
        ;;
    esac
    # --serve: every transaction in a Serial audit log, for rule_hits.py
    # (BENCH_SERVE_AUDIT=0: the rules as measured, e.g. for perf).
    if [ -n "$SERVE" ] && [ "${BENCH_SERVE_AUDIT:-1}" = 1 ]; then
        printf 'SecAuditEngine On\nSecAuditLogType Serial\nSecAuditLogParts ABHZ\nSecAuditLog %s\n' \
            "$dir/audit.log" >>"$dir/main.conf"
        : >"$dir/audit.log"
    fi
}

start_nginx() {
    local target="$1" port="$2" dir="$TMP/$1" user_line="" load="" modsec=""
    mkdir -p "$dir/empty"
    # As root, nginx would hand its workers to "nobody": keep the current user.
    if [ "$(id -u)" = 0 ]; then user_line="user $(id -un) $(id -gn);"; fi
    if [ "$target" != plain ]; then
        write_rules "$target" "$dir"
        load="load_module $MODULE;"
        modsec="modsecurity on; modsecurity_rules_file $dir/main.conf;"
    fi
    sed -e "s|@PREFIX@|$dir|g" -e "s|@WORKERS@|$WORKERS|g" -e "s|@PORT@|$port|g" \
        -e "s|@USER_LINE@|$user_line|" -e "s|@LOAD_MODULE@|$load|" -e "s|@MODSEC@|$modsec|" \
        "$HERE/nginx.conf.in" >"$dir/nginx.conf"
    "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" -t -q ||
        die "nginx rejected the $target config ($dir/nginx.conf)"
    "$NGINX" -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
    SERVER_PID=$!
    wait_ready "nginx ($target)" "http://127.0.0.1:$port/" "$SERVER_PID"
}

# ---- the host -------------------------------------------------------------------

# Why the host cannot run, or nothing.
host_missing() {
    [ -x "$BUILD/bin/tanomu" ] || { echo "$BUILD/bin/tanomu not built"; return; }
    ls "$BUILD"/plugins/waf.so "$BUILD"/plugins/libwaf.so >/dev/null 2>&1 ||
        [ -n "$(ls "$BUILD"/plugins/*waf* 2>/dev/null)" ] ||
        { echo "the waf plugin is not built in $BUILD/plugins"; return; }
    [ -r "$HOST_CONF" ] || { echo "$HOST_CONF not found"; return; }
    return 0
}

start_host() {
    local hostport="${HOST_URL#http://}"
    mkdir -p "$TMP/host"
    if curl -s -o /dev/null --max-time 2 "$HOST_URL/"; then
        die "something already answers on $HOST_URL: stop it (make run?) first"
    fi
    # config/examples/waf.conf uses the database `make run` prepared: start
    # that cluster if it is stopped, and stop it again at the end.
    if grep -q '^database' "$HOST_CONF" && [ -d "$ROOT/var/pg" ]; then
        local st=0
        "$ROOT/scripts/pg.sh" status "$ROOT/var/pg" >/dev/null 2>&1 || st=$?
        if [ "$st" = 3 ]; then
            "$ROOT/scripts/pg.sh" start "$ROOT/var/pg" >/dev/null || die "could not start $ROOT/var/pg"
            PG_STARTED="$ROOT/var/pg"
        fi
    fi
    "$BUILD/bin/tanomu" check -c "$HOST_CONF" >"$TMP/host/check.log" 2>&1 ||
        { cat "$TMP/host/check.log" >&2; die "tanomu check -c $HOST_CONF failed"; }
    "$BUILD/bin/tanomu" serve -c "$HOST_CONF" >"$TMP/host/tanomu.log" 2>&1 &
    SERVER_PID=$!
    wait_ready "tanomu ($hostport)" "$HOST_URL/" "$SERVER_PID"
}

# ---- measuring ----------------------------------------------------------------

declare -A GET_RPS=() POST_RPS=() ERRS=() DET=() FP=()
CATS=()

# The server's CPU time so far, in clock ticks: the process and all its
# descendants (nginx's workers, the host's workers and threads).
proc_tree() {
    local p="$1" c
    echo "$p"
    for c in $(pgrep -P "$p" || true); do proc_tree "$c"; done
}
cpu_ticks() {
    local p t=0 v
    for p in $(proc_tree "$1"); do
        v="$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)"
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
HZ="$(getconf CLK_TCK 2>/dev/null || echo 100)"

# run_wrk TARGET NAME URL [wrk args]: warm-up, then the measured run; req/s
# and the server's CPU ms per request (robust to other load on the machine,
# unlike req/s).  --timeout 10s: at a few hundred req/s over 50 connections
# the tail is above wrk's 2 s default, which would count as socket errors.
declare -A GET_CPU=() POST_CPU=()
run_wrk() {
    local target="$1" name="$2" url="$3" out="$TMP/wrk-$1-$2.txt" rps errs n t0 t1 cpu
    shift 3
    note "$target: wrk $name, warm-up $WARMUP, then $DURATION"
    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" --timeout 10s -H "Host: $HOST_NAME" "$@" "$url" >/dev/null
    t0="$(cpu_ticks "$SERVER_PID")"
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 10s -H "Host: $HOST_NAME" "$@" "$url" >"$out"
    t1="$(cpu_ticks "$SERVER_PID")"
    rps="$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")"
    n="$(awk '/ requests in / {print $1; exit}' "$out")"
    if [ -z "$rps" ] || [ -z "$n" ]; then cat "$out" >&2; die "could not parse wrk output ($target $name)"; fi
    cpu="$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$n" 'BEGIN { if (n > 0) printf "%.3f", d * 1000 / hz / n; else print "-" }')"
    # A 403 or a socket error makes req/s meaningless: count them.
    errs="$(awk '/Non-2xx or 3xx responses:/ {n += $NF}
        /Socket errors:/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$out")"
    ERRS[$target]=$(( ${ERRS[$target]:-0} + errs ))
    if [ "$name" = get ]; then GET_RPS[$target]="$rps"; GET_CPU[$target]="$cpu"
    else POST_RPS[$target]="$rps"; POST_CPU[$target]="$cpu"; fi
}

# run_eval TARGET BASE_URL: waf_eval.py over the corpora, into DET/FP.
run_eval() {
    local target="$1" url="$2" out="$TMP/eval-$1" args=()
    for f in "${CORPORA[@]}"; do args+=(--corpus "$f"); done
    note "$target: waf_eval.py over ${#CORPORA[@]} corpora"
    python3 "$WAF_EVAL" --base-url "$url" --host-header "$HOST_NAME" "${args[@]}" \
        --concurrency "$EVAL_CONC" --out-dir "$out" --label "$target" >"$out.txt" 2>&1 ||
        { cat "$out.txt" >&2; die "waf_eval.py failed against $target"; }
    # key=value lines: det:CATEGORY, fp:CATEGORY, det:ALL, fp:ALL (percent).
    while IFS='=' read -r k v; do
        case "$k" in
          det:*) DET["$target|${k#det:}"]="$v" ;;
          fp:*) FP["$target|${k#fp:}"]="$v" ;;
        esac
    done < <(python3 - "$out/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
def pct(d): return "%.1f" % (100.0 * d.get("blocked", 0) / d["n"]) if d["n"] else "-"
for d in s["by_category"]:
    kind, cat = d["key"]
    print("%s:%s=%s" % ("det" if kind == "attack" else "fp", cat, pct(d)))
for d in s["by_kind"]:
    print("%s:ALL=%s" % ("det" if d["key"] == "attack" else "fp", pct(d)))
EOF
)
}

measure() {
    local target="$1" url="$2"
    [ "$target" = plain ] || run_eval "$target" "$url"
    run_wrk "$target" get "$url$GET_PATH" "${GET_HEADERS[@]}"
    run_wrk "$target" post "$url/api/orders" -s "$HERE/post.lua"
}

# ---- --serve ----------------------------------------------------------------------

if [ -n "$SERVE" ]; then
    case "$SERVE" in plain | anchor | profile) ;; *) die "--serve plain|anchor|profile" ;; esac
    port="${BENCH_PORT:-$(free_port)}"
    start_nginx "$SERVE" "$port"
    echo "serving $SERVE on http://127.0.0.1:$port (Host: $HOST_NAME); audit log $TMP/$SERVE/audit.log"
    echo "  bench/waf/rule_hits.py --base-url http://127.0.0.1:$port --audit-log $TMP/$SERVE/audit.log --corpus FILE"
    echo "Ctrl-C stops it."
    wait "$SERVER_PID"
    exit 0
fi

# ---- main -------------------------------------------------------------------------

cpu_model="$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)"
echo "machine: $(nproc) CPUs, ${cpu_model:-$(uname -m)}, $(uname -sr)"
echo "nginx:   $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $WORKERS workers;" \
    "libmodsecurity $(dpkg-query -W -f '${Version}' libmodsecurity3 2>/dev/null || echo '?')," \
    "CRS $(dpkg-query -W -f '${Version}' modsecurity-crs 2>/dev/null || echo '?')"
echo "load:    wrk -t$THREADS -c$CONNS -d$DURATION --timeout 10s: GET $GET_PATH (browser headers);" \
    "POST /api/orders 1 KiB JSON (bench/waf/post.lua)"
echo "corpora: ${CORPORA[*]}"
echo "note:    wrk and the servers share these CPUs; compare ratios, not absolutes"
echo

DONE=()
for target in plain anchor profile host; do
    has_target "$target" || continue
    if [ "$target" = host ]; then
        why="$(host_missing)"
        if [ -n "$why" ]; then
            note "host: skipped: $why (build with make build; needs plugins/waf and $HOST_CONF)"
            continue
        fi
        start_host
        measure host "$HOST_URL"
    else
        port="$(free_port)"
        start_nginx "$target" "$port"
        measure "$target" "http://127.0.0.1:$port"
    fi
    stop_pid "$SERVER_PID"
    SERVER_PID=""
    if [ -n "$PG_STARTED" ]; then "$ROOT/scripts/pg.sh" stop "$PG_STARTED" >/dev/null 2>&1 || true; PG_STARTED=""; fi
    DONE+=("$target")
done

# ---- the table ----------------------------------------------------------------------

# The categories seen, by name.
for k in "${!DET[@]}"; do c="${k#*|}"; [ "$c" = ALL ] || CATS+=("det|$c"); done
for k in "${!FP[@]}"; do c="${k#*|}"; [ "$c" = ALL ] || CATS+=("fp|$c"); done
mapfile -t CATS < <(printf '%s\n' "${CATS[@]}" | sort -u)

row() { printf '%-24s' "$1"; shift; printf ' %9s' "$@"; echo; }
# per TARGET-ARRAY-NAME: the values of one associative array for each target.
per() {
    local -n arr="$1"
    local t
    for t in "${DONE[@]}"; do printf '%s\n' "${arr[$t$2]:--}"; done
}
pctcol() { sed -e '/^-$/!s/$/%/'; }
row "" "${DONE[@]}"
mapfile -t v < <(per GET_RPS ""); row "GET req/s" "${v[@]}"
mapfile -t v < <(per POST_RPS ""); row "POST 1KiB JSON req/s" "${v[@]}"
mapfile -t v < <(per GET_CPU ""); row "GET server CPU ms/req" "${v[@]}"
mapfile -t v < <(per POST_CPU ""); row "POST server CPU ms/req" "${v[@]}"
mapfile -t v < <(per ERRS ""); row "wrk non-2xx/errors" "${v[@]}"
mapfile -t v < <(per DET "|ALL" | pctcol); row "detection, all attacks" "${v[@]}"
for kc in "${CATS[@]}"; do
    cat="${kc#*|}"
    if [ "${kc%%|*}" = det ]; then
        mapfile -t v < <(per DET "|$cat" | pctcol); row "  det $cat" "${v[@]}"
    fi
done
mapfile -t v < <(per FP "|ALL" | pctcol); row "FP rate, all benign" "${v[@]}"
for kc in "${CATS[@]}"; do
    cat="${kc#*|}"
    if [ "${kc%%|*}" = fp ]; then
        mapfile -t v < <(per FP "|$cat" | pctcol); row "  FP $cat" "${v[@]}"
    fi
done
echo

# Ratios against the anchor (req/s) and the ceiling.
for t in "${DONE[@]}"; do
    [ "$t" = anchor ] && continue
    awk -v t="$t" -v g="${GET_RPS[$t]:-0}" -v p="${POST_RPS[$t]:-0}" \
        -v ag="${GET_RPS[anchor]:-0}" -v ap="${POST_RPS[anchor]:-0}" 'BEGIN {
        if (ag > 0 && ap > 0) printf "%-8s / anchor req/s: GET x%.2f, POST x%.2f\n", t, g / ag, p / ap }'
    awk -v t="$t" -v g="${GET_CPU[$t]:-0}" -v p="${POST_CPU[$t]:-0}" \
        -v ag="${GET_CPU[anchor]:-0}" -v ap="${POST_CPU[anchor]:-0}" 'BEGIN {
        if (g > 0 && p > 0 && ag > 0) printf "%-8s / anchor CPU per request: GET x%.2f, POST x%.2f\n", t, g / ag, p / ap }'
done
for t in "${DONE[@]}"; do
    if [ "${ERRS[$t]:-0}" != 0 ]; then
        echo "warning: $t: ${ERRS[$t]} wrk requests were not 2xx (a WAF blocking the benign load?)" >&2
    fi
done
