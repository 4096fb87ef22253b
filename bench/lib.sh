# bench/lib.sh - what the benchmarks share (sourced, not run): the paths,
# stopping a server, a free port, and wrk's latency units.

BENCH_ROOT="$(cd "$(dirname "$0")/.." && pwd)"

# bench_build DIR: the build directory as an absolute path.
bench_build() {
    case "${1:-build}" in
      /*) echo "${1:-build}" ;;
      *) echo "$BENCH_ROOT/${1:-build}" ;;
    esac
}

# stop_pid PID: TERM (graceful for every server here), then, after 10 s,
# KILL it and its process group.
stop_pid() {
    local pid="$1"
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "bench: pid $pid ignored TERM for 10s, killing it" >&2
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# A port the kernel says is free now (a small race, fine for a manual tool).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        shuf -i 20000-60000 -n 1
}

# wrk prints latencies with their own units; the tables want ms.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
        printf "%.2f", n }'
}

# The end of a bench that ran the host and a private cluster under $TMP
# ($PG is scripts/pg.sh): the host's last log lines if it failed, then the
# cluster and $TMP removed, or kept when keep is set.
finish_pg_bench() {  # NAME RC KEEP
    local name=$1 rc=$2 keep=$3
    if [ "$rc" != 0 ] && [ -s "$TMP/tanomu.log" ]; then
        echo "--- last lines of the host's log" >&2
        tail -n 20 "$TMP/tanomu.log" >&2
    fi
    if [ -n "$keep" ]; then
        "$PG" stop "$TMP/pg" >/dev/null 2>&1 || true
        echo "bench/$name: kept $TMP" >&2
    else
        "$PG" destroy "$TMP/pg" >/dev/null 2>&1 || true
        rm -rf "$TMP"
    fi
}
