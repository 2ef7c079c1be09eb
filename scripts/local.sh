#!/usr/bin/env bash
# Command 1: a local PostgreSQL with execlave, and its HTTP API on port 4000.
#   bash scripts/local.sh start   install packages, build, install, start PostgreSQL, CREATE EXTENSION,
#                                 then start the HTTP front (PostgREST + nginx, scripts/http.sh)
#   bash scripts/local.sh stop    stop nginx, PostgREST and the server
#   bash scripts/local.sh clean   stop them and delete the cluster's folder
#   bash scripts/local.sh status
# Settings: EXECLAVE_HOME (default /var/lib/execlave-dev), EXECLAVE_PORT (default 5499),
# EXECLAVE_HTTP_PORT (default 4000), EXECLAVE_HTTP=off (the database only).
set -euo pipefail
. "$(dirname "$0")/common.sh"

HOME_DIR=${EXECLAVE_HOME:-/var/lib/execlave-dev}
PORT=${EXECLAVE_PORT:-5499}
HTTP_PORT=${EXECLAVE_HTTP_PORT:-4000}
DATA=$HOME_DIR/data
SOCK=$HOME_DIR/sock
HTTP_DIR=$HOME_DIR/http
LOGFILE=$HOME_DIR/log/postgresql.log

psql_local() { "$PGBIN/psql" -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
http() { bash "$REPO/scripts/http.sh" "$@"; }

# Start the HTTP front; on failure say what is missing and go on (the
# database works without it).  Prints the base URL on success.
start_http() {
    local missing
    if [ "${EXECLAVE_HTTP:-on}" = off ]; then
        HTTP_NOTE="HTTP API: not started (EXECLAVE_HTTP=off)."
        return
    fi
    if ! http install >&2; then
        missing=$(http missing || true)
        HTTP_NOTE="HTTP API: not started, missing ${missing:-nginx or PostgREST} (bash scripts/http.sh install, as root, installs nginx from apt and PostgREST 12.0.2 from npm); the database works without it."
        return
    fi
    if http start "$HTTP_DIR" --pghost "$SOCK" --pgport "$PORT" --db postgres --superuser postgres --port "$HTTP_PORT" >&2; then
        HTTP_URL=http://localhost:$HTTP_PORT
    else
        HTTP_NOTE="HTTP API: did not start (logs in $HTTP_DIR/log); the database works without it."
    fi
}

case "${1:-start}" in
start)
    ensure_deps
    build_install
    mkdir -p "$HOME_DIR"
    chmod 755 "$HOME_DIR"
    # a server already running keeps the old library loaded: restart it
    [ -d "$HTTP_DIR" ] && http stop "$HTTP_DIR"
    stop_cluster "$DATA"
    port_in_use "$PORT" &&
        die "port $PORT is taken by another server; choose another with EXECLAVE_PORT=NNNN"
    start_cluster "$DATA" "$SOCK" "$PORT" "$LOGFILE"
    psql_local -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pg_cron" -c "CREATE EXTENSION IF NOT EXISTS execlave" \
               -c "ALTER EXTENSION execlave UPDATE"
    HTTP_URL= HTTP_NOTE=
    start_http
    cat <<MSG

execlave $(psql_local -c "SELECT extversion FROM pg_extension WHERE extname = 'execlave'") is running (pg_cron and execlave preloaded).
Connect with:
    export PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres
    psql postgres
or over TCP:  psql -h localhost -p $PORT -U postgres postgres
Try:  SELECT execlave_register_agent('my-assistant', 'My assistant');
      SELECT execlave_pause_agent('my-assistant', 'why');
MSG
    if [ -n "$HTTP_URL" ]; then
        cat <<MSG

HTTP API: $HTTP_URL   (nginx -> PostgREST 12.0.2; /api/..., /api/v1/..., /rest/..., GET /health)
Create an admin API key (shown once) with this SQL line:
    SELECT api_key FROM execlave_create_api_key('local-admin', 'prod', 'admin');
Then:  curl -X PATCH $HTTP_URL/api/agents/my-assistant/pause -H "X-API-Key: ag_prod_..." \\
            -H "Content-Type: application/json" -d '{"reason": "Detected harmful outputs in production"}'
Dashboard: $HTTP_URL/   (sign in with that key: Agents -> select an agent -> Settings -> Pause Agent)
OpenTelemetry (OTLP/HTTP): OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=$HTTP_URL/v1/traces$(otlp=$(cat "$HTTP_DIR/otlp_port" 2>/dev/null); [ -n "$otlp" ] && echo " (also http://localhost:$otlp/v1/traces)")
    OTEL_EXPORTER_OTLP_HEADERS="x-api-key=ag_prod_..."
MSG
    else
        printf '\n%s\n' "$HTTP_NOTE"
    fi
    echo "Stop with: bash scripts/local.sh stop     Remove with: bash scripts/local.sh clean"
    ;;
stop)
    [ -d "$HTTP_DIR" ] && http stop "$HTTP_DIR"
    stop_cluster "$DATA"
    log "stopped"
    ;;
clean)
    [ -d "$HTTP_DIR" ] && http stop "$HTTP_DIR"
    stop_cluster "$DATA"
    rm -rf "$HOME_DIR"
    log "removed $HOME_DIR"
    ;;
status)
    if [ -f "$DATA/postmaster.pid" ]; then echo "postgresql: running: PGHOST=$SOCK PGPORT=$PORT"; else echo "postgresql: not running"; fi
    if [ -d "$HTTP_DIR" ]; then http status "$HTTP_DIR"; else echo "postgrest: not running"; echo "nginx: not running"; fi
    ;;
*)
    die "usage: $0 start|stop|clean|status"
    ;;
esac
