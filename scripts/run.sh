#!/bin/sh
# `make run`: a private PostgreSQL cluster under var/pg (created on first
# use), migrations, then the platform in the foreground, logging JSON lines
# to stdout, on config/tanomu.conf (127.0.0.1:8080, admin 127.0.0.1:9100).
# Ctrl-C drains the server, then stops the cluster.
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
CONF=config/tanomu.conf
mkdir -p var/run var/pg
scripts/pg.sh start var/pg
umask 077
scripts/pg.sh url app var/pg > var/pg/app.url
scripts/pg.sh url owner var/pg > var/pg/owner.url
umask 022
stop_pg() { scripts/pg.sh stop var/pg || true; }
trap stop_pg EXIT
trap 'exit 130' INT TERM
# A configuration with secrets.keyring_dir needs a keyring: make the first
# key for a local run (never over an existing keyring, see operations.md).
if ! out=$("$BUILD/bin/tanomu" secret check -c "$CONF" 2>&1) &&
   echo "$out" | grep -q "not a directory"; then
    "$BUILD/bin/tanomu" secret rotate -c "$CONF"
fi
"$BUILD/bin/tanomu" check -c "$CONF"
"$BUILD/bin/tanomu" migrate -c "$CONF"
# The demo tenant's demo products and buyer (docs/orders.md "Demo data";
# idempotent).  Without the orders plugin the server still starts.
"$BUILD/bin/tanomu" orders-seed-demo --tenant demo -c "$CONF" ||
    echo "run.sh: orders demo data not loaded (is the orders plugin enabled?)" >&2
echo "serving: curl http://demo.localhost:8080/hello   (metrics: curl http://127.0.0.1:9100/metrics)"
"$BUILD/bin/tanomu" serve -c "$CONF"
