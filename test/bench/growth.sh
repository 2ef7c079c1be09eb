#!/usr/bin/env bash
# How the trace INSERT's cost grows with the number of policies (not part of
# the test suite).
#
#   bash test/bench/growth.sh
#
# Ten agents (agent-0 .. agent-9) and the five log-mode policies of
# policies.sh C (injection, pii with masking, models, tokens, tools), every
# agent; then 995 more policies, each scoped to one of 995 other agents
# (other-0 ..), of the same five types in turn, so 1,000 policies exist and
# still only the five apply to the agents the rows name.  One INSERT ...
# SELECT of BENCH_ROWS traces (about 1.5 KB of clean prose as input, 0.4 KB
# output, model gpt-4o, tools {search}, tokens below the limit, so no
# violation) for the ten agents in turn, timed from before the statement to
# after its COMMIT, into execlave.traces emptied by TRUNCATE after a
# CHECKPOINT, with the 995 policies disabled ("5 policies") and enabled
# ("1000 policies"), the order alternating every round after an untimed
# warm-up of each (which also loads the changed policy set into the cache).
# ratio = rows/s with 1000 policies / rows/s with 5; target >= 0.90.
#
# Runs in its own database, execlave_bench_growth, dropped and recreated
# every run and left in place afterwards.  The report is also written to
# test/bench/out/growth.last.txt.
# Settings (environment):
#   PGHOST/PGPORT/PGUSER   server (default: the local cluster of scripts/local.sh)
#   BENCH_ROWS             rows per INSERT (default 30000)
#   BENCH_ROUNDS           measured rounds (default 5)
set -euo pipefail

ROWS=${BENCH_ROWS:-30000}
ROUNDS=${BENCH_ROUNDS:-5}
DB=execlave_bench_growth
TARGET=0.90

BENCH_NAME=growth.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

bench_check_int ROWS ROUNDS
bench_check_server
START_TIME=$SECONDS
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

bench_recreate_db "$DB"
echo "==> setup: 10 + 995 agents, 5 policies for every agent, 995 scoped to one other agent each"
q "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION execlave;
CREATE SCHEMA bench;
SELECT count(execlave_register_agent('agent-' || i)) FROM generate_series(0, 9) i;
SELECT count(execlave_register_agent('other-' || i)) FROM generate_series(0, 994) i;
SELECT execlave_create_policy('injection', 'prompt_injection', 'log', '{}');
SELECT execlave_create_policy('pii', 'pii_detection', 'log', '{"mask": true}');
SELECT execlave_create_policy('models', 'model_allowlist', 'log', '{"allow": ["gpt-4o*", "claude-3-*"]}');
SELECT execlave_create_policy('tokens', 'token_limit', 'log', '{"max_total_tokens": 8000}');
SELECT execlave_create_policy('tools', 'tool_access', 'log', '{"allow": ["search", "calculator", "fs.*"], "deny": ["shell"]}');
SELECT count(execlave_create_policy('other-' || i,
    (ARRAY['prompt_injection', 'pii_detection', 'model_allowlist', 'token_limit', 'tool_access'])[1 + i % 5],
    'log',
    (ARRAY['{}', '{"mask": true}', '{"allow": ["gpt-4o*"]}', '{"max_total_tokens": 8000}',
           '{"allow": ["search"]}'])[1 + i % 5]::jsonb,
    ARRAY['other-' || i]))
FROM generate_series(0, 994) i;

CREATE TABLE bench.results (variant text, round int, secs float8, PRIMARY KEY (variant, round));

CREATE FUNCTION bench.insert_sql(nrows int) RETURNS text LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp AS $f$
SELECT format($i$
INSERT INTO execlave.traces (agent_key, started_at, duration_ms, status, model, input, output,
                             prompt_tokens, completion_tokens, total_tokens, cost_usd, tools)
SELECT 'agent-' || (g %% 10), now() - g * interval '10 ms', 150 + g %% 4000, 'success', 'gpt-4o',
       'Request ' || g || '. ' || repeat('The invoice total does not match the order confirmation they received last week. ', 18),
       repeat('A refund of the difference is suggested to the customer. ', 7),
       300 + g %% 400, 100 + g %% 150, 400 + g %% 550, 0.0012, ARRAY['search']
FROM generate_series(1, %s) g$i$, nrows)
$f$;

-- with: true = the 995 other policies enabled
CREATE PROCEDURE bench.set_others(enabled boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $p$
BEGIN
    UPDATE execlave.policies SET active = enabled WHERE name LIKE 'other-%' AND active <> enabled;
END
$p$;

CREATE PROCEDURE bench.run(nrows int, nrounds int)
LANGUAGE plpgsql AS $p$
DECLARE
    variants text[];
    v text;
    t0 timestamptz;
BEGIN
    FOR r IN 0..nrounds LOOP
        variants := CASE WHEN r % 2 = 0 THEN ARRAY['5', '1000'] ELSE ARRAY['1000', '5'] END;
        FOREACH v IN ARRAY variants LOOP
            CALL bench.set_others(v = '1000');
            COMMIT;
            -- warm-up: the changed set is loaded into the cache, untimed
            EXECUTE bench.insert_sql(CASE WHEN r = 0 THEN 2000 ELSE 10 END);
            TRUNCATE execlave.traces;
            COMMIT;
            CHECKPOINT;
            IF r = 0 THEN
                CONTINUE;
            END IF;
            t0 := clock_timestamp();
            EXECUTE bench.insert_sql(nrows);
            COMMIT;
            INSERT INTO bench.results VALUES (v, r, extract(epoch FROM clock_timestamp() - t0));
            COMMIT;
            RAISE NOTICE 'round %/% % policies: % s', r, nrounds, v,
                round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3);
        END LOOP;
    END LOOP;
END
$p$;
SQL

echo "==> checking: the rows raise no violation; the policies in force"
CHECK=$(q "$DB" -At <<'SQL'
CALL bench.set_others(true);
BEGIN;
SELECT bench.insert_sql(100) AS ins \gset
:ins;
SELECT count(*) FILTER (WHERE active) || ' active policies, ' || count(*) FILTER (WHERE active AND agent_ids IS NULL) || ' of them for every agent; '
    || (SELECT count(*) FROM execlave.violations) || ' violations after 100 rows'
FROM execlave.policies;
ROLLBACK;
SQL
)
echo "    $CHECK"

echo "==> INSERT of $ROWS traces, $ROUNDS rounds x 2 variants (+ warm-up round)"
q "$DB" -c "SET jit = off" -c "SET max_parallel_workers_per_gather = 0" \
    -c "CALL bench.run($ROWS, $ROUNDS)" 2>&1 | progress

REPORT=$(q "$DB" -At -F'|' <<'SQL'
WITH m AS (
    SELECT variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS med,
           (max(secs) - min(secs)) / percentile_cont(0.5) WITHIN GROUP (ORDER BY secs) AS spread
    FROM bench.results GROUP BY variant),
pr AS (
    SELECT min(a.secs / b.secs) AS lo, max(a.secs / b.secs) AS hi
    FROM bench.results a JOIN bench.results b ON a.round = b.round AND a.variant = '5' AND b.variant = '1000')
SELECT m.variant, round(m.med::numeric, 3), round((SELECT count(*) FROM execlave.traces) + 0),
       round(100 * m.spread), round((f.med / m.med)::numeric, 3), round(pr.lo::numeric, 2), round(pr.hi::numeric, 2)
FROM m, m f, pr WHERE f.variant = '5' ORDER BY m.variant::int;
SQL
)

{
    echo
    echo "Trace INSERT with 5 and with 1000 policies (5 apply to the agents of the rows): one INSERT ... SELECT of $ROWS rows + COMMIT"
    echo "   $CHECK"
    printf '   %-44s %9s %9s %7s %7s %11s %s\n' "policies" "median s" "rows/s" "spread" "ratio" "per-round" "target"
    RATIO=
    while IFS='|' read -r v med _ spread ratio lo hi; do
        rps=$(awk -v r="$ROWS" -v s="$med" 'BEGIN {printf "%.0f", r / s}')
        if [ "$v" = 5 ]; then
            printf '   %-44s %9s %9s %6s%% %7s %11s %s\n' "5 (every agent)" "$med" "$rps" "$spread" "1.000" "" "baseline"
        else
            RATIO=$ratio
            verdict=$(awk -v r="$ratio" -v t="$TARGET" 'BEGIN {print (r >= t) ? "PASS" : "BELOW TARGET"}')
            printf '   %-44s %9s %9s %6s%% %7s %11s %s\n' "1000 (995 scoped to other agents)" "$med" "$rps" "$spread" \
                "$ratio" "$lo..$hi" ">= $TARGET  $verdict"
        fi
    done <<<"$REPORT"
    echo "   ratio = rows/s with 1000 / rows/s with 5 (medians); per-round = min..max of that ratio within one round"
    echo
    echo "summary: 1000 policies / 5 policies $RATIO (>= $TARGET) | $((SECONDS - START_TIME)) s in all"
} | tee "$WORK/report.txt"
bench_save_report growth.last.txt "$(cat "$WORK/report.txt")"
