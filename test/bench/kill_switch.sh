#!/usr/bin/env bash
# Kill-switch benchmark for execlave (not part of the test suite).
#
#   bash test/bench/kill_switch.sh
#
# A. Trace INSERT throughput into execlave.traces (BEFORE INSERT trigger
#    traces_ingest: agent resolution + kill switch) against an identical table
#    without the trigger, naming the agent by agent_id and by agent_key.
# B. Per-call cost of execlave_assert_active().
#
# Runs in its own database, execlave_bench, dropped and recreated every run
# (left in place afterwards, tables emptied, with the raw timings in
# bench.results).
# Settings (environment):
#   PGHOST/PGPORT/PGUSER  server (default: the local cluster of scripts/local.sh)
#   BENCH_ROWS    rows per INSERT in A                 (default 200000)
#   BENCH_ROUNDS  measured rounds per variant, A and B (default 5)
#   BENCH_CALLS   function calls per query in B        (default 1000000)
# See test/bench/README.md for what the numbers mean.
set -euo pipefail

ROWS=${BENCH_ROWS:-200000}
ROUNDS=${BENCH_ROUNDS:-5}
CALLS=${BENCH_CALLS:-1000000}
AGENTS=100
DB=execlave_bench

# PGHOST/PGPORT/PGUSER defaults, die, q, bench_check_*, progress, bench_save_report
BENCH_NAME=kill_switch.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

bench_check_int ROWS ROUNDS CALLS
bench_check_server

bench_recreate_db "$DB"

# ---------------------------------------------------------------------------
# Setup: extension, agents, baseline table, measurement procedures
# ---------------------------------------------------------------------------
q "$DB" -o /dev/null -v agents="$AGENTS" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION execlave;
SELECT count(execlave_register_agent('agent-' || i, 'Bench agent ' || i)) FROM generate_series(0, :agents - 1) i;

CREATE SCHEMA bench;
\i :helpers
-- Baseline: same columns, defaults, CHECKs and indexes; LIKE copies neither FKs nor triggers.
CREATE TABLE bench.traces_plain (LIKE execlave.traces INCLUDING ALL);
-- the keys live on execlave.traces' partitions, not its parent: give the copy the same
ALTER TABLE bench.traces_plain ADD PRIMARY KEY (trace_id, started_at);
CREATE INDEX ON bench.traces_plain (agent_id, started_at);
ALTER TABLE bench.traces_plain ADD CONSTRAINT traces_plain_agent_id_fkey
    FOREIGN KEY (agent_id) REFERENCES execlave.agents (id);

CREATE TABLE bench.results (
    bench   text   NOT NULL,
    variant text   NOT NULL,
    round   int    NOT NULL,
    n       bigint NOT NULL,
    secs    float8 NOT NULL,
    PRIMARY KEY (bench, variant, round)
);

-- The INSERT of benchmark A.  Every variant inserts the same rows; by_key
-- names the agent by agent_key instead of agent_id.
CREATE FUNCTION bench.insert_sql(variant text) RETURNS text LANGUAGE sql IMMUTABLE AS $f$
SELECT format($i$
INSERT INTO %s (%s, session_id, user_id, started_at, duration_ms, status, model, input, output,
                prompt_tokens, completion_tokens, total_tokens, cost_usd, environment, tags, metadata)
SELECT %s,
       'sess-' || (g / 8), 'user-' || (g %% 997),
       now() - g * interval '15 ms', 150 + (g %% 4000) * 1.5,
       CASE WHEN g %% 50 = 0 THEN 'error' ELSE 'success' END,
       'gpt-4o-mini',
       'Summarise support ticket #' || g || ' for the customer. '
         || repeat('The invoice total does not match the order confirmation they received. ', 1 + g %% 5),
       'Ticket #' || g || ': '
         || repeat('The customer reports a mismatch between invoice and order; a refund of the difference is suggested. ', 2 + g %% 7),
       300 + g %% 500, 100 + g %% 700, 400 + g %% 500 + g %% 700,
       round(((300 + g %% 500) * 0.15 + (100 + g %% 700) * 0.60) / 1000000, 8),
       'production', ARRAY['bench', 'team-' || (g %% 7)], jsonb_build_object('request_id', g)
FROM generate_series(1, $1) g,
     (SELECT array_agg(id ORDER BY key) AS ids FROM execlave.agents) a
$i$,
    CASE variant WHEN 'plain' THEN 'bench.traces_plain' ELSE 'execlave.traces' END,
    CASE variant WHEN 'by_key' THEN 'agent_key' ELSE 'agent_id' END,
    CASE variant WHEN 'by_key' THEN $k$'agent-' || (g % cardinality(a.ids))$k$
                 ELSE 'a.ids[1 + g % cardinality(a.ids)]' END)
$f$;

-- Benchmark A: rounds x {plain, by_id, by_key}, order rotated every round.
-- Each measurement: TRUNCATE, COMMIT, (CHECKPOINT), then time INSERT + COMMIT.
CREATE PROCEDURE bench.run_a(nrows int, nrounds int, warmup_rows int)
LANGUAGE plpgsql AS $p$
DECLARE
    variants constant text[] := ARRAY['plain', 'by_id', 'by_key'];
    v text;
    t0 timestamptz;
    secs float8;
BEGIN
    FOR r IN 0 .. nrounds LOOP          -- round 0: warm-up, not recorded
        FOR i IN 0 .. 2 LOOP
            v := variants[1 + (r + i) % 3];
            TRUNCATE bench.traces_plain, execlave.traces;
            COMMIT;
            CHECKPOINT;                 -- start every measurement from clean buffers
            t0 := clock_timestamp();
            EXECUTE bench.insert_sql(v) USING CASE WHEN r = 0 THEN warmup_rows ELSE nrows END;
            COMMIT;
            secs := extract(epoch FROM clock_timestamp() - t0);
            IF r > 0 THEN
                INSERT INTO bench.results VALUES ('A', v, r, nrows, secs);
                RAISE NOTICE 'A round %/% %: % s (% rows/s)', r, nrounds, rpad(v, 6),
                    to_char(secs, 'FM990.000'), round(nrows / secs);
            END IF;
            COMMIT;
        END LOOP;
    END LOOP;
    TRUNCATE bench.traces_plain, execlave.traces;
END
$p$;

-- Benchmark B queries: with the call, and the same query without it.
CREATE FUNCTION bench.assert_sql(variant text, ncalls int) RETURNS text LANGUAGE sql IMMUTABLE AS $f$
SELECT format('SELECT count(%s) FROM generate_series(1, %s) g',
    CASE variant
        WHEN 'dyn_call'   THEN $e$execlave_assert_active('agent-' || (g % 100))$e$
        WHEN 'dyn_base'   THEN $e$'agent-' || (g % 100)$e$
        WHEN 'const_call' THEN $e$execlave_assert_active('agent-7')$e$
        WHEN 'const_base' THEN $e$'agent-7'::text$e$
    END, ncalls)
$f$;


-- Benchmark B: rounds x 4 queries, order rotated every round.
CREATE PROCEDURE bench.run_b(ncalls int, nrounds int)
LANGUAGE plpgsql AS $p$
DECLARE
    variants constant text[] := ARRAY['dyn_call', 'dyn_base', 'const_call', 'const_base'];
    v text;
    sql text;
    t0 timestamptz;
    secs float8;
    cnt bigint;
BEGIN
    FOR r IN 0 .. nrounds LOOP          -- round 0: warm-up, not recorded
        FOR i IN 0 .. 3 LOOP
            v := variants[1 + (r + i) % 4];
            sql := bench.assert_sql(v, ncalls);
            t0 := clock_timestamp();
            EXECUTE sql INTO cnt;
            secs := extract(epoch FROM clock_timestamp() - t0);
            IF cnt <> ncalls THEN
                RAISE EXCEPTION 'query returned % instead of %: %', cnt, ncalls, sql;
            END IF;
            IF r > 0 THEN
                INSERT INTO bench.results VALUES ('B', v, r, ncalls, secs);
            END IF;
        END LOOP;
        IF r > 0 THEN
            RAISE NOTICE 'B round %/% done', r, nrounds;
        END IF;
        COMMIT;
    END LOOP;
END
$p$;
SQL

# Session settings for all measurements: no JIT (its compile time is noise
# here), no parallel workers (B must run every call in this backend).
SESSION_SETTINGS="SET jit = off; SET max_parallel_workers_per_gather = 0; SET client_min_messages = notice;"

# ---------------------------------------------------------------------------
# B, part 1: make sure the queries really call the function CALLS times
# ---------------------------------------------------------------------------
echo "==> B: checking that execlave_assert_active() is really called $CALLS times per query"
VERIFY=$(q "$DB" -At -F $'\t' -v n="$CALLS" <<'SQL'
SET jit = off; SET max_parallel_workers_per_gather = 0;
SELECT v, bench.calls_of(bench.assert_sql(v, :n), 'execlave_assert_active(text)'), bench.top_output(bench.assert_sql(v, :n))
FROM unnest(ARRAY['dyn_call', 'const_call']) v;
-- the LATERAL form (count(*) ... LATERAL (SELECT execlave_assert_active(...)) x) for comparison
SELECT 'lateral', bench.calls_of(q, 'execlave_assert_active(text)'), bench.top_output(q)
FROM (SELECT format($q$SELECT count(*) FROM generate_series(1, %s) g,
        LATERAL (SELECT execlave_assert_active('agent-' || (g %% 100))) x$q$, :n) AS q) s;
SQL
)
LATERAL_CALLS=0
while IFS=$'\t' read -r variant calls output; do
    printf '    %-10s calls=%-9s plan: %s\n' "$variant" "$calls" "$output"
    case $variant in
    lateral) LATERAL_CALLS=$calls ;;
    *) [ "$calls" = "$CALLS" ] || die "$variant calls execlave_assert_active() $calls times, expected $CALLS" ;;
    esac
done <<<"$VERIFY"

# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------
echo "==> A: INSERT of $ROWS traces, $ROUNDS rounds x 3 variants (+ warm-up round)"
q "$DB" -c "$SESSION_SETTINGS" \
    -c "CALL bench.run_a($ROWS, $ROUNDS, $(( ROWS < 20000 ? ROWS : 20000 )))" 2>&1 | progress

echo "==> B: $CALLS calls of execlave_assert_active(), $ROUNDS rounds x 4 queries (+ warm-up round)"
q "$DB" -c "$SESSION_SETTINGS" -c "CALL bench.run_b($CALLS, $ROUNDS)" 2>&1 | progress

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
REPORT=$(q "$DB" -At -v rows="$ROWS" -v rounds="$ROUNDS" -v calls="$CALLS" -v lateral_calls="$LATERAL_CALLS" <<'SQL'
WITH m AS (
    SELECT bench, variant,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS med,
           min(secs) AS lo, max(secs) AS hi, max(n) AS n
    FROM bench.results GROUP BY bench, variant
), paired AS (            -- ratio within each round (the variants of a round run back to back)
    SELECT t.variant, min(p.secs / t.secs) AS lo, max(p.secs / t.secs) AS hi
    FROM bench.results t JOIN bench.results p ON p.bench = 'A' AND p.variant = 'plain' AND p.round = t.round
    WHERE t.bench = 'A' GROUP BY t.variant
), a AS (
    SELECT m.variant, med, n / med AS rps, (m.hi - m.lo) / med AS spread,
           pl.med_plain / med AS ratio, (med - pl.med_plain) / n * 1e6 AS us_per_row,
           paired.lo AS r_lo, paired.hi AS r_hi
    FROM m JOIN paired USING (variant),
         (SELECT med AS med_plain FROM m WHERE bench = 'A' AND variant = 'plain') pl
    WHERE bench = 'A'
), b AS (
    SELECT c.variant AS kind, c.med AS with_call, z.med AS without_call,
           (c.med - z.med) / c.n * 1e6 AS us_per_call, (c.hi - c.lo) / c.med AS spread
    FROM m c JOIN m z ON z.bench = 'B' AND c.bench = 'B'
                     AND z.variant = replace(c.variant, '_call', '_base')
    WHERE c.variant LIKE '%\_call'
)
SELECT line FROM (
    SELECT 0 AS o, format('execlave kill-switch benchmark: PostgreSQL %s, execlave %s, %s',
                          current_setting('server_version'),
                          (SELECT extversion FROM pg_extension WHERE extname = 'execlave'),
                          to_char(now(), 'YYYY-MM-DD HH24:MI')) AS line
    UNION ALL SELECT 1, format('medians of %s rounds; "spread" = (max - min) / median; ratios matter, absolute numbers are noisy', :rounds)
    UNION ALL SELECT 2, ''
    UNION ALL SELECT 3, format('A. Trace INSERT throughput (one INSERT ... SELECT of %s rows + COMMIT)', :rows)
    UNION ALL SELECT 4, format('   %-42s %8s %8s %6s %7s %11s %8s  %s', 'table / agent named by', 'median s', 'rows/s',
                               'spread', 'ratio', 'per-round', 'us/row', 'target')
    UNION ALL
    SELECT 5 + array_position(ARRAY['plain', 'by_id', 'by_key'], variant),
           format('   %-42s %8s %8s %5s%% %7s %11s %8s  %s',
                  CASE variant WHEN 'plain' THEN 'bench.traces_plain (no trigger), agent_id'
                               WHEN 'by_id' THEN 'execlave.traces (trigger), agent_id'
                               ELSE 'execlave.traces (trigger), agent_key' END,
                  to_char(med, 'FM990.000'), round(rps), round(spread * 100),
                  to_char(ratio, 'FM990.000'),
                  CASE WHEN variant = 'plain' THEN '' ELSE to_char(r_lo, 'FM990.00') || '..' || to_char(r_hi, 'FM990.00') END,
                  CASE WHEN variant = 'plain' THEN '' ELSE to_char(us_per_row, 'FMS990.00') END,
                  CASE WHEN variant = 'plain' THEN 'baseline'
                       ELSE format('>= 0.85  %s', CASE WHEN ratio >= 0.85 THEN 'PASS' ELSE 'BELOW TARGET' END) END)
    FROM a
    UNION ALL SELECT 9, '   ratio = rows/s with trigger / rows/s plain (medians); per-round = min..max of the ratio within each round;'
    UNION ALL SELECT 9.5, '   us/row = extra time per row vs plain (median difference / rows)'
    UNION ALL SELECT 10, ''
    UNION ALL SELECT 11, format('B. execlave_assert_active() per call (%s calls per query, minus the same query without the call)', :calls)
    UNION ALL SELECT 12, format('   %-42s %8s %9s %6s %9s  %s', 'agent argument', 'with s', 'without s', 'spread', 'us/call', 'target')
    UNION ALL
    SELECT 13 + (kind = 'const_call')::int,
           format('   %-42s %8s %9s %5s%% %9s  %s',
                  CASE kind WHEN 'dyn_call' THEN $$'agent-' || (g % 100)  (100 agents)$$
                            ELSE $$'agent-7'  (constant)$$ END,
                  to_char(with_call, 'FM990.000'), to_char(without_call, 'FM990.000'),
                  round(spread * 100), to_char(us_per_call, 'FM9990.000'), 'none set (informational)')
    FROM b
    UNION ALL SELECT 15, format('   verified: each query calls the function %s times (track_functions = all); EXPLAIN shows the call in the Aggregate output', :calls)
    UNION ALL SELECT 16, format('   note: the LATERAL form "count(*) ... LATERAL (SELECT execlave_assert_active(...)) x" calls it %s times', :lateral_calls)
) r ORDER BY o;
SQL
)

echo
echo "$REPORT"
# keep a copy of the last report (test/bench/out/ is git-ignored)
bench_save_report kill_switch.last.txt "$REPORT"
