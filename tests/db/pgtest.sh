#!/usr/bin/env bash
# pgtest.sh - CTest glue for tests/db: one throwaway PostgreSQL cluster per
# fixture, fsync off (TANOMU_PG_FAST=1), on a free port.
#   pgtest.sh setup DIR          remove leftovers of a killed run, create, start
#   pgtest.sh cleanup DIR        stop and delete
#   pgtest.sh run DIR PROG ARGS  run PROG with the cluster's URLs in the env:
#       TANOMU_PG_APP_URL, TANOMU_PG_OWNER_URL, TANOMU_PG_DIR, TANOMU_PG_SH
set -euo pipefail
here=$(cd -- "$(dirname -- "$0")" && pwd)
pg=$here/../../scripts/pg.sh
[ $# -ge 2 ] || { echo "usage: $0 setup|cleanup|run DIR [PROG ARGS]" >&2; exit 2; }
what=$1 dir=$2
shift 2
case $what in
  setup)
    "$pg" destroy "$dir" >/dev/null 2>&1 || true
    TANOMU_PG_FAST=1 PGPORT=auto "$pg" start "$dir" ;;
  cleanup)
    "$pg" destroy "$dir" ;;
  run)
    TANOMU_PG_APP_URL=$("$pg" url "$dir")
    TANOMU_PG_OWNER_URL=$("$pg" url owner "$dir")
    export TANOMU_PG_APP_URL TANOMU_PG_OWNER_URL
    export TANOMU_PG_DIR=$dir TANOMU_PG_SH=$pg TANOMU_PG_FAST=1
    exec "$@" ;;
  *) echo "pgtest.sh: unknown command $what" >&2; exit 2 ;;
esac
