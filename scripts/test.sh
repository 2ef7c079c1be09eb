#!/usr/bin/env bash
# Command 2: the whole test suite on throwaway clusters.
#   bash scripts/test.sh             pg_regress tests, TAP tests, then the fuzzing harnesses
#   bash scripts/test.sh server      pg_regress and TAP tests only
#   bash scripts/test.sh regress     only pg_regress
#   bash scripts/test.sh tap [t/x.pl ...]  only TAP (optionally some files)
#   bash scripts/test.sh fuzz [seconds]     only the fuzzing harnesses (default 30 s each)
# Installs what is missing, builds and installs execlave, copies the tree to a
# scratch directory owned by the cluster user (initdb refuses root), runs the
# tests there and ends with the line "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/common.sh"

what=${1:-all}
shift || true

ensure_deps || exit 1
ensure_test_receiver || exit 1
ensure_browser_tests || exit 1
# the HTTP tests run the real PostgREST and nginx (scripts/http.sh)
bash "$REPO/scripts/http.sh" install || exit 1
# a compiler warning is a failure: clean first so every file is compiled
# (test/sanitize.sh installs its own instrumented build and skips this)
if [ -z "${EXECLAVE_SKIP_BUILD:-}" ]; then
    make -C "$REPO" -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
    if ! (build_install WERROR=1); then
        echo "0 passed, 1 failed"
        exit 1
    fi
fi

WORK=$(mktemp -d /tmp/execlave-test.XXXXXX)
(cd "$REPO" && tar --exclude=.git --exclude='*.o' --exclude='*.so' --exclude=tmp_check --exclude=results -cf - .) |
    tar -xf - -C "$WORK"
chown -R "$(pg_user)" "$WORK"
chmod 755 "$WORK"
OUT=$WORK/out
mkdir -p "$OUT"

passed=0
failed=0

run_regress() {
    local data=$WORK/regress-data sock=$WORK/regress-sock port
    port=$(( 55000 + RANDOM % 5000 ))
    while port_in_use "$port"; do port=$(( 55000 + RANDOM % 5000 )); done
    log "pg_regress on a throwaway cluster (port $port)"
    start_cluster "$data" "$sock" "$port" "$WORK/regress.log" || return 1
    as_pg "cd '$WORK' && PGHOST='$sock' PGPORT=$port PGUSER=postgres make -s installcheck PG_CONFIG='$PG_CONFIG' TAP_TESTS=" \
        > "$OUT/regress.txt" 2>&1
    stop_cluster "$data"
    cat "$OUT/regress.txt"
    local ok bad
    ok=$(grep -cE '\.\.\. ok' "$OUT/regress.txt")
    bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$OUT/regress.txt")
    if [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi   # pg_regress did not run
    [ -f "$WORK/regression.diffs" ] && [ "$bad" -gt 0 ] && cat "$WORK/regression.diffs"
    passed=$((passed + ok)); failed=$((failed + bad))
}

run_tap() {
    local tests="${*:-test/t/*.pl}" rc ok bad
    log "TAP tests: $tests"
    as_pg "cd '$WORK' && unset PGHOST PGPORT PGUSER PGDATABASE; make -s installcheck PG_CONFIG='$PG_CONFIG' bindir='$PGBIN' REGRESS= PROVE_FLAGS='-v' PROVE_TESTS='$tests'" \
        > "$OUT/tap.txt" 2>&1
    rc=$?
    cat "$OUT/tap.txt"
    ok=$(grep -cE '^ok [0-9]+' "$OUT/tap.txt")
    bad=$(grep -cE '^not ok [0-9]+' "$OUT/tap.txt")
    # a script that died between assertions counts as one failure
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
    if [ "$bad" -gt 0 ]; then
        # the logs of the files prove lists as failed (all logs if it named none)
        local names
        names=$(sed -n 's|^test/t/\([^ ]*\)\.pl  *(Wstat.*|\1|p' "$OUT/tap.txt")
        [ -n "$names" ] || names='*'
        for n in $names; do
            for f in "$WORK"/tmp_check/log/regress_log_$n "$WORK"/tmp_check/log/$n*.log; do
                [ -f "$f" ] && { echo "--- $f (tail)"; tail -n 60 "$f"; }
            done
        done
    fi
    passed=$((passed + ok)); failed=$((failed + bad))
}

# The libFuzzer harnesses of test/fuzz over their committed corpus, each for
# a while (30 s by default); every harness is one test.
run_fuzz() {
    local secs=${1:-30} ok bad
    log "fuzzing harnesses, ${secs} s each"
    if ! ensure_deps "${FUZZ_DEPS[@]}"; then
        echo "could not install ${FUZZ_DEPS[*]}"
        failed=$((failed + 1))
        return
    fi
    # two at a time: the machine has two cores and nothing else runs by then
    FUZZ_JOBS=${FUZZ_JOBS:-2} bash "$REPO/test/fuzz/run.sh" "$secs" > "$OUT/fuzz.txt" 2>&1
    cat "$OUT/fuzz.txt"
    ok=$(grep -cE '^fuzz_[a-z_]+: PASS' "$OUT/fuzz.txt")
    bad=$(grep -cE '^fuzz_[a-z_]+: FAIL' "$OUT/fuzz.txt")
    if [ "$ok" -eq 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi   # run.sh could not run
    passed=$((passed + ok)); failed=$((failed + bad))
}

case "$what" in
    all) run_regress; run_tap; run_fuzz ;;
    server) run_regress; run_tap ;;
    regress) run_regress ;;
    tap) run_tap "$@" ;;
    fuzz) run_fuzz "$@" ;;
    *) die "usage: $0 [all|server|regress|tap [files]|fuzz [seconds]]" ;;
esac

if [ "$failed" -eq 0 ] && [ -z "${KEEP_WORK:-}" ]; then rm -rf "$WORK"; else log "test files kept in $WORK"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
