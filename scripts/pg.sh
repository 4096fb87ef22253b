#!/usr/bin/env bash
# pg.sh - a private PostgreSQL 15 cluster for development and tests.
#
#   scripts/pg.sh start   DIR     create on first use, start, wait until ready
#   scripts/pg.sh stop    DIR     fast shutdown (idempotent)
#   scripts/pg.sh status  DIR     exit 0 running, 3 stopped, 4 not created
#   scripts/pg.sh url [owner|app] [tcp] DIR
#                                 libpq URL for the app role (default) or the
#                                 owner role; over the private Unix socket,
#                                 or 127.0.0.1 with `tcp`
#   scripts/pg.sh psql [owner|app|super] DIR [psql args...]
#   scripts/pg.sh destroy DIR     stop and delete the cluster
#
# Layout of the cluster root C (normally DIR itself):
#   C/data      PGDATA          C/run   Unix socket directory (mode 0700)
#   C/port      the TCP port    C/server.log
#   C/owner.password, C/app.password   generated passwords, mode 0600
#
# Why it is built this way:
# - The server listens on 127.0.0.1 and on a socket under C only.  The two
#   roles authenticate with SCRAM and random 128-bit passwords kept in C
#   (mode 0600); the bootstrap superuser is reachable by peer auth over the
#   socket only; everything else is rejected by pg_hba.conf.
# - tanomu_owner owns the database and runs migrations; tanomu_app (LOGIN,
#   NOSUPERUSER, NOBYPASSRLS, owns nothing) gets only what migrations grant
#   (S1 least privilege, S19).
# - initdb and postgres refuse to run as root, so as root they run as the
#   `postgres` OS user.  That user must be able to traverse every directory
#   above C; when it cannot (a checkout under /root, say), the cluster lives
#   under /var/tmp/tanomu-pg-HASH instead, DIR/CLUSTER names it, and we say so.
# - Durability settings stay at PostgreSQL's defaults (A3: RPO 1 hour needs
#   fsync).  TANOMU_PG_FAST=1 turns fsync, synchronous_commit and
#   full_page_writes off for throwaway test clusters only.
# - PGPORT picks the port when the cluster is created (default 55432);
#   PGPORT=auto picks a free one (tests).  The port is then kept in C/port.
set -euo pipefail

PGBIN=${TANOMU_PGBIN:-/usr/lib/postgresql/15/bin}
DEFAULT_PORT=55432
DBNAME=tanomu
# Our own settings win over the caller's libpq environment, which would
# otherwise leak into initdb, postgres and psql.
WANT_PORT=${PGPORT:-}
unset PGPORT PGHOST PGHOSTADDR PGDATABASE PGUSER PGPASSWORD PGPASSFILE PGOPTIONS \
      PGSERVICE PGSERVICEFILE PGDATA PGSSLMODE PGTARGETSESSIONATTRS

die() { echo "pg.sh: $*" >&2; exit 1; }
note() { echo "pg.sh: $*" >&2; }

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# --- arguments -----------------------------------------------------------
[ $# -ge 2 ] || usage
cmd=$1; shift
role=app; via=socket; DIR=""; extra=()
case $cmd in
  url)
    for a in "$@"; do
        case $a in
          owner|app) role=$a ;;
          tcp) via=tcp ;;
          *) [ -z "$DIR" ] || usage; DIR=$a ;;
        esac
    done ;;
  psql)
    case ${1:-} in owner|app|super) role=$1; shift ;; *) role=super ;; esac
    [ $# -ge 1 ] || usage
    DIR=$1; shift; extra=("$@") ;;
  start|stop|status|destroy)
    [ $# -eq 1 ] || usage
    DIR=$1 ;;
  *) usage ;;
esac
[ -n "$DIR" ] || usage
# The path ends up in postgresql.conf and in URLs: keep it to characters
# that need no quoting anywhere.
case $DIR in
  *[!A-Za-z0-9_./+-]*) die "DIR may only contain A-Z a-z 0-9 _ . / + - (got '$DIR')" ;;
esac
mkdir -p -- "$(dirname -- "$DIR")"
DIR=$(cd -- "$(dirname -- "$DIR")" && pwd -P)/$(basename -- "$DIR")

if [ "$(id -u)" = 0 ]; then
    SRV_USER=postgres
    getent passwd postgres >/dev/null || die "running as root needs the 'postgres' OS user (apt-get install postgresql-15)"
else
    SRV_USER=$(id -un)
fi

# Run a command as the server's OS user, from a directory it can enter
# (initdb fails when it cannot read its working directory).
as_srv() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u "$SRV_USER" -- "$@")
    else
        (cd / && "$@")
    fi
}

# Can the server user reach PATH (every directory above it traversable)?
srv_can_reach() {
    local p=$1
    while [ ! -e "$p" ]; do p=$(dirname -- "$p"); done
    as_srv test -x "$p"
}

# --- where the cluster lives -----------------------------------------------
resolve_root() {
    if [ -f "$DIR/CLUSTER" ]; then
        C=$(cat -- "$DIR/CLUSTER")
        return
    fi
    C=$DIR
}

# Unix socket paths are limited to 107 bytes.
sock_ok() { [ ${#1} -le 90 ]; }

choose_root_for_create() {
    resolve_root
    [ "$C" = "$DIR" ] || return 0
    if [ -d "$DIR/data" ]; then return 0; fi
    local why=""
    if [ "$(id -u)" = 0 ] && ! srv_can_reach "$(dirname -- "$DIR")"; then
        why="the '$SRV_USER' user cannot traverse the directories above $DIR"
    elif ! sock_ok "$DIR/run/.s.PGSQL.65535"; then
        why="$DIR is too long a path for a Unix socket"
    fi
    if [ -n "$why" ]; then
        local h
        h=$(printf '%s' "$DIR" | sha256sum | cut -c1-12)
        C=/var/tmp/tanomu-pg-$h
        mkdir -p -- "$DIR"
        chmod 0700 -- "$DIR"
        printf '%s\n' "$C" >"$DIR/CLUSTER"
        note "$why; the cluster lives in $C (recorded in $DIR/CLUSTER)"
    fi
}

port_in_use() {
    # A connect that succeeds means someone listens there.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
    local want=${WANT_PORT:-$DEFAULT_PORT} p
    if [ "$want" != auto ]; then
        case $want in *[!0-9]*|'') die "PGPORT must be a number or 'auto'" ;; esac
        echo "$want"; return
    fi
    for _ in $(seq 1 50); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        port_in_use "$p" || { echo "$p"; return; }
    done
    die "no free TCP port found"
}

gen_password() {
    od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

super_name() {
    # initdb makes the OS user that runs it the bootstrap superuser.
    echo "$SRV_USER"
}

# --- create ---------------------------------------------------------------------
create_cluster() {
    local fastopt=()
    [ "${TANOMU_PG_FAST:-0}" = 1 ] && fastopt=(--no-sync)
    note "creating a PostgreSQL 15 cluster in $C"
    local oldmask
    oldmask=$(umask)
    umask 022   # parents must stay traversable for the server user
    mkdir -p -- "$C"
    umask "$oldmask"
    chmod 0700 -- "$C"
    if [ "$(id -u)" = 0 ]; then chown "$SRV_USER": -- "$C"; fi
    as_srv mkdir -p -m 0700 "$C/run"
    pick_port >"$C/port.tmp"
    mv -f -- "$C/port.tmp" "$C/port"
    as_srv "$PGBIN/initdb" -D "$C/data" -U "$(super_name)" -E UTF8 --no-locale \
        --auth-local=peer --auth-host=reject --no-instructions "${fastopt[@]}" \
        >"$C/initdb.log" 2>&1 || { cat "$C/initdb.log" >&2; die "initdb failed"; }
    # Settings appended last win over initdb's defaults.
    as_srv tee -a "$C/data/postgresql.conf" >/dev/null <<EOF

# --- written by scripts/pg.sh ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$C/run'
unix_socket_permissions = 0700
password_encryption = 'scram-sha-256'
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
EOF
    as_srv tee "$C/data/pg_hba.conf" >/dev/null <<EOF
# written by scripts/pg.sh: the superuser by peer over the socket; the two
# tanomu roles by SCRAM over the socket or loopback TCP; nothing else.
local   all   $(super_name)                 peer
local   all   tanomu_owner,tanomu_app       scram-sha-256
host    all   tanomu_owner,tanomu_app  127.0.0.1/32  scram-sha-256
EOF
}

# Roles and database; idempotent, so an interrupted first start is redone.
bootstrap() {
    local port=$1 pw_owner pw_app
    umask 077
    [ -s "$C/owner.password" ] || gen_password >"$C/owner.password"
    [ -s "$C/app.password" ] || gen_password >"$C/app.password"
    pw_owner=$(cat "$C/owner.password")
    pw_app=$(cat "$C/app.password")
    # Passwords travel on stdin, never on a command line (ps would show them).
    as_srv "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$C/run" -p "$port" \
        -U "$(super_name)" -d postgres >/dev/null <<EOF
\\set pw_owner '$pw_owner'
\\set pw_app '$pw_app'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tanomu_owner') AS need \\gset
\\if :need
CREATE ROLE tanomu_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
\\endif
ALTER ROLE tanomu_owner PASSWORD :'pw_owner';
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tanomu_app') AS need \\gset
\\if :need
CREATE ROLE tanomu_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
\\endif
ALTER ROLE tanomu_app PASSWORD :'pw_app';
SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DBNAME') AS need \\gset
\\if :need
CREATE DATABASE $DBNAME OWNER tanomu_owner ENCODING 'UTF8' TEMPLATE template0;
\\endif
REVOKE ALL ON DATABASE $DBNAME FROM PUBLIC;
GRANT CONNECT ON DATABASE $DBNAME TO tanomu_app;
\\c $DBNAME
REVOKE ALL ON SCHEMA public FROM PUBLIC;
EOF
    touch "$C/.bootstrapped"
}

is_running() {
    local pid
    [ -d "$C/data" ] || return 1
    # A postmaster that died stays a zombie until PID 1 reaps it, and
    # pg_ctl calls a zombie running: give the reaper a moment first.
    pid=$(head -n 1 "$C/data/postmaster.pid" 2>/dev/null || true)
    for _ in $(seq 1 50); do
        case $pid in ''|*[!0-9]*) break ;; esac
        [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] || break
        sleep 0.1
    done
    as_srv "$PGBIN/pg_ctl" -D "$C/data" status >/dev/null 2>&1
}

start_server() {
    local port=$1 opts
    opts="-p $port"
    if [ "${TANOMU_PG_FAST:-0}" = 1 ]; then
        opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    as_srv "$PGBIN/pg_ctl" -D "$C/data" -l "$C/server.log" -w -t 60 -o "$opts" start \
        >/dev/null 2>&1
}

wait_ready() {
    local port=$1
    for _ in $(seq 1 100); do
        "$PGBIN/pg_isready" -q -h "$C/run" -p "$port" -d postgres && return 0
        sleep 0.1
    done
    return 1
}

cmd_start() {
    choose_root_for_create
    local created=0 port tries
    if [ ! -d "$C/data" ]; then
        create_cluster
        created=1
    fi
    port=$(cat "$C/port")
    if ! is_running; then
        tries=1
        until start_server "$port"; do
            # A port picked with PGPORT=auto can be taken in the meantime.
            if [ $created = 1 ] && [ "$WANT_PORT" = auto ] && [ $tries -lt 3 ]; then
                tries=$((tries + 1))
                port=$(pick_port)
                echo "$port" >"$C/port"
                continue
            fi
            tail -n 20 "$C/server.log" >&2 || true
            die "server did not start (log: $C/server.log)"
        done
    fi
    wait_ready "$port" || die "server not ready after 10 s (log: $C/server.log)"
    [ -f "$C/.bootstrapped" ] || bootstrap "$port"
    echo "postgres running: port $port, socket $C/run, data $C/data"
}

cmd_stop() {
    resolve_root
    if is_running; then
        as_srv "$PGBIN/pg_ctl" -D "$C/data" -m fast -w -t 60 stop >/dev/null
        echo "postgres stopped ($C)"
    fi
}

cmd_status() {
    resolve_root
    if [ ! -d "$C/data" ]; then echo "not created ($DIR)"; exit 4; fi
    if is_running; then
        echo "running: port $(cat "$C/port"), socket $C/run, data $C/data"
        exit 0
    fi
    echo "stopped ($C)"
    exit 3
}

cmd_url() {
    resolve_root
    [ -f "$C/$role.password" ] || die "no cluster in $DIR (run: $0 start $DIR)"
    local pw port
    pw=$(cat "$C/$role.password")
    port=$(cat "$C/port")
    if [ $via = tcp ]; then
        echo "postgresql://tanomu_$role:$pw@127.0.0.1:$port/$DBNAME"
    else
        echo "postgresql://tanomu_$role:$pw@/$DBNAME?host=$C/run&port=$port"
    fi
}

cmd_psql() {
    resolve_root
    local port
    port=$(cat "$C/port" 2>/dev/null) || die "no cluster in $DIR"
    if [ "$role" = super ]; then
        as_srv "$PGBIN/psql" -X -h "$C/run" -p "$port" -U "$(super_name)" -d "$DBNAME" \
            "${extra[@]+"${extra[@]}"}"
    else
        PGPASSWORD=$(cat "$C/$role.password") "$PGBIN/psql" -X -h "$C/run" -p "$port" \
            -U "tanomu_$role" -d "$DBNAME" "${extra[@]+"${extra[@]}"}"
    fi
}

cmd_destroy() {
    resolve_root
    cmd_stop
    if [ "$C" != "$DIR" ]; then rm -rf -- "$C"; fi
    rm -rf -- "$DIR"
}

case $cmd in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) cmd_url ;;
  psql) cmd_psql ;;
  destroy) cmd_destroy ;;
esac
