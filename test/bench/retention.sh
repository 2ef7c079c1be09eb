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
# Runs in its own database, execlave_bench_retention (dropped and recreated
# every run).  The data is loaded with triggers off (session_replication_role
# = replica): loading is setup, not what is measured.  The report is also
# written to test/bench/out/retention.last.txt.
# Settings (environment):
#   PGHOST/PGPORT/PGUSER   server (default: the local cluster of scripts/local.sh)
#   BENCH_ROWS             traces in the day (default 1000000)
#   BENCH_ROUNDS           measured rounds (default 3)
set -euo pipefail

ROWS=${BENCH_ROWS:-1000000}
ROUNDS=${BENCH_ROUNDS:-3}
DB=execlave_bench_retention

BENCH_NAME=retention.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
bench_check_int ROWS ROUNDS
bench_check_server
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
    echo
    echo "summary: dropping a day by partition is $(awk -F'|' '$1=="partitioned" {print $5}' <<<"$REPORT")x faster than DELETE | $((SECONDS - START_TIME)) s in all"
} | tee "$WORK/report.txt"
bench_save_report retention.last.txt "$(cat "$WORK/report.txt")"
