#!/usr/bin/env bash
# Dashboard benchmark for execlave (not part of the test suite).
#
#   bash test/bench/dashboard.sh
#
# Through the real front (nginx + PostgREST, started by scripts/http.sh for
# the benchmark's own database on a free loopback port, stopped after), in
# Debian's chromium (headless) driven by test/browser/bench_dashboard.js:
# A. Time to first render of the Agents page with BENCH_AGENTS agents
#    (default 10,000) and of the Violations page with BENCH_VIOLATIONS
#    violations (default 1,000,000, over the last 7 days, 20 policies):
#    from navigation to the first page of rows on screen, signed in (the key
#    in sessionStorage), a fresh load without the browser cache; median of
#    BENCH_ROUNDS (default 5) after one warm-up.  Target <= 300 ms: the server
#    pages (50 rows), and counts violations up to 10,001 only.  Also, in the
#    page's own clock (from its navigation start, so without the start of
#    its renderer process): when the HTML arrived, when the app first
#    rendered (its modules loaded and run) and when the rows showed.  The
#    machine's load average is printed with the report.
# B. The bytes the browser downloads for the Agents page (HTML, modules,
#    CSS, the API answers; gzip as nginx sends it) and for the Violations
#    page with its chart (uPlot is loaded there).  Target <= 300 KB.
# C. The dashboard's calls alone (POST /rest/rpc/dashboard_*, 20 each): median ms.
#
# Runs in its own database, execlave_bench_dashboard, dropped and recreated
# every run and left in place afterwards.  The report is also written to
# test/bench/out/dashboard.last.txt.
# Settings (environment):
#   PGHOST/PGPORT/PGUSER   server (default: the local cluster of scripts/local.sh)
#   BENCH_AGENTS, BENCH_VIOLATIONS, BENCH_ROUNDS
set -euo pipefail

BENCH_NAME=dashboard.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AGENTS=${BENCH_AGENTS:-10000}
VIOLATIONS=${BENCH_VIOLATIONS:-1000000}
ROUNDS=${BENCH_ROUNDS:-5}
bench_check_int AGENTS VIOLATIONS ROUNDS
DB=execlave_bench_dashboard

bench_check_server
bash "$REPO/scripts/http.sh" missing >/dev/null || bash "$REPO/scripts/http.sh" install
. "$REPO/scripts/common.sh"
ensure_browser_tests

WORK=$(mktemp -d /tmp/execlave-bench-dashboard.XXXXXX)
chmod 755 "$WORK"
FRONT=$WORK/front
cleanup() { bash "$REPO/scripts/http.sh" stop "$FRONT" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

bench_recreate_db "$DB"
echo "==> setup: $AGENTS agents, $VIOLATIONS violations over 7 days, traces today, an admin key"
q "$DB" <<SQL | progress
SET client_min_messages = warning;
CREATE EXTENSION execlave;
INSERT INTO execlave.agents (key, name)
SELECT 'agent-' || lpad(g::text, 5, '0'), 'Agent number ' || g FROM generate_series(1, $AGENTS) g;
INSERT INTO execlave.traces (agent_key, input, output, model, cost_usd, started_at)
SELECT 'agent-' || lpad((1 + g % $AGENTS)::text, 5, '0'), 'question ' || g, 'answer ' || g, 'gpt-4o', 0.001 * (g % 50),
       now() - (g % 3600) * interval '1 second'
FROM generate_series(1, 20000) g;
INSERT INTO execlave.violations (policy_id, policy_name, policy_type, mode, agent_id, agent_key, trace_id, phase, message, details, recorded_by, created_at)
SELECT p.id, p.name, 'pii_detection', (ARRAY['log', 'flag', 'block'])[1 + g % 3], a.id, a.key, NULL,
       CASE WHEN g % 2 = 0 THEN 'ingestion' ELSE 'pre_execution' END, 'email found in input',
       jsonb_build_object('input', jsonb_build_object('email', 1)), 'bench',
       now() - (g::double precision / $VIOLATIONS) * interval '7 days'
FROM generate_series(1, $VIOLATIONS) g
JOIN (SELECT gen_random_uuid() AS id, 'policy-' || i AS name, i FROM generate_series(0, 19) i) p ON p.i = g % 20
JOIN (SELECT id, key, row_number() OVER (ORDER BY key) - 1 AS n FROM execlave.agents) a ON a.n = g % $AGENTS;
SELECT count(execlave_pause_agent(key, 'bench')) FROM execlave.agents WHERE key LIKE '%7' AND key < 'agent-01000';
ANALYZE;
SQL
KEY=$(q "$DB" -Atc "SELECT api_key FROM execlave_create_api_key('bench', 'bench', 'admin')")

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=$(( 42000 + RANDOM % 10000 ))
while ! port_free "$PORT"; do PORT=$(( 42000 + RANDOM % 10000 )); done
echo "==> starting nginx + PostgREST on 127.0.0.1:$PORT (scripts/http.sh)"
bash "$REPO/scripts/http.sh" start "$FRONT" --pghost "$PGHOST" --pgport "$PGPORT" --db "$DB" --superuser "$PGUSER" --port "$PORT"

echo "==> measuring in chromium (headless), $ROUNDS rounds"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
REPORT=$(EXECLAVE_BENCH_KEY=$KEY node "$REPO/test/browser/bench_dashboard.js" "http://127.0.0.1:$PORT" "$ROUNDS" "$AGENTS" "$VIOLATIONS")
REPORT="$REPORT
load average (1, 5, 15 min) before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '%s\n' "$REPORT"
bench_save_report dashboard.last.txt "$REPORT"
