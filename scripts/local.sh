#!/usr/bin/env bash
# Command 1: a local PostgreSQL with execlave.
#   bash scripts/local.sh start   install packages, build, install, start, CREATE EXTENSION
#   bash scripts/local.sh stop    stop the server
#   bash scripts/local.sh clean   stop and delete the cluster
#   bash scripts/local.sh status
# Settings: EXECLAVE_HOME (default /var/lib/execlave-dev), EXECLAVE_PORT (default 5499).
set -euo pipefail
. "$(dirname "$0")/common.sh"

HOME_DIR=${EXECLAVE_HOME:-/var/lib/execlave-dev}
PORT=${EXECLAVE_PORT:-5499}
DATA=$HOME_DIR/data
SOCK=$HOME_DIR/sock
LOGFILE=$HOME_DIR/log/postgresql.log

psql_local() { "$PGBIN/psql" -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

case "${1:-start}" in
start)
    ensure_deps
    build_install
    mkdir -p "$HOME_DIR"
    chmod 755 "$HOME_DIR"
    # a server already running keeps the old library loaded: restart it
    stop_cluster "$DATA"
    port_in_use "$PORT" &&
        die "port $PORT is taken by another server; choose another with EXECLAVE_PORT=NNNN"
    start_cluster "$DATA" "$SOCK" "$PORT" "$LOGFILE"
    psql_local -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "CREATE EXTENSION IF NOT EXISTS execlave" \
               -c "ALTER EXTENSION execlave UPDATE"
    cat <<MSG

execlave $(psql_local -c "SELECT extversion FROM pg_extension WHERE extname = 'execlave'") is running (pg_cron and execlave preloaded).
Connect with:
    export PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres
    psql postgres
or over TCP:  psql -h localhost -p $PORT -U postgres postgres
Try:  SELECT execlave_register_agent('my-assistant', 'My assistant');
      SELECT execlave_pause_agent('my-assistant', 'why');
Stop with: bash scripts/local.sh stop     Remove with: bash scripts/local.sh clean
MSG
    ;;
stop)
    stop_cluster "$DATA"
    log "stopped"
    ;;
clean)
    stop_cluster "$DATA"
    rm -rf "$HOME_DIR"
    log "removed $HOME_DIR"
    ;;
status)
    if [ -f "$DATA/postmaster.pid" ]; then echo "running: PGHOST=$SOCK PGPORT=$PORT"; else echo "not running"; fi
    ;;
*)
    die "usage: $0 start|stop|clean|status"
    ;;
esac
