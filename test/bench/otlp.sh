#!/usr/bin/env bash
# OTLP ingestion benchmark for execlave (not part of the test suite).
#
#   bash test/bench/otlp.sh
#
# Spans/s of POST /v1/traces through the real front (nginx + PostgREST 12.0.2,
# started by scripts/http.sh for the benchmark's own database on a free
# loopback port, stopped after), in batches of BENCH_SPANS (512) GenAI chat
# spans made with the OpenTelemetry JS SDK and serialized by its own OTLP
# serializers (test/otel/bodies.js), as JSON and as protobuf, against the same
# traces inserted by SQL (one INSERT ... VALUES of the batch's rows, as the
# mapping makes them, per statement, through psql).  Each variant sends
# BENCH_BATCHES batches from each of BENCH_CLIENTS clients at once (curl for
# HTTP, psql for SQL); every batch holds fresh spans (no retry is measured);
# BENCH_ROUNDS rounds with the variants' order rotating; medians.  Ratios
# protobuf/SQL (target >= 0.5) and JSON/SQL.  Every HTTP request must be
# answered 200 without partialSuccess, and every span must be stored.
#
# Runs in its own database, execlave_bench_otlp, dropped and recreated every
# run and left in place afterwards.  The report is also written to
# test/bench/out/otlp.last.txt.
# Settings (environment):
#   PGHOST/PGPORT/PGUSER   server (default: the local cluster of scripts/local.sh)
#   BENCH_ROUNDS           rounds (default 3)
#   BENCH_CLIENTS          clients at once (default 2)
#   BENCH_BATCHES          batches per client per round (default 4)
#   BENCH_SPANS            spans per batch (default 512)
set -euo pipefail

BENCH_NAME=otlp.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-2}
BATCHES=${BENCH_BATCHES:-4}
SPANS=${BENCH_SPANS:-512}
bench_check_int ROUNDS CLIENTS BATCHES SPANS
DB=execlave_bench_otlp
TARGET=0.5

bench_check_server
bash "$REPO/scripts/http.sh" missing >/dev/null || bash "$REPO/scripts/http.sh" install
if [ ! -d "$REPO/test/otel/node_modules/@opentelemetry/otlp-transformer" ]; then
    echo "==> installing test/otel's npm packages (npm ci)"
    (cd "$REPO/test/otel" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed in test/otel"
fi

WORK=$(mktemp -d /tmp/execlave-bench-otlp.XXXXXX)
chmod 755 "$WORK"
FRONT=$WORK/front
cleanup() { bash "$REPO/scripts/http.sh" stop "$FRONT" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

bench_recreate_db "$DB"
echo "==> setup: an agent, an admin key"
q "$DB" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION execlave;
SELECT execlave_maintenance();
SELECT execlave_register_agent('bench-a');
SQL
KEY=$(q "$DB" -Atc "SELECT api_key FROM execlave_create_api_key('bench', 'prod', 'admin')")

# distinct batches for every variant, client and round
PER_VARIANT=$((ROUNDS * CLIENTS * BATCHES))
echo "==> making $((3 * PER_VARIANT)) batches of $SPANS spans with the OpenTelemetry SDK"
for v in json proto sql; do
    node "$REPO/test/otel/bodies.js" "$WORK/$v" "$PER_VARIANT" "$SPANS" bench-a
done
chmod -R a+rX "$WORK"
# the SQL variant: each batch's rows as the mapping makes them, as one INSERT ... VALUES
for i in $(seq 1 "$PER_VARIANT"); do
    q "$DB" -Atc "SELECT 'INSERT INTO execlave.traces (trace_id, agent_key, started_at, duration_ms, status, input, output, model,
                      prompt_tokens, completion_tokens, total_tokens, environment, tools, metadata, span_type) VALUES '
                  || string_agg(format('(%L, %L, %L, %s, %L, %L, %L, %L, %s, %s, %s, %L, %L, %L, %L)',
                         x.trace_id, x.agent_key, x.started_at, x.duration_ms, x.status, x.input, x.output, x.model,
                         x.prompt_tokens, x.completion_tokens, x.total_tokens, x.environment, x.tools, x.metadata,
                         x.span_type), ', ') || ';'
                  FROM jsonb_to_recordset(execlave.otlp_decode(pg_read_binary_file('$WORK/sql/$i.pb')) -> 'traces')
                       AS x(trace_id text, agent_key text, started_at timestamptz, duration_ms float8, status text,
                            input text, output text, model text, prompt_tokens int, completion_tokens int,
                            total_tokens int, environment text, tools text[], metadata jsonb, span_type text)" >"$WORK/sql/$i.sql"
done

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=$(( 42000 + RANDOM % 10000 ))
while ! port_free "$PORT"; do PORT=$(( 42000 + RANDOM % 10000 )); done
echo "==> starting nginx + PostgREST on 127.0.0.1:$PORT (scripts/http.sh)"
bash "$REPO/scripts/http.sh" start "$FRONT" --pghost "$PGHOST" --pgport "$PGPORT" --db "$DB" --superuser "$PGUSER" \
    --port "$PORT" --otlp-port off
URL=http://127.0.0.1:$PORT/v1/traces

# one client: its batches of variant $1 for round $2, one after the other
client() {
    local v=$1 round=$2 c=$3 b i code
    for b in $(seq 1 "$BATCHES"); do
        i=$(( ((round - 1) * CLIENTS + (c - 1)) * BATCHES + b ))
        case $v in
            sql) q "$DB" -f "$WORK/sql/$i.sql" || { echo "sql batch $i failed" >&2; return 1; } ;;
            json | proto)
                local ext=json ctype=application/json
                [ "$v" = proto ] && ext=pb ctype=application/x-protobuf
                code=$(curl -s -o "$WORK/answer.$v.$c" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
                    -H "Content-Type: $ctype" --data-binary "@$WORK/$v/$i.$ext" "$URL")
                if [ "$code" != 200 ] || { [ "$v" = json ] && [ "$(cat "$WORK/answer.$v.$c")" != '{}' ]; } ||
                   { [ "$v" = proto ] && [ -s "$WORK/answer.$v.$c" ]; }; then
                    echo "$v batch $i: HTTP $code: $(head -c 300 "$WORK/answer.$v.$c")" >&2
                    return 1
                fi
                ;;
        esac
    done
}

# spans/s of variant $1 in round $2: all clients at once
run_variant() {
    local v=$1 round=$2 c t0 t1 pids=() failed=0
    t0=$(date +%s.%N)
    for c in $(seq 1 "$CLIENTS"); do client "$v" "$round" "$c" & pids+=($!); done
    for c in "${pids[@]}"; do wait "$c" || failed=1; done
    t1=$(date +%s.%N)
    [ "$failed" -eq 0 ] || die "variant $v failed in round $round"
    awk -v n=$((CLIENTS * BATCHES * SPANS)) -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }'
}

variants=(sql json proto)
declare -A results
# warm-up: PostgREST's and the backends' caches (one batch of each, not counted)
node "$REPO/test/otel/bodies.js" "$WORK/warm" 1 "$SPANS" bench-a
curl -s -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/x-protobuf' --data-binary "@$WORK/warm/1.pb" "$URL"
echo "==> $ROUNDS rounds: $CLIENTS clients x $BATCHES batches of $SPANS spans per variant"
for r in $(seq 1 "$ROUNDS"); do
    line="    round $r/$ROUNDS:"
    for k in 0 1 2; do
        v=${variants[$(((r + k) % 3))]}
        rate=$(run_variant "$v" "$r")
        results[$v]="${results[$v]:-} $rate"
        line+=" $v $rate"
    done
    echo "$line spans/s"
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
SQL_RATE=$(echo "${results[sql]}" | median)
JSON_RATE=$(echo "${results[json]}" | median)
PROTO_RATE=$(echo "${results[proto]}" | median)
STORED=$(q "$DB" -Atc "SELECT count(*) FROM execlave.traces")
EXPECTED=$(( 3 * PER_VARIANT * SPANS + SPANS ))
[ "$STORED" -eq "$EXPECTED" ] || die "$STORED traces stored, expected $EXPECTED"
PRICED=$(q "$DB" -Atc "SELECT count(*) FROM execlave.traces WHERE cost_usd IS NULL")
[ "$PRICED" -eq 0 ] || die "$PRICED traces without a cost"

REPORT=$(cat <<EOF
otlp.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), $ROUNDS rounds, $CLIENTS clients x $BATCHES batches of $SPANS GenAI spans per variant, medians
  SQL INSERT (the same rows)   $SQL_RATE spans/s
  POST /v1/traces JSON         $JSON_RATE spans/s   ratio $(awk -v a="$JSON_RATE" -v b="$SQL_RATE" 'BEGIN { printf "%.2f", a / b }')
  POST /v1/traces protobuf     $PROTO_RATE spans/s   ratio $(awk -v a="$PROTO_RATE" -v b="$SQL_RATE" 'BEGIN { printf "%.2f", a / b }') (target >= $TARGET)
  every span stored once ($STORED traces), every one priced from execlave.model_prices
EOF
)
echo "$REPORT"
bench_save_report otlp.last.txt "$REPORT"
