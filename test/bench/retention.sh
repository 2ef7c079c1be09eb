#!/usr/bin/env bash
# Retention benchmark for execlave (not part of the test suite).
#
#   bash test/bench/retention.sh
#
# One day of BENCH_ROWS traces (40 days old, so past the default 30-day
# retention) is removed two ways, each round on freshly loaded data:
#   partitioned  execlave_maintenance() with execlave.trace_retention_days = 30:
#                drops the day's partition of execlave.traces (DROP TABLE)
#   unpartitioned  DELETE FROM bench.traces_flat WHERE started_at in that day,
#                on a copy with the same columns, keys and index (LIKE
#                execlave.traces INCLUDING ALL + the same key and index), + COMMIT
# ratio = DELETE time / maintenance time.  The DELETE also leaves dead rows
# for VACUUM to reclaim later; that cost is not in its time.
#
# Growth (BENCH_GROWTH_ROWS > 0, default 50,000,000): afterwards the table is
# filled with that many traces: three expired days of 1%, 2% and 20% of them
# (70, 60 and 50 days old) and the rest spread over the 38 retained days 2 ..
# 39 days old; then execlave_maintenance() is timed with nothing to drop
# (retention 75 days), then dropping each expired day alone (retention 65,
# 55, 45 days), each in BEGIN ... COMMIT beside a concurrent single-trace
# writer.  The database's work of a drop must not grow with its rows: target
# drop(20%) / drop(1%) <= 2 on the time before COMMIT; the COMMIT (where the
# kernel frees the dropped files, after the locks are released), the wall
# time and the writer's longest INSERT are printed beside it.  Loading takes most of the time (about
# 10 minutes and 20 GB of disk at 50,000,000).
#
# Runs in its own database, execlave_bench_retention (dropped and recreated
# every run).  The data is loaded with triggers off (session_replication_role
# = replica): loading is setup, not what is measured.  The report is also
# written to test/bench/out/retention.last.txt.
# Settings (environment):
#   PGHOST/PGPORT/PGUSER   server (default: the local cluster of scripts/local.sh)
#   BENCH_ROWS             traces in the day (default 1000000)
#   BENCH_ROUNDS           measured rounds (default 3)
#   BENCH_GROWTH_ROWS      traces of the growth phase (default 50000000; 0 skips it)
set -euo pipefail

ROWS=${BENCH_ROWS:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
GROWTH_ROWS=${BENCH_GROWTH_ROWS:-50000000}
DB=execlave_bench_retention

BENCH_NAME=retention.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
bench_check_int ROWS ROUNDS GROWTH_ROWS
bench_check_server
PGBENCH=$(bench_pg_program pgbench)
START_TIME=$SECONDS
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

bench_recreate_db "$DB"
echo "==> setup: one agent, the unpartitioned copy"
q "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION execlave;
CREATE SCHEMA bench;
CREATE TABLE bench.results (variant text, round int, secs float8);
CREATE TABLE bench.traces_flat (LIKE execlave.traces INCLUDING ALL);
ALTER TABLE bench.traces_flat ADD PRIMARY KEY (trace_id, started_at);
CREATE INDEX ON bench.traces_flat (agent_id, started_at);
SELECT execlave_register_agent('retained');
-- the day: 40 days ago (UTC)
CREATE FUNCTION bench.day() RETURNS timestamptz LANGUAGE sql AS
$$ SELECT date_trunc('day', now() AT TIME ZONE 'UTC' - interval '40 days') AT TIME ZONE 'UTC' $$;
-- (traces 40 days old are outside the default accepted window: widen it)
CREATE FUNCTION bench.load(tbl regclass, n int) RETURNS void LANGUAGE plpgsql
SET execlave.trace_max_age_days = 365 AS $$
BEGIN
    EXECUTE format($q$INSERT INTO %s (trace_id, agent_id, agent_key, started_at, input, output, model, total_tokens, cost_usd, duration_ms)
        SELECT 'tr_' || lpad(to_hex(i), 16, '0'), (SELECT id FROM execlave.agents WHERE key = 'retained'), 'retained',
               bench.day() + mod(i, 86400) * interval '1 second',
               'Request ' || i || ': summarise the quarterly report and list the open items.',
               'Summary ' || i || ': revenue grew, costs were flat, three items remain open.',
               'gpt-4o', 400 + mod(i, 97), 0.0002, 200 + mod(i, 300)
        FROM generate_series(1, %s) i$q$, tbl, n);
END
$$;
SQL

ms_now() { date +%s%N; }
for r in $(seq 1 "$ROUNDS"); do
    # load both tables with the same day of traces; the partitioned one gets its partition by maintenance
    PGOPTIONS='-c session_replication_role=replica' q "$DB" -c "TRUNCATE bench.traces_flat" \
        -c "SELECT bench.load('execlave.traces', $ROWS)" -c "SELECT bench.load('bench.traces_flat', $ROWS)" >/dev/null
    q "$DB" -c "SET execlave.trace_retention_days = 0" -c "SELECT execlave_maintenance()" >/dev/null
    q "$DB" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
    ROWS_IN=$(q "$DB" -Atc "SELECT (SELECT count(*) FROM execlave.traces WHERE started_at >= bench.day() AND started_at < bench.day() + interval '1 day') || ' ' || (SELECT count(*) FROM bench.traces_flat)")
    for v in partitioned unpartitioned; do
        t0=$(ms_now)
        if [ "$v" = partitioned ]; then
            out=$(q "$DB" -Atc "SET execlave.trace_retention_days = 30" -c "SELECT execlave_maintenance()->'partitions_dropped'")
        else
            q "$DB" -c "DELETE FROM bench.traces_flat WHERE started_at >= bench.day() AND started_at < bench.day() + interval '1 day'" >/dev/null
            out=
        fi
        t1=$(ms_now)
        q "$DB" -c "INSERT INTO bench.results VALUES ('$v', $r, ($t1 - $t0) / 1e9)"
        [ "$v" = partitioned ] && DROPPED=$out
    done
    LEFT=$(q "$DB" -Atc "SELECT (SELECT count(*) FROM execlave.traces) || ' ' || (SELECT count(*) FROM bench.traces_flat)")
    echo "    round $r/$ROUNDS: rows before (partitioned, flat) $ROWS_IN; after $LEFT; dropped $DROPPED"
done

GROWTH_LINES=""
GROWTH_SUMMARY=""
if [ "$GROWTH_ROWS" -gt 0 ]; then
    echo "==> growth: loading $GROWTH_ROWS traces (3 expired days: 1%, 2%, 20%; the rest over 38 retained days)"
    T0=$SECONDS
    q "$DB" >/dev/null <<'SQL'
TRUNCATE execlave.traces;
-- n traces on the UTC day `age` days ago, trace ids unique per day
CREATE FUNCTION bench.load_day(age int, n bigint) RETURNS void LANGUAGE plpgsql
SET execlave.trace_max_age_days = 365 AS $$
BEGIN
    INSERT INTO execlave.traces (trace_id, agent_id, agent_key, started_at, input, output, model, total_tokens, cost_usd, duration_ms)
    SELECT 'tr_' || age || '_' || i, (SELECT id FROM execlave.agents WHERE key = 'retained'), 'retained',
           date_trunc('day', now() AT TIME ZONE 'UTC' - age * interval '1 day') AT TIME ZONE 'UTC' + mod(i, 86400) * interval '1 second',
           'Request ' || i || ': summarise the quarterly report and list the open items.',
           'Summary ' || i || ': revenue grew, costs were flat, three items remain open.',
           'gpt-4o', 400 + mod(i, 97), 0.0002, 200 + mod(i, 300)
    FROM generate_series(1, n) i;
END
$$;
SQL
    # one row per day first, so that maintenance makes every day's partition
    # and the bulk load goes straight into them
    DAYS="70 60 50 $(seq -s ' ' 2 39)"
    for d in $DAYS; do echo "SELECT bench.load_day($d, 1);"; done |
        PGOPTIONS='-c session_replication_role=replica' q "$DB" >/dev/null
    q "$DB" -c "SET execlave.trace_retention_days = 0" -c "SELECT execlave_maintenance()" >/dev/null
    q "$DB" -c "TRUNCATE execlave.traces" >/dev/null
    loaded=0
    for d in $DAYS; do
        case $d in
        70) n=$((GROWTH_ROWS / 100)) ;;
        60) n=$((GROWTH_ROWS / 50)) ;;
        50) n=$((GROWTH_ROWS / 5)) ;;
        *) n=$(((GROWTH_ROWS - GROWTH_ROWS / 100 - GROWTH_ROWS / 50 - GROWTH_ROWS / 5) / 38)) ;;
        esac
        PGOPTIONS='-c session_replication_role=replica' q "$DB" -c "SELECT bench.load_day($d, $n)" >/dev/null
        loaded=$((loaded + n))
        echo "    day -$d: $n traces ($loaded in all, $((SECONDS - T0)) s)"
    done
    q "$DB" -c "VACUUM ANALYZE execlave.traces" -c "CHECKPOINT" >/dev/null
    GROWTH_LOAD_SECS=$((SECONDS - T0))
    GROWTH_IN=$(q "$DB" -Atc "SELECT count(*) FROM execlave.traces")
    GROWTH_DEFAULT=$(q "$DB" -Atc "SELECT count(*) FROM execlave.traces_default")
    GROWTH_SIZE=$(q "$DB" -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'execlave.traces'::regclass")
    echo "    $GROWTH_IN traces ($GROWTH_SIZE, $GROWTH_DEFAULT in the default partition) in $GROWTH_LOAD_SECS s"
    [ "$GROWTH_DEFAULT" = 0 ] || die "the growth load left rows in the default partition"
    # Each call runs in an explicit transaction, timed statement by statement
    # (psql's \timing): the SELECT is every step's work, the DROP's locks
    # (execlave.traces ACCESS EXCLUSIVE) held from its step to the end; the
    # COMMIT flushes the commit record, releases the locks and only then
    # removes the dropped files (PostgreSQL deletes a dropped relation's files
    # after releasing the locks: the kernel's truncate of each 1 GB segment is
    # what grows with the partition).  Meanwhile a writer inserts one trace at
    # a time through the ingest trigger (pgbench, one client, per-transaction
    # log): its longest INSERT overlapping the call shows how long ingestion
    # stopped (informational: a busy machine's stalls land in it too).
    cat >"$WORK/writer.sql" <<'SQL'
INSERT INTO execlave.traces (trace_id, agent_key, input, output, model, total_tokens)
VALUES ('w_' || gen_random_uuid(), 'retained', 'writer', 'writer', 'gpt-4o', 10);
SQL
    declare -A GT=() GD=() GS=() GC=() GW=() GB=()
    for step in none:75 1pct:65 2pct:55 20pct:45; do
        name=${step%%:*} keep=${step#*:}
        before=$(q "$DB" -Atc "SELECT count(*) FROM execlave.traces")
        q "$DB" -c "CHECKPOINT" >/dev/null
        rm -f "$WORK"/w_*
        "$PGBENCH" -n -c 1 -T 6 -l --log-prefix="$WORK/w_$name" -f "$WORK/writer.sql" "$DB" >"$WORK/writer.out" 2>&1 &
        wpid=$!
        sleep 1.5
        t0=$(ms_now)
        out=$(q "$DB" -At <<SQL
SET execlave.trace_retention_days = $keep;
\timing on
BEGIN;
SELECT execlave_maintenance()->'partitions_dropped';
COMMIT;
SQL
)
        t1=$(ms_now)
        wait "$wpid" || { cat "$WORK/writer.out" >&2; die "the concurrent writer failed"; }
        GD[$name]=$(grep -v '^Time:' <<<"$out" | grep -v '^\(BEGIN\|COMMIT\|SET\)$' | head -1)
        GT[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
        # the Time: lines are BEGIN, SELECT, COMMIT (ms)
        GS[$name]=$(grep '^Time:' <<<"$out" | awk 'NR == 2 { printf "%.4f", $2 / 1000 }')
        GC[$name]=$(grep '^Time:' <<<"$out" | awk 'NR == 3 { printf "%.4f", $2 / 1000 }')
        # longest writer INSERT overlapping [t0, t1] (log: end time $5.$6, latency $3 us),
        # and the slowest 1% of the others as its background
        read -r GW[$name] GB[$name] < <(awk -v a="$t0" -v b="$t1" '
            { e = ($5 * 1000000 + $6) * 1000; s = e - $3 * 1000
              if (e >= a && s <= b) { if ($3 > w) w = $3 } else print $3 > "/dev/stderr" }
            END { printf "%.4f ", w / 1e6 }' "$WORK"/w_"$name"* 2>"$WORK/others"
            sort -n "$WORK/others" | awk '{ v[NR] = $1 } END { printf "%.4f\n", (NR ? v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1] : 0) / 1e6 }')
        after=$(q "$DB" -Atc "SELECT count(*) FROM execlave.traces")
        dropped=$((before - after + $(cat "$WORK"/w_"$name"* | wc -l)))
        GROWTH_LINES+=$(printf '   %-40s %12s %10s %9s %9s %9s %9s %9s\n' "retention $keep days: drops ${GD[$name]}" "$before" "$dropped" \
            "${GT[$name]}" "${GS[$name]}" "${GC[$name]}" "${GW[$name]}" "${GB[$name]}")$'\n'
        echo "    retention $keep days: ${GT[$name]} s (before COMMIT ${GS[$name]} s, COMMIT ${GC[$name]} s), longest concurrent INSERT ${GW[$name]} s, $dropped traces dropped, partitions ${GD[$name]}"
    done
    G_RATIO=$(awk -v a="${GS[20pct]}" -v b="${GS[1pct]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
    G_WRATIO=$(awk -v a="${GW[20pct]}" -v b="${GW[1pct]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
    G_TRATIO=$(awk -v a="${GT[20pct]}" -v b="${GT[1pct]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
    G_VERDICT=$(awk -v r="$G_RATIO" 'BEGIN { print (r <= 2) ? "PASS" : "FAIL" }')
    GROWTH_SUMMARY=" | growth: $GROWTH_IN traces, drop of $((GROWTH_ROWS / 5)) rows / of $((GROWTH_ROWS / 100)): before COMMIT $G_RATIO (<= 2) $G_VERDICT; longest concurrent INSERT $G_WRATIO, wall time $G_TRATIO (file removal after the locks)"
fi

REPORT=$(q "$DB" -At -F '|' <<'SQL'
WITH m AS (SELECT variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS secs, min(secs) AS lo, max(secs) AS hi
           FROM bench.results GROUP BY variant)
SELECT variant, round(secs::numeric, 4), round(lo::numeric, 4), round(hi::numeric, 4),
       round(((SELECT secs FROM m WHERE variant = 'unpartitioned') / secs)::numeric, 1)
FROM m ORDER BY variant;
SQL
)
{
    echo
    echo "Retention of one day of $ROWS traces (medians of $ROUNDS rounds; s)"
    printf '   %-66s %9s %17s %s\n' "how" "median s" "min..max" "DELETE / this"
    while IFS='|' read -r v secs lo hi ratio; do
        if [ "$v" = partitioned ]; then
            name="execlave_maintenance(): DROP of the day's partition"
        else
            name="DELETE of the same rows from an unpartitioned copy + COMMIT"
        fi
        printf '   %-66s %9s %17s %s\n' "$name" "$secs" "$lo..$hi" "${ratio}x"
    done <<<"$REPORT"
    echo "   (the DELETE also leaves $ROWS dead rows for VACUUM; not timed)"
    if [ "$GROWTH_ROWS" -gt 0 ]; then
        echo
        echo "Growth: execlave_maintenance() on $GROWTH_IN traces in 41 day partitions ($GROWTH_SIZE; loaded in $GROWTH_LOAD_SECS s), one run each"
        printf '   %-40s %12s %10s %9s %9s %9s %9s %9s\n' "call" "traces" "dropped" "wall s" "txn s" "commit s" "wait s" "p99 s"
        printf '%s' "$GROWTH_LINES"
        echo "   wall: the whole call; txn: its steps before COMMIT (the DROP's locks are held from its step on);"
        echo "   commit: flush, lock release, then the removal of the dropped files by the kernel; wait: the longest"
        echo "   single-trace INSERT of a concurrent writer overlapping the call; p99: that writer's other INSERTs"
        echo "   drop of the 20% day / drop of the 1% day: before COMMIT $G_RATIO (target <= 2: the database's work"
        echo "   does not grow with the rows) $G_VERDICT; longest concurrent INSERT $G_WRATIO; wall time $G_TRATIO"
    fi
    echo
    echo "summary: dropping a day by partition is $(awk -F'|' '$1=="partitioned" {print $5}' <<<"$REPORT")x faster than DELETE$GROWTH_SUMMARY | $((SECONDS - START_TIME)) s in all"
} | tee "$WORK/report.txt"
bench_save_report retention.last.txt "$(cat "$WORK/report.txt")"
