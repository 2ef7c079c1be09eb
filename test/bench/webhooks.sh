#!/usr/bin/env bash
# Webhook delivery benchmark for execlave (not part of the test suite).
#
#   bash test/bench/webhooks.sh
#
# The receiver is a private nginx started by this script (installed with
# apt-get when missing and run as root): its own configuration in a temporary
# directory, one worker process, listening on 127.0.0.1 on a free port,
# answering every request with 204 on kept-alive connections, and logging
# $msec and the webhook-id header of each request.  The distribution's nginx
# service, if any, is neither used nor touched.
# A. Throughput: BENCH_EVENTS trace.anomaly events emitted in one transaction
#    for one endpoint; time from just before COMMIT until the last delivery
#    is recorded 'succeeded' (max(delivered_at)): deliveries per second.  The
#    same with four endpoints subscribed to cost.threshold and BENCH_EVENTS / 4
#    events (informational).  And the one-endpoint measurement again with,
#    first in the same transaction, BENCH_STALLS (40: more than the default
#    32 request slots) agent.resumed events for an endpoint that accepts the
#    connection and never answers (a listening socket that never accepts, so
#    each request waits for execlave.webhook_timeout, set to
#    BENCH_STALL_TIMEOUT ms for the run): the stalled endpoint must take only
#    its share of the slots and hold up nothing else; ratio = deliveries/s
#    with it / the plain one-endpoint deliveries/s, target >= 0.95.  The
#    stalled endpoint is enabled for that measurement only, and the next
#    one waits until its requests have all timed out.  Growth: the
#    one-endpoint measurement again with BENCH_GROWTH_ENDPOINTS - 1 (9,999)
#    more active endpoints that receive nothing (subscribed to agent.paused,
#    which the benchmark never emits; enabled for that measurement only):
#    ratio = deliveries/s with them / without (informational).  One warm-up
#    round, then BENCH_ROUNDS rounds, the order of the variants rotating.
# B. Latency at a low rate: BENCH_LATENCY_EVENTS events, one per transaction,
#    about 20 ms apart so that the worker is idle in between; for each, the
#    time from the end of its COMMIT to the request's arrival at nginx
#    ($msec), and to the outcome's recording (delivered_at): p50/p90/p99/max.
# C. Memory of the webhook worker (/proc: RSS, PSS, private dirty) before A,
#    after A and after B.
#
# The worker serves only the database named by execlave.database (postgres
# with scripts/local.sh), so this benchmark works there, not in a database of
# its own.  It creates six endpoints (description 'execlave webhooks.sh
# benchmark') and sets execlave.webhook_allow_private = on with ALTER SYSTEM
# (the receiver is on loopback); at exit it deletes the endpoints with their
# deliveries, truncates execlave.events if the table held nothing but its
# events, restores every setting it changed and stops nginx.  It refuses to
# run if another active endpoint is subscribed to trace.anomaly,
# cost.threshold or agent.resumed (it would receive the benchmark's events).
# The report is also written to test/bench/out/webhooks.last.txt.
# Settings (environment):
#   PGHOST/PGPORT/PGUSER   server (default: the local cluster of scripts/local.sh)
#   BENCH_EVENTS           deliveries per measurement of A (default 20000; a multiple of 4)
#   BENCH_ROUNDS           measured rounds of A (default 3)
#   BENCH_LATENCY_EVENTS   events of B (default 200)
#   BENCH_BATCH_SIZE       if set: execlave.webhook_batch_size for this run (ALTER SYSTEM, restored at exit)
#   BENCH_CONCURRENCY      if set: execlave.webhook_concurrency for this run (ALTER SYSTEM, restored at exit)
#   BENCH_STALLS           deliveries to the stalled endpoint in A (default 40)
#   BENCH_STALL_TIMEOUT    execlave.webhook_timeout for this run, ms (default 2000)
#   BENCH_GROWTH_ENDPOINTS active endpoints in the growth variant of A (default 10000; 1: no growth variant)
# See test/bench/README.md for what the numbers mean.
set -euo pipefail

EVENTS=${BENCH_EVENTS:-20000}
ROUNDS=${BENCH_ROUNDS:-3}
LATENCY_EVENTS=${BENCH_LATENCY_EVENTS:-200}
BATCH_SIZE=${BENCH_BATCH_SIZE:-}
CONCURRENCY=${BENCH_CONCURRENCY:-}
STALLS=${BENCH_STALLS:-40}
STALL_TIMEOUT=${BENCH_STALL_TIMEOUT:-2000}
GROWTH=${BENCH_GROWTH_ENDPOINTS:-10000}
MULTI=4                         # endpoints of the informational variant of A
LATENCY_GAP_MS=20               # B: pause after each COMMIT
POLL_S=0.05                     # how often the waits look at execlave.deliveries
THROUGHPUT_TARGET=2000          # A: deliveries/s, one endpoint
STALL_TARGET=0.95               # A: deliveries/s with a stalled endpoint / without
LATENCY_TARGET_MS=20            # B: p50, end of COMMIT -> request received
DESC='execlave webhooks.sh benchmark'

# PGHOST/PGPORT/PGUSER defaults, die, q, bench_check_*, bench_save_report
BENCH_NAME=webhooks.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

bench_check_int EVENTS ROUNDS LATENCY_EVENTS GROWTH
[ -z "$BATCH_SIZE" ] || bench_check_int BATCH_SIZE
[ -z "$CONCURRENCY" ] || bench_check_int CONCURRENCY
[ $((EVENTS % MULTI)) -eq 0 ] || die "BENCH_EVENTS must be a multiple of $MULTI (got $EVENTS)"
bench_check_server

START_TIME=$SECONDS

# ---------------------------------------------------------------------------
# Preconditions: the worker's database, the extension there, the worker
# ---------------------------------------------------------------------------
DB=$(q postgres -Atc "SELECT coalesce(current_setting('execlave.database', true), '')")
[ -n "$DB" ] || die "execlave.database is not set: execlave must be in shared_preload_libraries (bash scripts/local.sh start does it)"
[ "$(q postgres -Atc "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 1 ] ||
    die "execlave.database = '$DB', but there is no such database"
[ "$(q "$DB" -Atc "SELECT count(*) FROM pg_extension WHERE extname = 'execlave'")" = 1 ] ||
    die "extension execlave is not created in database $DB (execlave.database); CREATE EXTENSION execlave there"
[ "$(q "$DB" -Atc "SELECT to_regclass('execlave.deliveries') IS NOT NULL")" = t ] ||
    die "the execlave extension in database $DB predates webhooks (no execlave.deliveries): recreate it there (DROP EXTENSION execlave CASCADE; CREATE EXTENSION execlave) or start afresh with bash scripts/local.sh clean && bash scripts/local.sh start"
STATUS=$(q "$DB" -Atc "SELECT execlave.webhook_worker_status()")
[[ $STATUS =~ ^running\ \(pid\ [0-9]+\)$ ]] || die "the webhook worker does not run for database $DB: $STATUS"
OTHERS=$(q "$DB" -At -v desc="$DESC" <<'SQL'
SELECT string_agg(format('%s (%s)', url, coalesce(array_to_string(events, ', '), 'every event')), '; ')
FROM execlave.webhooks
WHERE active AND description IS DISTINCT FROM :'desc'
  AND (events IS NULL OR events && ARRAY['trace.anomaly', 'cost.threshold', 'agent.resumed']);
SQL
)
[ -z "$OTHERS" ] || die "other active endpoints in database $DB would receive the benchmark's events: $OTHERS (disable them with execlave_disable_webhook() first)"

# ---------------------------------------------------------------------------
# nginx: installed when missing (as root), started on a free loopback port
# ---------------------------------------------------------------------------
find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }
NGINX=$(find_nginx)
if [ -z "$NGINX" ]; then
    [ "$(id -u)" -eq 0 ] || die "nginx is missing; run as root or install it with apt-get install nginx-light"
    echo "==> installing nginx (apt-get; the benchmark runs a private instance, not the service)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends nginx-light >/dev/null 2>&1 ||
        apt-get install -y -q --no-install-recommends nginx >/dev/null
    NGINX=$(find_nginx)
    [ -n "$NGINX" ] || die "nginx is still missing after apt-get install"
fi
NGINX_VERSION=$("$NGINX" -v 2>&1 | sed -n 's|.*nginx/||p')

# Free TCP port on 127.0.0.1?  (Nothing answers a connection there.)
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_nginx() {
    local port _
    mkdir -p "$NGX/tmp"
    for _ in $(seq 20); do
        port=$((20000 + RANDOM % 40000))
        port_free "$port" || continue
        cat >"$NGX/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events { worker_connections 1024; }
http {
    log_format bench '\$msec \$http_webhook_id';
    access_log $NGX/access.log bench;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    keepalive_requests 100000;
    keepalive_timeout 300s;
    server {
        listen 127.0.0.1:$port;
        location / { return 204; }
    }
}
CONF
        "$NGINX" -p "$NGX/" -c "$NGX/nginx.conf" -e "$NGX/error.log" </dev/null >>"$NGX/stdout.log" 2>&1 &
        NGINX_PID=$!
        for _ in $(seq 50); do
            kill -0 "$NGINX_PID" 2>/dev/null || break
            if ! port_free "$port"; then
                sleep 0.1
                if kill -0 "$NGINX_PID" 2>/dev/null; then
                    PORT=$port
                    return 0
                fi
                break
            fi
            sleep 0.1
        done
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        NGINX_PID=
    done
    die "could not start nginx on a free port of 127.0.0.1 (its log: $(tail -3 "$NGX/error.log" 2>/dev/null))"
}

# ---------------------------------------------------------------------------
# Settings changed with ALTER SYSTEM, restored at exit
# ---------------------------------------------------------------------------
# set_guc NAME VALUE: remember NAME's value in postgresql.auto.conf (or that
# it had none), then ALTER SYSTEM SET it; the caller reloads.
set_guc() {
    local prev
    prev=$(q postgres -At -v name="$1" <<'SQL'
SELECT coalesce((SELECT 'set:' || setting FROM pg_file_settings
                 WHERE name = :'name' AND sourcefile = current_setting('data_directory') || '/postgresql.auto.conf'
                 ORDER BY seqno DESC LIMIT 1), 'unset')
SQL
)
    GUC_NAMES+=("$1")
    GUC_PREV+=("$prev")
    q postgres -v v="$2" <<<"ALTER SYSTEM SET $1 = :'v'"
}

restore_gucs() {
    local i
    for i in "${!GUC_NAMES[@]}"; do
        case ${GUC_PREV[$i]} in
        set:*) q postgres -v v="${GUC_PREV[$i]#set:}" <<<"ALTER SYSTEM SET ${GUC_NAMES[$i]} = :'v'" || true ;;
        *) q postgres -c "ALTER SYSTEM RESET ${GUC_NAMES[$i]}" || true ;;
        esac
    done
    [ ${#GUC_NAMES[@]} -eq 0 ] || q postgres -Atc "SELECT pg_reload_conf()" >/dev/null || true
    GUC_NAMES=() GUC_PREV=()
}

cleanup() {
    set +e
    if [ "$ENDPOINTS_CREATED" = 1 ]; then
        q "$DB" -o /dev/null -v desc="$DESC" <<'SQL'
SELECT execlave_delete_webhook(id) FROM execlave.webhooks WHERE description = :'desc';
-- events are append-only: the table is emptied only if it held nothing but ours
SELECT NOT EXISTS (SELECT 1 FROM execlave.events WHERE data->>'bench' IS DISTINCT FROM 'webhooks.sh') AS only_ours \gset
\if :only_ours
TRUNCATE execlave.events;
\endif
SQL
    fi
    restore_gucs
    if [ -n "$NGINX_PID" ]; then
        kill "$NGINX_PID" 2>/dev/null
        wait "$NGINX_PID" 2>/dev/null
    fi
    if [ -n "$STALL_PID" ]; then
        kill "$STALL_PID" 2>/dev/null
        wait "$STALL_PID" 2>/dev/null
    fi
    rm -rf "$WORK"
}
NGINX_PID=
STALL_PID=
ENDPOINTS_CREATED=0
declare -a GUC_NAMES=() GUC_PREV=()   # settings changed with ALTER SYSTEM, and what to restore
WORK=$(mktemp -d)
NGX=$WORK/nginx
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> starting nginx $NGINX_VERSION ($NGINX) on 127.0.0.1, private configuration"
start_nginx
echo "    listening on 127.0.0.1:$PORT (pid $NGINX_PID)"
# The stalled endpoint: a socket that listens and never accepts, so the
# kernel completes the connection, takes the request, and nothing answers.
perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(Listen => 128, LocalAddr => "127.0.0.1", LocalPort => 0, ReuseAddr => 1)
        or die "listen: $!\n";
    $| = 1; print $s->sockport, "\n"; sleep 86400;' >"$WORK/stall.port" &
STALL_PID=$!
for _ in $(seq 50); do [ -s "$WORK/stall.port" ] && break; sleep 0.1; done
STALL_PORT=$(cat "$WORK/stall.port")
[[ $STALL_PORT =~ ^[0-9]+$ ]] || die "could not start the stalled endpoint's listener"
echo "    the stalled endpoint listens on 127.0.0.1:$STALL_PORT and never answers (pid $STALL_PID)"

echo "==> ALTER SYSTEM SET execlave.webhook_allow_private = on (the receiver is on loopback; restored at exit)"
set_guc execlave.webhook_allow_private on
[ -z "$BATCH_SIZE" ] || set_guc execlave.webhook_batch_size "$BATCH_SIZE"
[ -z "$CONCURRENCY" ] || set_guc execlave.webhook_concurrency "$CONCURRENCY"
set_guc execlave.webhook_timeout "$STALL_TIMEOUT"
q postgres -Atc "SELECT pg_reload_conf()" >/dev/null
sleep 0.3

# ---------------------------------------------------------------------------
# Endpoints; a first delivery checks the whole path
# ---------------------------------------------------------------------------
LEFT=$(q "$DB" -At -v desc="$DESC" <<'SQL'
SELECT count(*) FROM (SELECT execlave_delete_webhook(id) FROM execlave.webhooks WHERE description = :'desc') x;
SQL
)
[ "$LEFT" = 0 ] || echo "    deleted $LEFT endpoint(s) left by an interrupted run"
ENDPOINTS_CREATED=1
read -r SINGLE MULTI_HOOKS STALL < <(q "$DB" -At -F ' ' -v desc="$DESC" -v base="http://127.0.0.1:$PORT" -v multi="$MULTI" \
    -v stall="http://127.0.0.1:$STALL_PORT/stall" <<'SQL'
SET client_min_messages = error;
SELECT (SELECT w.id FROM execlave_create_webhook(:'base' || '/single', ARRAY['trace.anomaly'], NULL, :'desc') w),
       (SELECT '{' || string_agg(w.id::text, ',' ORDER BY i) || '}'
        FROM generate_series(1, :multi) i,
             LATERAL execlave_create_webhook(:'base' || '/multi-' || i, ARRAY['cost.threshold'], NULL, :'desc') w),
       (SELECT w.id FROM execlave_create_webhook(:'stall', ARRAY['agent.resumed'], NULL, :'desc') w);
SQL
)
if [ -z "$SINGLE" ] || [ -z "$MULTI_HOOKS" ] || [ -z "$STALL" ]; then die "could not create the endpoints"; fi
q "$DB" -o /dev/null -v stall="$STALL" <<<"SELECT execlave_disable_webhook(:'stall', 'enabled only while A measures with it')"
if [ "$GROWTH" -gt 1 ]; then
    echo "==> creating $((GROWTH - 1)) idle endpoints for the growth variant of A (disabled until it measures)"
    q "$DB" -o /dev/null -v desc="$DESC" -v base="http://127.0.0.1:$PORT" -v n=$((GROWTH - 1)) <<'SQL'
SET client_min_messages = error;
SELECT count(*) FROM generate_series(1, :n) i,
     LATERAL execlave_create_webhook(:'base' || '/idle-' || i, ARRAY['agent.paused'], NULL, :'desc') w;
UPDATE execlave.webhooks SET active = false, disabled_reason = 'enabled only while A measures with them'
WHERE description = :'desc' AND url LIKE '%/idle-%';
SQL
fi

# Temporary procedures of every measuring session.
PROCS=$(cat <<'SQL'
SET client_min_messages = warning;
-- Wait until no delivery of these endpoints after after_id is in one of
-- statuses (by default: due any more), or timeout_s passes; commits while
-- waiting, so no snapshot is held that would keep the worker's dead rows.
CREATE PROCEDURE pg_temp.wait_done(hooks uuid[], after_id bigint, timeout_s float8, poll_s float8,
                                   statuses text[] DEFAULT '{pending,delivering,retrying}')
LANGUAGE plpgsql AS $p$
DECLARE
    deadline constant timestamptz := clock_timestamp() + timeout_s * interval '1 second';
BEGIN
    LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM execlave.deliveries
                              WHERE status = ANY (statuses)
                                AND webhook_id = ANY (hooks) AND id > after_id);
        EXIT WHEN clock_timestamp() > deadline;
        COMMIT;
        PERFORM pg_sleep(poll_s);
    END LOOP;
    COMMIT;
END
$p$;
-- Statuses and last error of these deliveries, for error messages.
CREATE FUNCTION pg_temp.state(hooks uuid[], after_id bigint) RETURNS text LANGUAGE sql AS $f$
    SELECT coalesce(string_agg(format('%s %s', n, status), ', '), 'none') || coalesce('; last error: ' ||
           (SELECT last_error FROM execlave.deliveries WHERE webhook_id = ANY (hooks) AND id > after_id
              AND last_error IS NOT NULL ORDER BY last_attempt_at DESC LIMIT 1), '')
    FROM (SELECT status, count(*) AS n FROM execlave.deliveries
          WHERE webhook_id = ANY (hooks) AND id > after_id GROUP BY status) s
$f$;
SET client_min_messages = notice;
SQL
)

echo "==> checking the path: one event to $PORT/single"
PROBE=$(q "$DB" -At -v hook="$SINGLE" -v poll="$POLL_S" <<SQL
$PROCS
SELECT coalesce(max(id), 0) AS d0 FROM execlave.deliveries \gset
SELECT execlave.emit_event('trace.anomaly', NULL, '{"bench": "webhooks.sh", "phase": "probe"}') \gset
CALL pg_temp.wait_done(ARRAY[:'hook']::uuid[], :d0, 20, :poll);
SELECT pg_temp.state(ARRAY[:'hook']::uuid[], :d0);
SQL
)
[ "$PROBE" = "1 succeeded" ] || die "the first delivery to nginx failed: $PROBE"

# Worker process: pid, memory (kB) and CPU time (s) from /proc
worker_pid() { q "$DB" -Atc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'execlave webhook worker'"; }
WPID=$(worker_pid)
[[ $WPID =~ ^[0-9]+$ ]] || die "cannot find the webhook worker in pg_stat_activity"
CLK_TCK=$(getconf CLK_TCK)
worker_cpu() { awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); print ($12 + $13) / t }' "/proc/$WPID/stat" 2>/dev/null || echo 0; }
# prints "RSS PSS PRIVATE_DIRTY" in kB ("n/a" where /proc does not tell)
worker_mem() {
    local rss roll
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$WPID/status" 2>/dev/null || true)
    roll=$(awk '/^Pss:/ { p = $2 } /^Private_Dirty:/ { d = $2 } END { if (p != "") print p, d }' \
        "/proc/$WPID/smaps_rollup" 2>/dev/null || true)
    printf '%s %s\n' "${rss:-n/a}" "${roll:-n/a n/a}"
}
MEM_BEFORE=$(worker_mem)

# Settings the worker runs with (the configuration files, as a new session reads them)
declare -A S=()
while IFS=$'\t' read -r k v; do S[$k]=$v; done < <(q "$DB" -At -F $'\t' <<'SQL'
SELECT name, setting FROM pg_settings
WHERE name IN ('execlave.webhook_batch_size', 'execlave.webhook_concurrency', 'execlave.webhook_timeout',
               'execlave.webhook_endpoint_concurrency',
               'execlave.webhook_poll_interval', 'execlave.webhook_allow_private', 'synchronous_commit')
UNION ALL SELECT 'version', format('PostgreSQL %s, execlave %s', current_setting('server_version'),
                                   (SELECT extversion FROM pg_extension WHERE extname = 'execlave'))
UNION ALL SELECT 'now', to_char(now(), 'YYYY-MM-DD HH24:MI');
SQL
)
src_of() { case $1 in "") echo 'server setting' ;; *) echo 'set for this run' ;; esac; }
CURL_VERSION=$(curl-config --version 2>/dev/null || echo 'libcurl (version unknown)')

# ---------------------------------------------------------------------------
# A. Throughput
# ---------------------------------------------------------------------------
# measure_a VARIANT ROUND: one measurement; appends "variant round n secs
# first_s commit_s emit_s retries received cpu_s" to $WORK/a.txt and sets
# LAST_SECS
measure_a() {
    local variant=$1 round=$2 etype hooks nevents out cpu0 cpu1 received stalls=0
    case $variant in
    single) etype=trace.anomaly; hooks="{$SINGLE}"; nevents=$EVENTS ;;
    stalled) etype=trace.anomaly; hooks="{$SINGLE}"; nevents=$EVENTS; stalls=$STALLS
        q "$DB" -o /dev/null -v stall="$STALL" <<<"SELECT execlave_enable_webhook(:'stall')" ;;
    multi) etype=cost.threshold; hooks=$MULTI_HOOKS; nevents=$((EVENTS / MULTI)) ;;
    growth) etype=trace.anomaly; hooks="{$SINGLE}"; nevents=$EVENTS
        q "$DB" -o /dev/null -v desc="$DESC" <<<"UPDATE execlave.webhooks SET active = true WHERE description = :'desc' AND url LIKE '%/idle-%'" ;;
    esac
    : >"$NGX/access.log"        # nginx appends (O_APPEND): emptying it is safe
    q "$DB" -c "CHECKPOINT"
    cpu0=$(worker_cpu)
    out=$(q "$DB" -At -F ' ' -v etype="$etype" -v hooks="$hooks" -v nevents="$nevents" -v round="$round" \
        -v variant="$variant" -v timeout=$((60 + EVENTS / 100)) -v poll="$POLL_S" -v stalls="$stalls" <<SQL
$PROCS
SELECT coalesce(max(id), 0) AS d0 FROM execlave.deliveries \gset
BEGIN;
SELECT clock_timestamp() AS te \gset
SELECT count(execlave.emit_event('agent.resumed', NULL, '{"bench": "webhooks.sh", "phase": "stall"}'))
FROM generate_series(1, :stalls) \gset
SELECT count(execlave.emit_event(:'etype', NULL, jsonb_build_object(
           'bench', 'webhooks.sh', 'phase', 'throughput', 'variant', :'variant', 'round', :round, 'seq', g,
           'agent', 'support-assistant-' || g % 10, 'trace_id', 'tr_' || md5(:round || '.' || g),
           'metric', CASE :'etype' WHEN 'trace.anomaly' THEN 'latency_ms' ELSE 'cost_usd' END,
           'value', 1000 + g % 500, 'threshold', 900,
           'message', 'value above the threshold configured for this agent'))) AS nev
FROM generate_series(1, :nevents) g \gset
SELECT count(*) AS nd FROM execlave.deliveries WHERE id > :d0 AND webhook_id = ANY (:'hooks'::uuid[]) \gset
SELECT clock_timestamp() AS t0 \gset
COMMIT;
SELECT clock_timestamp() AS t1 \gset
CALL pg_temp.wait_done(:'hooks'::uuid[], :d0, :timeout, :poll);
SELECT :nd, extract(epoch FROM max(delivered_at) - :'t0'::timestamptz),
       extract(epoch FROM min(delivered_at) - :'t0'::timestamptz),
       extract(epoch FROM :'t1'::timestamptz - :'t0'::timestamptz),
       extract(epoch FROM :'t0'::timestamptz - :'te'::timestamptz),
       sum(attempts) - count(*), count(*) FILTER (WHERE status = 'succeeded'),
       replace(pg_temp.state(:'hooks'::uuid[], :d0), ' ', '_')
FROM execlave.deliveries WHERE id > :d0 AND webhook_id = ANY (:'hooks'::uuid[]);
SQL
)
    cpu1=$(worker_cpu)
    local nd secs first commit emit retries ok state
    read -r nd secs first commit emit retries ok state <<<"$out"
    [ "$nd" = "$EVENTS" ] || die "A $variant: $nd deliveries were created for $nevents events, expected $EVENTS"
    [ "$ok" = "$nd" ] || die "A $variant: only $ok of $nd deliveries succeeded (${state//_/ })"
    received=$(wc -l <"$NGX/access.log")
    echo "$variant $round $nd $secs $first $commit $emit $retries $received $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { print b - a }')" >>"$WORK/a.txt"
    # the deliveries are removed between rounds so that each starts alike
    if [ "$stalls" -gt 0 ]; then
        # off (no retry is claimed), then until every stalled request timed out and was recorded
        q "$DB" -o /dev/null -v stall="$STALL" -v poll="$POLL_S" -v timeout=$((STALLS * STALL_TIMEOUT / 1000 + 30)) <<SQL
$PROCS
SELECT execlave_disable_webhook(:'stall', 'enabled only while A measures with it');
CALL pg_temp.wait_done(ARRAY[:'stall']::uuid[], 0, :timeout, :poll, '{delivering}');
SQL
    fi
    [ "$variant" != growth ] || q "$DB" -o /dev/null -v desc="$DESC" \
        <<<"UPDATE execlave.webhooks SET active = false WHERE description = :'desc' AND url LIKE '%/idle-%'"
    q "$DB" -v hooks="$hooks" -v stall="$STALL" <<<"DELETE FROM execlave.deliveries WHERE webhook_id = ANY (:'hooks'::uuid[]) OR webhook_id = :'stall'"
    q "$DB" -c "VACUUM execlave.deliveries"
    LAST_SECS=$secs
}

VARIANTS=(single multi stalled)
[ "$GROWTH" -le 1 ] || VARIANTS+=(growth)
echo "==> A: $EVENTS deliveries per measurement (1 endpoint x $EVENTS events; $MULTI endpoints x $((EVENTS / MULTI)) events; 1 endpoint x $EVENTS events + $STALLS stalled deliveries$([ "$GROWTH" -le 1 ] || echo "; 1 endpoint x $EVENTS events among $GROWTH active endpoints")), $ROUNDS rounds x ${#VARIANTS[@]} (+ warm-up round)"
: >"$WORK/a.txt"
: >"$WORK/pd.txt"
for r in $(seq 0 "$ROUNDS"); do
    line="    $([ "$r" = 0 ] && echo 'warm-up' || echo "round $r/$ROUNDS"):"
    for i in "${!VARIANTS[@]}"; do
        v=${VARIANTS[$(((r + i) % ${#VARIANTS[@]}))]}
        measure_a "$v" "$r"
        line+=$(awk -v v="$v" -v s="$LAST_SECS" -v n="$EVENTS" 'BEGIN { printf " %s %.0f/s (%.2f s)", v, n / s, s }')
    done
    mem=$(worker_mem)
    if [ "$r" = 0 ]; then MEM_WARM=$mem; else echo "${mem##* }" >>"$WORK/pd.txt"; fi
    echo "$line; worker private dirty ${mem##* } kB"
done
MEM_AFTER_A=$(worker_mem)
WPID_AFTER_A=$(worker_pid)

# ---------------------------------------------------------------------------
# B. Latency at a low rate
# ---------------------------------------------------------------------------
echo "==> B: $LATENCY_EVENTS events, one per transaction, ${LATENCY_GAP_MS} ms apart, to 1 endpoint"
: >"$NGX/access.log"
# psql's standard input is nginx's log, read by \copy ... FROM pstdin once
# every delivery has been recorded (all its lines are written by then).
cat >"$WORK/latency.sql" <<SQL
$PROCS
SET client_min_messages = warning;
CREATE TEMP TABLE commits (delivery_id bigint PRIMARY KEY, t_before timestamptz, t_commit timestamptz);
CREATE TEMP TABLE received (msec numeric, webhook_id text);
CREATE PROCEDURE pg_temp.latency_run(n int, gap_ms int, hook uuid)
LANGUAGE plpgsql AS \$p\$
DECLARE
    ev bigint;
    did bigint;
    ids bigint[] := '{}';
    tb timestamptz[] := '{}';
    tc timestamptz[] := '{}';
BEGIN
    COMMIT;
    FOR i IN 1 .. n LOOP
        ev := execlave.emit_event('trace.anomaly', NULL, jsonb_build_object(
                  'bench', 'webhooks.sh', 'phase', 'latency', 'seq', i,
                  'agent', 'support-assistant-' || i % 10, 'trace_id', 'tr_' || md5('latency.' || i),
                  'metric', 'latency_ms', 'value', 1000 + i, 'threshold', 900,
                  'message', 'value above the threshold configured for this agent'));
        SELECT d.id INTO did FROM execlave.deliveries d WHERE d.event_id = ev AND d.webhook_id = hook;
        tb := tb || clock_timestamp();
        COMMIT;
        tc := tc || clock_timestamp();
        ids := ids || did;
        PERFORM pg_sleep(gap_ms / 1000.0);
    END LOOP;
    INSERT INTO commits SELECT * FROM unnest(ids, tb, tc);
    COMMIT;
END
\$p\$;
SET client_min_messages = notice;
SELECT coalesce(max(id), 0) AS d0 FROM execlave.deliveries \gset
CALL pg_temp.latency_run(:n, :gap, :'hook');
CALL pg_temp.wait_done(ARRAY[:'hook']::uuid[], :d0, 60, :poll);
SELECT pg_sleep(0.2) \gset
\copy received FROM pstdin WITH (FORMAT text, DELIMITER ' ')
WITH r AS (SELECT webhook_id, min(msec) AS msec, count(*) AS n FROM received GROUP BY webhook_id),
x AS (
    SELECT (to_timestamp(r.msec::float8) - c.t_commit) AS recv, d.delivered_at - c.t_commit AS rec,
           d.last_latency_ms, c.t_commit - c.t_before AS commit, d.status, d.attempts, r.n
    FROM commits c JOIN execlave.deliveries d ON d.id = c.delivery_id
    LEFT JOIN r ON r.webhook_id = 'msg_' || c.delivery_id
), ms AS (
    SELECT 'recv' AS k, extract(epoch FROM recv) * 1000 AS v FROM x WHERE recv IS NOT NULL
    UNION ALL SELECT 'rec', extract(epoch FROM rec) * 1000 FROM x WHERE rec IS NOT NULL
    UNION ALL SELECT 'http', last_latency_ms FROM x
    UNION ALL SELECT 'commit', extract(epoch FROM commit) * 1000 FROM x
)
SELECT k, p[1], p[2], p[3], mx, cnt FROM (
    SELECT k, percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY v) AS p, max(v) AS mx, count(*) AS cnt
    FROM ms GROUP BY k) s
UNION ALL
SELECT 'check', count(*), count(*) FILTER (WHERE status = 'succeeded' AND attempts = 1),
       count(*) FILTER (WHERE n IS NOT NULL), count(*) FILTER (WHERE n > 1), NULL FROM x;
SQL
declare -A L=()
while read -r k p50 p90 p99 mx cnt; do
    L[$k]="$p50 $p90 $p99 $mx $cnt"
done < <(q "$DB" -At -F ' ' -v n="$LATENCY_EVENTS" -v gap="$LATENCY_GAP_MS" -v hook="$SINGLE" -v poll="$POLL_S" \
    -f "$WORK/latency.sql" <"$NGX/access.log")
read -r B_N B_OK B_MATCHED B_DUP _ <<<"${L[check]:-0 0 0 0 0}"
[ "$B_N" = "$LATENCY_EVENTS" ] || die "B: $B_N deliveries measured, expected $LATENCY_EVENTS"
[ "$B_OK" = "$B_N" ] || die "B: only $B_OK of $B_N deliveries succeeded at the first attempt"
[ "$B_MATCHED" = "$B_N" ] || die "B: only $B_MATCHED of $B_N deliveries were found in nginx's log"
MEM_AFTER_B=$(worker_mem)
WPID_AFTER_B=$(worker_pid)

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
# median, min and max of the numbers on stdin
stats() { sort -g | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; print m, a[1], a[NR] }'; }
# column C of the measured rounds (round > 0) of variant V of A
col() { awk -v v="$1" -v c="$2" '$1 == v && $2 > 0 { print $c }' "$WORK/a.txt"; }
verdict() { awk -v a="$1" -v b="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? a >= b : a <= b; print ok ? "PASS" : "BELOW TARGET" }'; }

declare -A A=()
for v in "${VARIANTS[@]}"; do
    read -r "A[$v.med]" "A[$v.lo]" "A[$v.hi]" < <(col "$v" 4 | stats)
    A[$v.rate]=$(awk -v n="$EVENTS" -v s="${A[$v.med]}" 'BEGIN { print n / s }')
    A[$v.spread]=$(awk -v m="${A[$v.med]}" -v lo="${A[$v.lo]}" -v hi="${A[$v.hi]}" 'BEGIN { printf "%.0f%%", (hi - lo) / m * 100 }')
    A[$v.rlo]=$(awk -v n="$EVENTS" -v s="${A[$v.hi]}" 'BEGIN { printf "%.0f", n / s }')
    A[$v.rhi]=$(awk -v n="$EVENTS" -v s="${A[$v.lo]}" 'BEGIN { printf "%.0f", n / s }')
    read -r "A[$v.first]" _ _ < <(col "$v" 5 | stats)
    read -r "A[$v.commit]" _ _ < <(col "$v" 6 | stats)
    read -r "A[$v.emit]" _ _ < <(col "$v" 7 | stats)
    A[$v.retries]=$(col "$v" 8 | awk '{ s += $1 } END { print s + 0 }')
    A[$v.received]=$(col "$v" 9 | sort -u | tr '\n' ' ' | sed 's/ $//')
    # worker CPU seconds per second of the measurement, and per delivery
    A[$v.cpu]=$(awk -v v="$v" '$1 == v && $2 > 0 { c += $10; s += $4 } END { printf "%.0f%%", c / s * 100 }' "$WORK/a.txt")
    A[$v.cpu_us]=$(awk -v v="$v" '$1 == v && $2 > 0 { c += $10; n += $3 } END { printf "%.0f", c / n * 1e6 }' "$WORK/a.txt")
done
V_A=$(verdict "${A[single.rate]}" "$THROUGHPUT_TARGET" '>=')
STALL_RATIO=$(awk -v a="${A[stalled.rate]}" -v b="${A[single.rate]}" 'BEGIN { printf "%.2f", a / b }')
V_STALL=$(verdict "$STALL_RATIO" "$STALL_TARGET" '>=')
GROWTH_RATIO=n/a
[ "$GROWTH" -le 1 ] || GROWTH_RATIO=$(awk -v a="${A[growth.rate]}" -v b="${A[single.rate]}" 'BEGIN { printf "%.2f", a / b }')
MEASURED_A=$(awk '{ n += $3 } END { print n }' "$WORK/a.txt")   # warm-up included
read -r RECV_P50 _ <<<"${L[recv]}"
V_B=$(verdict "$RECV_P50" "$LATENCY_TARGET_MS" '<=')

rowA() { printf '   %-44s %10s %8.3f %12.0f %6s %11s %6s  %s\n' "$@"; }
rowB() { read -r p50 p90 p99 mx _ <<<"$2"; printf '   %-52s %7.1f %7.1f %7.1f %7.1f  %s\n' "$1" "$p50" "$p90" "$p99" "$mx" "$3"; }
rowC() { printf '   %-40s %8s %8s %14s\n' "$@"; }
memdiff() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%+d", b - a }'
}
read -r RSS0 PSS0 PD0 <<<"$MEM_BEFORE"
read -r RSSW PSSW PDW <<<"$MEM_WARM"
read -r RSS1 PSS1 PD1 <<<"$MEM_AFTER_A"
read -r RSS2 PSS2 PD2 <<<"$MEM_AFTER_B"
# steady state: from the end of the warm-up round to the end of B
PD_PER=$(awk -v a="$PDW" -v b="$PD2" -v n="$((MEASURED_A - ${#VARIANTS[@]} * EVENTS + LATENCY_EVENTS))" \
    'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.2f", (b - a) * 1024 / n }')
if [ "$WPID_AFTER_A" = "$WPID" ] && [ "$WPID_AFTER_B" = "$WPID" ]; then
    SAME_PID="the same worker process throughout"
else
    SAME_PID="WORKER RESTARTED (pid $WPID, then $WPID_AFTER_A, then $WPID_AFTER_B): the comparison is meaningless"
fi

REPORT=$({
printf 'execlave webhook delivery benchmark: %s, %s, nginx %s, %s\n' "${S[version]}" "$CURL_VERSION" "$NGINX_VERSION" "${S[now]}"
printf 'worker (database %s): webhook_batch_size = %s (%s), webhook_concurrency = %s (%s), webhook_endpoint_concurrency = %s,\n' \
    "$DB" "${S[execlave.webhook_batch_size]}" "$(src_of "$BATCH_SIZE")" "${S[execlave.webhook_concurrency]}" "$(src_of "$CONCURRENCY")" \
    "${S[execlave.webhook_endpoint_concurrency]:-n/a}"
printf '   webhook_timeout = %s ms (for this run), webhook_poll_interval = %s ms, webhook_allow_private = %s (for this run);\n' \
    "${S[execlave.webhook_timeout]}" "${S[execlave.webhook_poll_interval]}" "${S[execlave.webhook_allow_private]}"
printf '   synchronous_commit = %s; %s CPUs\n' "${S[synchronous_commit]}" "$(nproc)"
printf 'receiver: nginx on 127.0.0.1:%s, 1 worker process, return 204, keep-alive (keepalive_requests 100000),\n' "$PORT"
printf '   sharing the CPUs with the server and the webhook worker; absolute numbers depend on the machine\n'
echo
printf 'A. Throughput: events committed in one transaction; from just before COMMIT to the last delivery recorded\n'
printf "   'succeeded' (max(delivered_at)); medians of %s rounds after a warm-up round; \"spread\" = (max - min) / median\n" "$ROUNDS"
printf '   %-44s %10s %8s %12s %6s %11s %6s  %s\n' 'variant' 'deliveries' 'median s' 'deliveries/s' 'spread' 'per-round' 'w. CPU' 'target'
rowA "1 endpoint x $EVENTS events (trace.anomaly)" "$EVENTS" "${A[single.med]}" "${A[single.rate]}" "${A[single.spread]}" \
    "${A[single.rlo]}..${A[single.rhi]}" "${A[single.cpu]}" "$(printf '>= %s  %s' "$THROUGHPUT_TARGET" "$V_A")"
rowA "$MULTI endpoints x $((EVENTS / MULTI)) events (cost.threshold)" "$EVENTS" "${A[multi.med]}" "${A[multi.rate]}" "${A[multi.spread]}" \
    "${A[multi.rlo]}..${A[multi.rhi]}" "${A[multi.cpu]}" 'informational'
rowA "1 endpoint x $EVENTS events + $STALLS stalled" "$EVENTS" "${A[stalled.med]}" "${A[stalled.rate]}" "${A[stalled.spread]}" \
    "${A[stalled.rlo]}..${A[stalled.rhi]}" "${A[stalled.cpu]}" "$(printf 'ratio %s >= %s  %s' "$STALL_RATIO" "$STALL_TARGET" "$V_STALL")"
[ "$GROWTH" -le 1 ] || rowA "1 endpoint x $EVENTS events, $GROWTH endpoints" "$EVENTS" "${A[growth.med]}" "${A[growth.rate]}" "${A[growth.spread]}" \
    "${A[growth.rlo]}..${A[growth.rhi]}" "${A[growth.cpu]}" "$(printf 'ratio %s, informational' "$GROWTH_RATIO")"
printf '   stalled: %s deliveries first in the same transaction to an endpoint that never answers (each waits for\n' "$STALLS"
printf '   webhook_timeout = %s ms); ratio = deliveries/s with them / deliveries/s without (the first row)\n' "$STALL_TIMEOUT"
printf '   per-round = lowest..highest deliveries/s of a round; w. CPU = CPU time of the webhook worker / elapsed time\n'
printf '   (%s us per delivery with 1 endpoint, %s us with %s, %s us with the stalled one%s)\n' \
    "${A[single.cpu_us]}" "${A[multi.cpu_us]}" "$MULTI" "${A[stalled.cpu_us]}" "$([ "$GROWTH" -le 1 ] || echo ", ${A[growth.cpu_us]} us among $GROWTH endpoints")"
[ "$GROWTH" -le 1 ] || printf '   %s endpoints: the first one and %s idle ones (subscribed to agent.paused, which nothing emits)\n' "$GROWTH" "$((GROWTH - 1))"
printf '   first delivery recorded %.0f ms (1 endpoint) and %.0f ms (%s endpoints) after COMMIT began (medians);\n' \
    "$(awk -v x="${A[single.first]}" 'BEGIN { print x * 1000 }')" "$(awk -v x="${A[multi.first]}" 'BEGIN { print x * 1000 }')" "$MULTI"
printf '   COMMIT itself %.0f / %.0f ms; emitting the events before it (not timed) %.2f / %.2f s\n' \
    "$(awk -v x="${A[single.commit]}" 'BEGIN { print x * 1000 }')" "$(awk -v x="${A[multi.commit]}" 'BEGIN { print x * 1000 }')" \
    "${A[single.emit]}" "${A[multi.emit]}"
printf '   every measurement: %s deliveries succeeded; retries: %s / %s; requests received by nginx per measurement: %s / %s\n' \
    "$EVENTS" "${A[single.retries]}" "${A[multi.retries]}" "${A[single.received]}" "${A[multi.received]}"
printf '   for comparison (not measured here): pg_net'"'"'s maintainers report load tests at 200-400 requests/s\n'
echo
printf 'B. Latency at a low rate: %s events, one per transaction, %s ms apart (the worker idle in between), 1 endpoint\n' \
    "$LATENCY_EVENTS" "$LATENCY_GAP_MS"
printf '   %-52s %7s %7s %7s %7s  %s\n' 'ms' 'p50' 'p90' 'p99' 'max' 'target'
rowB "end of COMMIT -> request received by nginx (\$msec)" "${L[recv]}" "$(printf 'p50 <= %s  %s' "$LATENCY_TARGET_MS" "$V_B")"
rowB "end of COMMIT -> outcome recorded (delivered_at)" "${L[rec]}" 'informational'
rowB 'HTTP request alone (libcurl total time)' "${L[http]}" 'informational'
rowB 'the COMMIT itself' "${L[commit]}" 'informational'
printf "   all %s succeeded at the first attempt; %s of %s found in nginx's log (%s more than once); \$msec has 1 ms resolution\n" \
    "$B_N" "$B_MATCHED" "$B_N" "$B_DUP"
echo
printf 'C. Webhook worker memory (pid %s, /proc; kB): %s\n' "$WPID" "$SAME_PID"
rowC 'when' 'RSS' 'PSS' 'private dirty'
rowC 'before A' "$RSS0" "$PSS0" "$PD0"
rowC "after the warm-up round ($((${#VARIANTS[@]} * EVENTS)) deliveries)" "$RSSW" "$PSSW" "$PDW"
rowC "after A ($((MEASURED_A - ${#VARIANTS[@]} * EVENTS)) more)" "$RSS1" "$PSS1" "$PD1"
rowC "after B ($LATENCY_EVENTS more)" "$RSS2" "$PSS2" "$PD2"
rowC 'change, before A -> after B' "$(memdiff "$RSS0" "$RSS2")" "$(memdiff "$PSS0" "$PSS2")" "$(memdiff "$PD0" "$PD2")"
rowC 'change, after the warm-up -> after B' "$(memdiff "$RSSW" "$RSS2")" "$(memdiff "$PSSW" "$PSS2")" "$(memdiff "$PDW" "$PD2")"
printf '   private dirty at the end of each measured round of A: %s kB (informational: the first batches set the\n' \
    "$(sort -n "$WORK/pd.txt" | sed -n '1p;$p' | paste -sd ' ' | awk '{ printf "%s..%s", $1, ($2 == "" ? $1 : $2) }')"
printf '   worker'"'"'s high-water mark: batch memory, libcurl, caches); change per delivery after the warm-up: %s bytes;\n' "$PD_PER"
printf '   RSS and PSS also count the shared buffers the worker touched\n'
echo
printf 'summary: throughput %.0f deliveries/s (>= %s) %s, worker CPU %s us per delivery, %s endpoints %.0f/s, with a stalled endpoint %s of that (>= %s) %s%s | latency p50 %.1f ms (<= %s) %s, p99 %.1f ms | worker private dirty %s kB after the warm-up | %s s in all\n' \
    "${A[single.rate]}" "$THROUGHPUT_TARGET" "$V_A" "${A[single.cpu_us]}" "$MULTI" "${A[multi.rate]}" "$STALL_RATIO" "$STALL_TARGET" "$V_STALL" "$([ "$GROWTH" -le 1 ] || echo ", among $GROWTH endpoints $GROWTH_RATIO of that")" "$RECV_P50" "$LATENCY_TARGET_MS" "$V_B" \
    "$(awk '{ print $3 }' <<<"${L[recv]}")" "$(memdiff "$PDW" "$PD2")" "$((SECONDS - START_TIME))"
})

echo
echo "$REPORT"
# keep a copy of the last report (test/bench/out/ is git-ignored)
bench_save_report webhooks.last.txt "$REPORT"
