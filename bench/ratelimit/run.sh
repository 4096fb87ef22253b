#!/usr/bin/env bash
# bench/ratelimit/run.sh - takes per second from a shared rate-limit zone.
# Usage: ./bench/ratelimit/run.sh [BUILD_DIR] [seconds] [max_procs]
# Builds bench_ratelimit.c against BUILD_DIR's host_core (default: build)
# with the same optimisation, in a temporary directory, and runs it.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
SECS="${2:-2}"
PROCS="${3:-4}"
LIB="$BUILD/lib/libhost_core.a"
[ -f "$LIB" ] || { echo "bench: build first (no $LIB)" >&2; exit 1; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
gcc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -I"$ROOT/host/core" -I"$ROOT/sdk/include" \
    $(pkg-config --cflags libsodium libconfig jansson) \
    "$HERE/bench_ratelimit.c" "$LIB" \
    $(pkg-config --libs libsodium libconfig jansson) -lpthread -lm -o "$TMP/bench_ratelimit"
"$TMP/bench_ratelimit" "$SECS" "$PROCS"
