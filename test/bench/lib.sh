# Shared shell helpers for the benchmarks in test/bench/ (sourced, not run).
#
#   BENCH_NAME=my_bench.sh
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sets PGHOST/PGPORT/PGUSER (default: the local cluster of scripts/local.sh),
# PSQL (path of psql) and BENCH_OUT_DIR (test/bench/out, git-ignored), and
# defines die, q, bench_check_int, bench_check_server, bench_recreate_db,
# progress, bench_save_report, bench_pgbench_rounds and bench_pgbench_mixed.
# shellcheck shell=bash

export PGHOST=${PGHOST:-/var/lib/execlave-dev/sock}
export PGPORT=${PGPORT:-5499}
export PGUSER=${PGUSER:-postgres}
BENCH_NAME=${BENCH_NAME:-$(basename "$0")}
BENCH_OUT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/out
PGBIN_DEFAULT=/usr/lib/postgresql/15/bin

die() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

# Path of a PostgreSQL client program: $PATH first, then the PostgreSQL 15 bin directory.
bench_pg_program() {
    local p
    p=$(command -v "$1" || true)
    [ -n "$p" ] || p=$PGBIN_DEFAULT/$1
    [ -x "$p" ] || die "$1 not found (neither in PATH nor in $PGBIN_DEFAULT)"
    printf '%s\n' "$p"
}

PSQL=$(bench_pg_program psql)

# psql against database $1, quiet, stop at the first error, no ~/.psqlrc
# SQL helpers shared by the scripts: `\i :helpers` after CREATE SCHEMA bench.
BENCH_HELPERS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/helpers.sql
q() { local db=$1; shift; "$PSQL" -X -q -v ON_ERROR_STOP=1 -v helpers="$BENCH_HELPERS" -d "$db" "$@"; }

# bench_check_int VAR...: each shell variable VAR must hold a positive integer
# (reported as BENCH_VAR, the name of its environment setting).
bench_check_int() {
    local v
    for v in "$@"; do
        [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive integer (got '${!v}')"
    done
}

# The server must be reachable, PGUSER a superuser, and execlave installed.
bench_check_server() {
    if ! q postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
        cat >&2 <<MSG
$BENCH_NAME: cannot connect to PostgreSQL at PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER.
Start the local server with:
    bash scripts/local.sh start
(from the repository root), or set PGHOST/PGPORT/PGUSER to a server with execlave installed.
MSG
        exit 1
    fi
    [ "$(q postgres -Atc 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')" = t ] ||
        die "PGUSER=$PGUSER must be a superuser (CREATE EXTENSION execlave, CHECKPOINT, track_functions)"
    [ "$(q postgres -Atc "SELECT count(*) FROM pg_available_extensions WHERE name = 'execlave'")" = 1 ] ||
        die "extension execlave is not installed on this server (bash scripts/local.sh start builds and installs it)"
}

# Drop (forcing out any session) and recreate database $1.
bench_recreate_db() {
    echo "==> recreating database $1"
    q postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}

# psql prints RAISE NOTICE as "NOTICE:  ..."; show it as progress lines.
progress() { sed -u 's/^NOTICE:  /    /'; }

# bench_save_report FILE TEXT: keep a copy of the last report in test/bench/out/.
bench_save_report() {
    if mkdir -p "$BENCH_OUT_DIR" 2>/dev/null; then
        printf '%s\n' "$2" >"$BENCH_OUT_DIR/$1" 2>/dev/null || true
    fi
}

# bench_pgbench_rounds DB SCRIPT...: warm every script up for 2 s, then run
# PGBENCH_ROUNDS rounds, each script once per round in rotating order for
# PGBENCH_SECS, recording (series 'pgbench', variant = script, round, n, secs,
# tps) in DB's bench.results.  The caller defines pgbench_run SCRIPT ARGS...,
# which prints "TRANSACTIONS TPS".
bench_pgbench_rounds() {
    local db=$1 s r i res n tps line
    shift
    local scripts=("$@")
    for s in "${scripts[@]}"; do pgbench_run "$s" -T 2 >/dev/null; done
    for r in $(seq 1 "$PGBENCH_ROUNDS"); do
        line="    round $r/$PGBENCH_ROUNDS:"
        for i in "${!scripts[@]}"; do
            s=${scripts[$(((r + i) % ${#scripts[@]}))]}
            res=$(pgbench_run "$s" -T "$PGBENCH_SECS")
            read -r n tps <<<"$res"
            q "$db" -c "INSERT INTO bench.results (series, variant, round, n, secs, tps) VALUES ('pgbench', '$s', $r, $n, $PGBENCH_SECS, $tps)"
            line+=$(printf ' %s %.0f' "$s" "$tps")
        done
        echo "$line tps"
    done
}

# bench_pgbench_mixed DB BASE_FILE TEST_FILE SECS PGBENCH_OPTION...: one
# pgbench run of SECS with both scripts at weight 1 (every transaction runs
# one of them, chosen at random), so both meet the same machine at the same
# moments.  Prints "BASE_US TEST_US N_BASE N_TEST": each script's mean time
# per transaction in microseconds (from the per-transaction log: the interval
# between a client's consecutive transaction ends, counted for the script of
# the later one; the slowest 1% of all intervals left out) and how many
# transactions ran it.  BASE_US / TEST_US is the
# tps ratio of TEST to BASE.  Needs PGBENCH set by the caller.
bench_pgbench_mixed() {
    local db=$1 base=$2 test=$3 secs=$4 dir
    shift 4
    dir=$(mktemp -d)
    if ! "$PGBENCH" -n "$@" -T "$secs" -l --log-prefix="$dir/tx" -f "$base@1" -f "$test@1" "$db" >"$dir/out" 2>&1; then
        cat "$dir/out" >&2
        rm -rf "$dir"
        die "pgbench with $base and $test failed"
    fi
    # intervals above the 99th percentile of both scripts together (the
    # client or server descheduled by something else) are left out of both
    awk '{ t = $5 * 1000000 + $6; if ($1 in last) print $4, t - last[$1]; last[$1] = t }' "$dir"/tx.* >"$dir/iv"
    if ! sort -k2,2n "$dir/iv" | awk -v total="$(wc -l <"$dir/iv")" '
              NR <= total * 0.99 { n[$1]++; s[$1] += $2 }
              END { if (n[0] == 0 || n[1] == 0) exit 1; printf "%.3f %.3f %d %d\n", s[0] / n[0], s[1] / n[1], n[0], n[1] }'; then
        rm -rf "$dir"
        die "cannot read pgbench's transaction log for $base and $test"
    fi
    rm -rf "$dir"
}
