# shellcheck shell=bash
# Helpers shared by scripts/local.sh and scripts/test.sh: dependencies,
# build and install, and running commands as the cluster owner.

PG_MAJOR=15
# EXECLAVE_PG_CONFIG names another (relocated) copy of PostgreSQL 15 to build,
# install and test against, so that several checkouts can work side by side.
PG_CONFIG=${EXECLAVE_PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
PGBIN=$(dirname "$PG_CONFIG")
# test/sanitize.sh points the clusters at a directory whose postgres runs
# under valgrind (pg_config stays the real one: it locates the installation)
PGBIN=${EXECLAVE_PGBIN:-$PGBIN}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PG_CONFIG

# Clusters and tests must not depend on the caller's locale (an uninstalled
# LANG makes initdb fail); C.UTF-8 is always present on Debian.
export LANG=C.UTF-8
unset LC_ALL LC_CTYPE LC_COLLATE LC_MESSAGES LC_MONETARY LC_NUMERIC LC_TIME LANGUAGE

# Debian packages execlave needs to build, run and test.
DEPS=(make gcc libc6-dev
      postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-cron
      postgresql-$PG_MAJOR-pgtap libcurl4-openssl-dev libsodium-dev libipc-run-perl perl
      libprotobuf-c-dev protobuf-c-compiler zlib1g-dev)
# ... and the fuzzing harnesses (test/fuzz, run by scripts/test.sh for 30 s each).
FUZZ_DEPS=(clang-14 libclang-rt-14-dev libssl-dev)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install whatever of DEPS (or of the packages named) is missing (apt-get;
# needs root only if something is missing).
ensure_deps() {
    local missing=() p wanted=("$@")
    [ ${#wanted[@]} -eq 0 ] && wanted=("${DEPS[@]}")
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or install them with apt-get"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# The webhook tests' receiver (standardwebhooks) and the HTTP API tests'
# PostgREST protocol driver (pg) run on Node.js (test/receiver); install Node
# from apt when absent, then the packages.
ensure_test_receiver() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        [ "$(id -u)" -eq 0 ] || die "Node.js and npm are missing; run as root or install nodejs and npm with apt-get"
        log "installing nodejs npm"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends nodejs npm >/dev/null
    fi
    if [ ! -d "$REPO/test/receiver/node_modules/standardwebhooks" ] || [ ! -d "$REPO/test/receiver/node_modules/pg" ]; then
        log "installing the test receiver's npm packages"
        # trust the system's CA bundle too (it carries any site-local CA)
        local ca=/etc/ssl/certs/ca-certificates.crt
        [ -f "$ca" ] && export NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS:-$ca}
        (cd "$REPO/test/receiver" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
            die "npm ci failed in test/receiver (the tests need the standardwebhooks and pg packages from the npm registry)"
    fi
    # the OpenTelemetry JS SDK of the OTLP test and benchmark (test/otel)
    if [ ! -d "$REPO/test/otel/node_modules/@opentelemetry/exporter-trace-otlp-proto" ]; then
        log "installing the OpenTelemetry SDK's npm packages (test/otel)"
        local ca=/etc/ssl/certs/ca-certificates.crt
        [ -f "$ca" ] && export NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS:-$ca}
        (cd "$REPO/test/otel" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
            die "npm ci failed in test/otel (the OTLP tests need the @opentelemetry packages from the npm registry)"
    fi
}

# The dashboard's browser tests (test/t/024_dashboard.pl): Debian's chromium,
# driven by puppeteer-core (test/browser, which never downloads a browser of
# its own), with axe-core and pg.
BROWSER_DEPS=(chromium)
ensure_browser_tests() {
    ensure_deps "${BROWSER_DEPS[@]}" || return 1
    if [ ! -d "$REPO/test/browser/node_modules/puppeteer-core" ] || [ ! -d "$REPO/test/browser/node_modules/axe-core" ] ||
       [ ! -d "$REPO/test/browser/node_modules/pg" ]; then
        log "installing the browser tests' npm packages"
        local ca=/etc/ssl/certs/ca-certificates.crt
        [ -f "$ca" ] && export NODE_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS:-$ca}
        (cd "$REPO/test/browser" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
            die "npm ci failed in test/browser (the dashboard tests need puppeteer-core, axe-core and pg from the npm registry)"
    fi
}

# Build with warnings as configured in the Makefile, then install into PostgreSQL.
# Extra arguments go to make (scripts/test.sh passes WERROR=1).
build_install() {
    log "building execlave"
    make -C "$REPO" -s PG_CONFIG="$PG_CONFIG" "$@" >/dev/null || die "build failed"
    if [ -w "$($PG_CONFIG --pkglibdir)" ]; then
        make -C "$REPO" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
    else
        sudo make -C "$REPO" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
    fi
}

# The OS user that owns clusters: postgres when we are root, else ourselves.
pg_user() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

# Run a shell command line as the cluster owner, keeping the environment we pass in.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && su postgres -s /bin/bash -c "$*")
    else
        bash -c "$*"
    fi
}

# Is something listening on TCP port $1 of the loopback interface?
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Write postgresql.conf settings for a local execlave cluster.
# usage: configure_cluster DATADIR SOCKDIR PORT
configure_cluster() {
    cat >> "$1/postgresql.conf" <<CONF

# --- execlave local cluster ---
port = $3
unix_socket_directories = '$2'
listen_addresses = 'localhost'
shared_preload_libraries = 'pg_cron,execlave'
cron.database_name = 'postgres'
cron.use_background_workers = on
execlave.database = 'postgres'
max_worker_processes = 16
CONF
}

# Start a cluster, creating it first if needed.  usage: start_cluster DATADIR SOCKDIR PORT LOGFILE
start_cluster() {
    local data=$1 sock=$2 port=$3 logfile=$4 owner
    owner=$(pg_user)
    mkdir -p "$data" "$sock" "$(dirname "$logfile")"
    chown "$owner" "$data" "$sock" "$(dirname "$logfile")"
    chmod 700 "$data"
    if [ ! -f "$data/PG_VERSION" ]; then
        log "initdb $data"
        as_pg "$PGBIN/initdb -D '$data' -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null"
        configure_cluster "$data" "$sock" "$port"
    fi
    as_pg "$PGBIN/pg_ctl -D '$data' -l '$logfile' -w -t ${EXECLAVE_START_TIMEOUT:-60} start >/dev/null" ||
        { tail -20 "$logfile" >&2; die "server did not start (log: $logfile)"; }
}

# Stop a cluster if it runs.  usage: stop_cluster DATADIR
stop_cluster() {
    [ -f "$1/postmaster.pid" ] || return 0
    as_pg "$PGBIN/pg_ctl -D '$1' -m fast -w stop >/dev/null" || true
}
