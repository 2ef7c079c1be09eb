#!/usr/bin/env bash
# Windowed-policy benchmark for execlave (not part of the test suite).
#
#   bash test/bench/windows.sh
#
# One agent ("solo") with three windowed policies, mode log, limits far above
# what the run reaches (so no violation is written and every row takes the
# counting path): rate_limit (requests per minute and per hour), cost_limit
# (per trace and per day) and budget_cap (per month).  Every trace carries a
# cost, tokens and a duration, so the anomaly statistics are updated too
# (execlave.anomaly_detection is on, its default).
# A. One INSERT ... SELECT of BENCH_ROWS traces (about 300 bytes each) for
#    that one agent, timed from before the statement to after its COMMIT, into
#    a table emptied by TRUNCATE after a CHECKPOINT:
#      bench.traces_plain     LIKE execlave.traces INCLUDING ALL + the FK, no trigger (baseline)
#      execlave.traces        the ingestion trigger with the three policies
#      execlave.traces (no policies)   the trigger alone (informational)
#    ratio = rows/s / rows/s of the baseline, target >= 0.70.
# B. pgbench, one INSERT of one trace per transaction for the same agent
#    (synchronous_commit = off, so that the CPU and not the WAL flush is what
#    is measured), 1 client and 2 clients (-j 2), into execlave.traces (policies on) and into
#    the baseline table.  "scaling" = TPS with 2 clients / TPS with 1 client:
#    if the counters serialised the two clients on the one agent, execlave's
#    scaling would fall well below the baseline's.
# C. One transaction of N subtransactions, one trace each (a PL/pgSQL loop
#    with an EXCEPTION block per trace, as ingest_traces runs a batch), for
#    N = BENCH_SUBXACTS and 2N, into execlave.traces and into the baseline.
#    "growth" = time for 2N / time for N: about 2 when the bookkeeping of
#    what each subtransaction counted stays linear (it once scanned every
#    earlier subtransaction's entries: quadratic).
#
# Runs in its own database, execlave_bench_windows, dropped and recreated
# every run and left in place afterwards.  The report is also written to
# test/bench/out/windows.last.txt.
# Settings (environment):
#   PGHOST/PGPORT/PGUSER   server (default: the local cluster of scripts/local.sh)
#   BENCH_ROWS             rows per INSERT in A (default 50000)
#   BENCH_ROUNDS           measured rounds of A (default 5)
#   BENCH_PGBENCH_SECS     duration of each pgbench run in B (default 8)
#   BENCH_PGBENCH_ROUNDS   rounds of B (default 3)
#   BENCH_SUBXACTS         N of C (default 20000)
set -euo pipefail

ROWS=${BENCH_ROWS:-50000}
ROUNDS=${BENCH_ROUNDS:-5}
PGBENCH_SECS=${BENCH_PGBENCH_SECS:-8}
PGBENCH_ROUNDS=${BENCH_PGBENCH_ROUNDS:-3}
SUBXACTS=${BENCH_SUBXACTS:-20000}
DB=execlave_bench_windows
INSERT_TARGET=0.70

BENCH_NAME=windows.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

bench_check_int ROWS ROUNDS PGBENCH_SECS PGBENCH_ROUNDS SUBXACTS
PGBENCH=$(bench_pg_program pgbench)
bench_check_server
[ "$(q postgres -Atc "SELECT count(*) FROM pg_settings WHERE name = 'execlave.max_tracked_agents'")" = 1 ] ||
    die "execlave is not in shared_preload_libraries on this server (windowed policies need it)"
START_TIME=$SECONDS
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

bench_recreate_db "$DB"
echo "==> setup: agent solo, three windowed policies (mode log), baseline table"
q "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION execlave;
CREATE SCHEMA bench;
CREATE TABLE bench.results (variant text, round int, rows bigint, secs float8);
CREATE TABLE bench.traces_plain (LIKE execlave.traces INCLUDING ALL);
-- the keys live on execlave.traces' partitions, not its parent: give the copy the same
ALTER TABLE bench.traces_plain ADD PRIMARY KEY (trace_id, started_at);
CREATE INDEX ON bench.traces_plain (agent_id, started_at);
ALTER TABLE bench.traces_plain ADD FOREIGN KEY (agent_id) REFERENCES execlave.agents (id);
SELECT execlave_register_agent('solo');
SELECT execlave_create_policy('rate', 'rate_limit', 'log',
    '{"max_requests_per_minute": 1000000000, "max_requests_per_hour": 1000000000}', ARRAY['solo']);
SELECT execlave_create_policy('cost', 'cost_limit', 'log',
    '{"max_cost_per_trace": 1000, "max_cost_per_day": 100000000}', ARRAY['solo']);
SELECT execlave_create_policy('budget', 'budget_cap', 'log', '{"max_cost_per_month": 100000000}', ARRAY['solo']);
-- the baseline gets what the trigger fills in: agent_id and agent_key
CREATE FUNCTION bench.rows(n int) RETURNS TABLE (agent_id uuid, agent_key text, input text, output text,
    model text, prompt_tokens int, completion_tokens int, total_tokens int, cost_usd numeric, duration_ms float8)
LANGUAGE sql AS $$
    SELECT (SELECT id FROM execlave.agents WHERE key = 'solo'), 'solo',
           'Request ' || i || ': summarise the quarterly report for the finance team and list the open items.',
           'Summary ' || i || ': revenue grew, costs were flat, three items remain open for review.',
           'gpt-4o', 300 + i % 97, 100 + i % 31, 400 + i % 97 + i % 31, 0.0001 * (1 + i % 50), 200 + i % 300
    FROM generate_series(1, n) i
$$;
-- C: n subtransactions of one trace each
CREATE FUNCTION bench.subxacts_execlave(n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        BEGIN
            INSERT INTO execlave.traces (agent_key, input, cost_usd) VALUES ('solo', 'sub', 0.0001);
        EXCEPTION WHEN SQLSTATE 'EX003' THEN NULL;
        END;
    END LOOP;
END $$;
CREATE FUNCTION bench.subxacts_plain(n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    agent uuid := (SELECT id FROM execlave.agents WHERE key = 'solo');
BEGIN
    FOR i IN 1..n LOOP
        BEGIN
            INSERT INTO bench.traces_plain (agent_id, agent_key, input, cost_usd) VALUES (agent, 'solo', 'sub', 0.0001);
        EXCEPTION WHEN SQLSTATE 'EX003' THEN NULL;
        END;
    END LOOP;
END $$;
SQL

# A -------------------------------------------------------------------------
insert_once() {  # variant round rows
    local variant=$1 round=$2 n=$3 table cols t0 t1
    cols="agent_id, agent_key, input, output, model, prompt_tokens, completion_tokens, total_tokens, cost_usd, duration_ms"
    case $variant in
        plain) table=bench.traces_plain ;;
        *) table=execlave.traces ;;
    esac
    if [ "$variant" = trigger_only ]; then
        q "$DB" -c "UPDATE execlave.policies SET active = false" >/dev/null
    fi
    q "$DB" -c "TRUNCATE $table" -c "CHECKPOINT" >/dev/null
    t0=$(date +%s%N)
    q "$DB" -c "INSERT INTO $table ($cols) SELECT * FROM bench.rows($n)" >/dev/null
    t1=$(date +%s%N)
    if [ "$variant" = trigger_only ]; then
        q "$DB" -c "UPDATE execlave.policies SET active = true" >/dev/null
    fi
    [ "$round" -gt 0 ] && q "$DB" -c "INSERT INTO bench.results VALUES ('$variant', $round, $n, ($t1 - $t0) / 1e9)"
    return 0
}
echo "==> A: INSERT of $ROWS traces for one agent, $ROUNDS rounds x 3 variants (+ warm-up round)"
VARIANTS=(plain policies trigger_only)
for r in $(seq 0 "$ROUNDS"); do
    for i in 0 1 2; do
        insert_once "${VARIANTS[$(((r + i) % 3))]}" "$r" "$ROWS"
    done
    [ "$r" -eq 0 ] && echo "    A round 0/$ROUNDS done (warm-up)" || echo "    A round $r/$ROUNDS done"
done
CHECK=$(q "$DB" -Atc "SELECT count(*) || ' traces, ' || (SELECT count(*) FROM execlave.violations) || ' violations; usage: ' ||
    (SELECT string_agg(period || '=' || coalesce(requests::text, spend_usd::text), ' ' ORDER BY period) FROM execlave_usage('solo'))
    FROM execlave.traces")

# B -------------------------------------------------------------------------
cat >"$WORK/execlave.sql" <<'SQL'
INSERT INTO execlave.traces (agent_key, input, model, total_tokens, cost_usd, duration_ms) VALUES ('solo', 'one request of the load test', 'gpt-4o', 420, 0.0003, 250);
SQL
AGENT_ID=$(q "$DB" -Atc "SELECT id FROM execlave.agents WHERE key = 'solo'")
cat >"$WORK/plain.sql" <<SQL
INSERT INTO bench.traces_plain (agent_id, agent_key, input, model, total_tokens, cost_usd, duration_ms) VALUES ('$AGENT_ID', 'solo', 'one request of the load test', 'gpt-4o', 420, 0.0003, 250);
SQL
pgbench_tps() {  # script clients [secs] -> tps
    PGOPTIONS='-c synchronous_commit=off' \
        "$PGBENCH" -n -M prepared -c "$2" -j "$2" -T "${3:-$PGBENCH_SECS}" -f "$WORK/$1.sql" "$DB" 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
echo "==> B: pgbench, one trace per transaction, 1 and 2 clients, $PGBENCH_ROUNDS rounds x ${PGBENCH_SECS} s"
q "$DB" -c "CREATE TABLE bench.pgb (script text, clients int, round int, tps float8)"
for s in execlave plain; do pgbench_tps "$s" 2 2 >/dev/null; done
for r in $(seq 1 "$PGBENCH_ROUNDS"); do
    line="    round $r/$PGBENCH_ROUNDS:"
    for combo in "execlave 1" "plain 1" "execlave 2" "plain 2"; do
        read -r s c <<<"$combo"
        tps=$(pgbench_tps "$s" "$c")
        q "$DB" -c "INSERT INTO bench.pgb VALUES ('$s', $c, $r, ${tps:-0})"
        line+=$(printf ' %s/%s %.0f' "$s" "$c" "${tps:-0}")
    done
    echo "$line tps"
done
q "$DB" -c "TRUNCATE execlave.traces, bench.traces_plain" >/dev/null

# C -------------------------------------------------------------------------
subxacts_secs() {  # execlave|plain n -> seconds
    local t0 t1
    t0=$(date +%s%N)
    q "$DB" -c "SELECT bench.subxacts_$1($2)" >/dev/null
    t1=$(date +%s%N)
    q "$DB" -c "TRUNCATE execlave.traces, bench.traces_plain" >/dev/null
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}'
}
echo "==> C: one transaction of $SUBXACTS and of $((2 * SUBXACTS)) subtransactions, one trace each"
declare -A SUB
for s in plain execlave; do
    subxacts_secs "$s" 1000 >/dev/null     # warm-up
    SUB[$s,1]=$(subxacts_secs "$s" "$SUBXACTS")
    SUB[$s,2]=$(subxacts_secs "$s" $((2 * SUBXACTS)))
done

# Report ---------------------------------------------------------------------
REPORT=$(q "$DB" -At -F '|' <<SQL
WITH m AS (
    SELECT variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS secs, min(rows) AS rows
    FROM bench.results GROUP BY variant),
base AS (SELECT rows / secs AS rps FROM m WHERE variant = 'plain')
SELECT 'A', variant, round(secs::numeric, 3), round((rows / secs)::numeric),
       round(((rows / secs) / base.rps)::numeric, 3),
       round(((secs - (SELECT secs FROM m WHERE variant = 'plain')) * 1e6 / rows)::numeric, 2)
FROM m, base
ORDER BY array_position(ARRAY['plain', 'policies', 'trigger_only'], variant);
WITH p AS (SELECT script, clients, percentile_cont(0.5) WITHIN GROUP (ORDER BY tps) AS tps FROM bench.pgb GROUP BY 1, 2)
SELECT 'B', a.script, round(a.tps::numeric), round(b.tps::numeric), round((b.tps / a.tps)::numeric, 2),
       round((b.tps / (SELECT tps FROM p WHERE script = 'plain' AND clients = 2))::numeric, 3)
FROM p a JOIN p b ON b.script = a.script AND b.clients = 2 WHERE a.clients = 1 ORDER BY a.script;
SQL
)
{
    echo
    echo "A. INSERT ... SELECT of $ROWS traces for ONE agent + COMMIT (medians of $ROUNDS rounds)"
    printf '   %-58s %9s %9s %7s %8s %s\n' "table" "median s" "rows/s" "ratio" "us/row" "target"
    while IFS='|' read -r part v secs rps ratio us; do
        [ "$part" = A ] || continue
        case $v in
            plain) name="bench.traces_plain (no trigger)"; tgt="baseline" ;;
            policies) name="execlave.traces (rate_limit + cost_limit + budget_cap)"
                      tgt=">= $INSERT_TARGET $(awk -v r="$ratio" -v t="$INSERT_TARGET" 'BEGIN{print (r >= t) ? "PASS" : "BELOW TARGET"}')" ;;
            trigger_only) name="execlave.traces (trigger, policies disabled)"; tgt="informational" ;;
        esac
        printf '   %-58s %9s %9s %7s %8s %s\n' "$name" "$secs" "$rps" "$ratio" "$us" "$tgt"
    done <<<"$REPORT"
    echo "   check after the last round: $CHECK"
    echo "   (the counters include every round: TRUNCATE does not un-count traces, only a rollback does)"
    echo
    echo "B. pgbench -M prepared, synchronous_commit = off, one INSERT of one trace per transaction, all for ONE agent"
    echo "   (medians of $PGBENCH_ROUNDS rounds)"
    printf '   %-44s %10s %10s %9s %s\n' "table" "1 client" "2 clients" "scaling" "2 clients vs plain"
    while IFS='|' read -r part s t1 t2 scaling vs; do
        [ "$part" = B ] || continue
        [ "$s" = plain ] && name="bench.traces_plain (no trigger)" || name="execlave.traces (three windowed policies)"
        printf '   %-44s %10s %10s %9s %s\n' "$name" "$t1" "$t2" "$scaling" "$vs"
    done <<<"$REPORT"
    echo "   scaling = TPS with 2 clients / TPS with 1 client (2 cores: server, pgbench and kernel share them);"
    echo "   execlave's scaling close to the baseline's means the two clients do not queue behind one another"
    echo
    echo "C. one transaction of N subtransactions (PL/pgSQL EXCEPTION block), one trace each, ONE agent"
    printf '   %-44s %10s %10s %9s %s\n' "table" "N=$SUBXACTS" "2N" "growth" "2N vs plain"
    for s in execlave plain; do
        [ "$s" = plain ] && name="bench.traces_plain (no trigger)" || name="execlave.traces (three windowed policies)"
        printf '   %-44s %9ss %9ss %9s %s\n' "$name" "${SUB[$s,1]}" "${SUB[$s,2]}" \
            "$(awk -v a="${SUB[$s,1]}" -v b="${SUB[$s,2]}" 'BEGIN {printf "%.2f", b / a}')" \
            "$(awk -v a="${SUB[plain,2]}" -v b="${SUB[$s,2]}" 'BEGIN {printf "%.2f", b / a}')"
    done
    echo "   growth = time for 2N / time for N: 2 is linear"
    echo
    echo "summary: $(awk -F'|' '$1=="A" && $2=="policies" {printf "INSERT ratio %s (>= %s)", $5, t}' t="$INSERT_TARGET" <<<"$REPORT") | $(awk -F'|' '$1=="B" {printf "%s scaling %s; ", $2, $5}' <<<"$REPORT")| subtransactions growth $(awk -v a="${SUB[execlave,1]}" -v b="${SUB[execlave,2]}" 'BEGIN {printf "%.2f", b / a}') (plain $(awk -v a="${SUB[plain,1]}" -v b="${SUB[plain,2]}" 'BEGIN {printf "%.2f", b / a}')) | $((SECONDS - START_TIME)) s in all"
} | tee "$WORK/report.txt"
bench_save_report windows.last.txt "$(cat "$WORK/report.txt")"
