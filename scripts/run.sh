#!/bin/sh
# `make run`: the platform in the foreground, logging JSON lines to stdout,
# on config/tanomu.conf (127.0.0.1:8080, admin on 127.0.0.1:9100).
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
mkdir -p var/run
"$BUILD/bin/tanomu" check -c config/tanomu.conf
echo "serving: curl http://demo.localhost:8080/hello   (metrics: curl http://127.0.0.1:9100/metrics)"
exec "$BUILD/bin/tanomu" serve -c config/tanomu.conf
