#!/usr/bin/env bash
#
# sanitize.sh
#	Run the whole regression and TAP suite once with every server process
#	under valgrind (memcheck) and the extension built with UBSan, then report
#	the memory and undefined-behaviour errors attributable to execlave.
#
#	bash test/sanitize.sh              regress + TAP (about 35 minutes on 2 cores)
#	bash test/sanitize.sh regress      only pg_regress
#	bash test/sanitize.sh tap [files]  only TAP (optionally some files)
#
# How: the extension is built with -fsanitize=undefined (recoverable, each
# report logged with a stack) and -g -O1, and installed.  A scratch bin
# directory holds symlinks to PostgreSQL's programs, except a copy of pg_ctl
# (so it starts the postgres beside it) and a `postgres` script that runs the
# real server under valgrind.  Backends and background workers are forked,
# so all of them run under valgrind.  scripts/test.sh then runs the suite
# against that directory with generous timeouts.
#
# An error is attributed to execlave when a frame of its stack is a function
# of execlave.so.  Other valgrind reports (PostgreSQL itself writes padding
# bytes to disk and to shared memory, which memcheck reports without
# PostgreSQL's own suppression file) are counted but not failures.  Because
# this is a Debian build of PostgreSQL without USE_VALGRIND, memcheck sees
# malloc blocks but not individual palloc chunks: an overrun inside a memory
# context block is not caught here (the fuzzing harnesses under test/fuzz
# run the scanner code under AddressSanitizer for that).  AddressSanitizer
# cannot run in the server: a preloaded ASan runtime deadlocks the Debian
# postgres binary in bindtextdomain before main() gets anywhere.
#
# EXECLAVE_TEST_SLOW=1 tells the load tests (004, 008, 014) to use a smaller
# load and longer waits.  Test failures caused by the slowdown (timing-sensitive checks) are listed
# but do not decide the verdict, which is the last line:
#	"N passed, N failed" where a pass is a clean valgrind and UBSan verdict
#	(2 checks) - so the line reads "2 passed, 0 failed" when no error is
#	attributable to execlave.
# Reinstalls the normal build at the end.  Logs stay in the work directory it
# prints (SANITIZE_WORKDIR to choose it).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../scripts/common.sh"

ensure_deps || exit 1
command -v valgrind >/dev/null || {
    [ "$(id -u)" -eq 0 ] || die "valgrind is missing; install it with apt-get"
    log "installing valgrind"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends valgrind >/dev/null
}

work=${SANITIZE_WORKDIR:-$(mktemp -d /tmp/execlave-sanitize.XXXXXX)}
logs=$work/logs
bin=$work/bin
mkdir -p "$logs" "$bin"
chmod 777 "$logs"
chmod 755 "$work" "$bin"

# Split the valgrind logs into error records (blank-line separated) and
# attribute each: an invalid read, write or free, or a jump on an
# uninitialised value, is execlave's when a frame of its stack or of the
# stack that allocated the memory is one of its functions; a system
# call passing uninitialised bytes (PostgreSQL writes padding to WAL, files
# and sockets) only when the bytes came from execlave, i.e. when a frame of
# the origin's stack ("created by ...") is one of its functions.  Only the
# innermost 8 frames of each stack count, and a worker's main function or
# _PG_init only as one of the innermost 2: every frame of a background worker
# sits below execlave's worker main function, whatever PostgreSQL does there.
# usage: classify LOGDIR SYMBOLS OURS OTHERS (appends records to OURS / OTHERS)
classify() {
    : > "$3"
    : > "$4"
    for f in "$1"/valgrind.*.log; do
        [ -s "$f" ] || continue
        awk -v syms="$2" -v ours="$3" -v others="$4" -v file="$f" '
            BEGIN {
                while ((getline s < syms) > 0) known[s] = 1
                maxdepth = 8
                # entry points: everything PostgreSQL does below them is under them
                entry["execlave_recorder_main"] = 1; entry["execlave_webhook_worker_main"] = 1
                entry["_PG_init"] = 1
            }
            function flush() {
                if (rec == "") return
                mine = (rec ~ /^Syscall param/) ? in_origin : (in_stack || in_origin)
                if (mine) print "== " file "\n" rec >> ours
                else print "== " file "\n" rec >> others
                rec = ""; in_stack = 0; in_origin = 0; origin = 0; depth = 0
            }
            { sub(/^==[0-9]+== ?/, "") }
            /^$/ { flush(); next }
            /created by|alloc.d at|free.d at|bytes inside a block/ { origin = 1; depth = 0 }
            {
                rec = rec $0 "\n"
                if ($0 ~ /(at|by) 0x[0-9A-F]+: /) depth++
                if (match($0, /(at|by) 0x[0-9A-F]+: [A-Za-z_][A-Za-z0-9_]*/)) {
                    fn = substr($0, RSTART, RLENGTH); sub(/.*: /, "", fn)
                    if ((fn in known) && depth <= ((fn in entry) ? 2 : maxdepth)) { if (origin) in_origin = 1; else in_stack = 1 }
                }
            }
            END { flush() }
        ' "$f"
    done
}

# The classifier must tell execlave's errors from PostgreSQL's: check it on a
# known log before trusting its verdict (an invalid read in an execlave
# function, an uninitialised value execlave allocated, and PostgreSQL's
# relcache padding written under a worker's main function).
mkdir -p "$work/selftest"
printf '%s\n' execlave_check_webhook_url execlave_usage execlave_recorder_main > "$work/selftest/symbols"
cat > "$work/selftest/valgrind.1.log" <<'LOG'
==1== Invalid read of size 1
==1==    at 0x4848: strlen (vg_replace_strmem.c:1)
==1==    by 0x8836: execlave_check_webhook_url (webhooks.c:210)
==1==  Address 0x1 is 0 bytes after a block of size 16 alloc'd
==1==    at 0x4841: malloc (vg_replace_malloc.c:1)
==1== 
==1== Conditional jump or move depends on uninitialised value(s)
==1==    at 0x6DA: hash_search (in /usr/lib/postgresql/15/bin/postgres)
==1==  Uninitialised value was created by a stack allocation
==1==    at 0x8837: execlave_usage (windows.c:1300)
==1== 
==1== Syscall param write(buf) points to uninitialised byte(s)
==1==    at 0x58D3350: write (write.c:26)
==1==    by 0x5851B62: fwrite (iofwrite.c:39)
==1==  Uninitialised value was created by a heap allocation
==1==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==1==    by 0x6DADBF: ??? (in /usr/lib/postgresql/15/bin/postgres)
==1==    by 0x6E0D20: palloc (in /usr/lib/postgresql/15/bin/postgres)
==1==    by 0x6AE0E4: RelationCacheInitializePhase3 (in /usr/lib/postgresql/15/bin/postgres)
==1==    by 0x6C5D0D: InitPostgres (in /usr/lib/postgresql/15/bin/postgres)
==1==    by 0x88367F9: execlave_recorder_main (recorder.c:150)
LOG
classify "$work/selftest" "$work/selftest/symbols" "$work/selftest/ours" "$work/selftest/others"
if [ "$(grep -c '^== ' "$work/selftest/ours")" != 2 ] || [ "$(grep -c '^== ' "$work/selftest/others")" != 1 ]; then
    echo "sanitize.sh: the report classifier failed its self-test (see $work/selftest)"
    echo "0 passed, 1 failed"
    exit 1
fi

log "building execlave with UBSan and debug information"
make -C "$REPO" -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
build_install WERROR=1 \
    PG_CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=undefined -fno-sanitize=alignment -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare" \
    SHLIB_LINK="-lcurl -fsanitize=undefined" with_llvm=no || exit 1
so=$("$PG_CONFIG" --pkglibdir)/execlave.so
# the functions of execlave.so, to attribute stack frames
nm --defined-only "$so" | awk '$2 ~ /^[tT]$/ {print $3}' | sort -u > "$work/symbols"

real=$("$PG_CONFIG" --bindir)
for f in "$real"/*; do
    b=$(basename "$f")
    case $b in postgres | pg_ctl) ;; *) ln -sf "$f" "$bin/$b" ;; esac
done
cp "$real/pg_ctl" "$bin/pg_ctl"
cat > "$bin/postgres" <<EOF
#!/bin/sh
# the server under valgrind; its children are forked, so they stay under it
case "\$1" in -V|--version) exec "$real/postgres" "\$@" ;; esac
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$logs/ubsan" \\
exec valgrind --quiet --tool=memcheck --leak-check=no --track-origins=yes \\
    --error-limit=no --num-callers=30 --trace-children=no \\
    --log-file="$logs/valgrind.%p.log" "$real/postgres" "\$@"
EOF
chmod 755 "$bin/postgres"

log "running the suite under valgrind (logs in $logs)"
EXECLAVE_SKIP_BUILD=1 EXECLAVE_PGBIN=$bin EXECLAVE_START_TIMEOUT=600 EXECLAVE_TEST_SLOW=1 \
    PG_TEST_TIMEOUT_DEFAULT=300 KEEP_WORK=1 \
    bash "$REPO/scripts/test.sh" "${@:-server}" > "$work/suite.txt" 2>&1
suite=$(tail -n 1 "$work/suite.txt")
grep -E '^not ok|\.\.\. FAILED' "$work/suite.txt" > "$work/suite-failures.txt" || true

classify "$logs" "$work/symbols" "$work/execlave-errors.txt" "$work/other-errors.txt"
ours=$(grep -c '^== ' "$work/execlave-errors.txt")
others=$(grep -c '^== ' "$work/other-errors.txt")
ubsan=$(cat "$logs"/ubsan.* 2>/dev/null | grep -c 'runtime error' || true)
cat "$logs"/ubsan.* > "$work/ubsan-errors.txt" 2>/dev/null || true
nlogs=$(find "$logs" -name 'valgrind.*.log' | wc -l)

echo "suite under valgrind: $suite"
[ -s "$work/suite-failures.txt" ] && { echo "test failures under valgrind (timing, not memory errors unless listed below):"; sed 's/^/    /' "$work/suite-failures.txt"; }
echo "valgrind: $nlogs server processes, $ours errors attributable to execlave, $others elsewhere"
echo "UBSan: $ubsan reports"
[ "$ours" -gt 0 ] && { echo "--- execlave errors (first 80 lines; all in $work/execlave-errors.txt)"; head -n 80 "$work/execlave-errors.txt"; }
[ "$ubsan" -gt 0 ] && { echo "--- UBSan reports (first 40 lines)"; head -n 40 "$work/ubsan-errors.txt"; }
echo "work directory: $work"

log "reinstalling the normal build"
make -C "$REPO" -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
build_install >/dev/null

pass=0 fail=0
if [ "$ours" -eq 0 ] && [ "$nlogs" -gt 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
if [ "$ubsan" -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
