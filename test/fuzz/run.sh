#!/usr/bin/env bash
#
# run.sh
#	Build the libFuzzer harnesses of test/fuzz with clang-14 and run each for
#	a while over its committed corpus.
#
#	bash test/fuzz/run.sh [seconds per harness, default 30]
#
# Installs nothing: exits 2 with a message if clang-14 or its libFuzzer
# runtime is missing, or PostgreSQL's server headers and static src/common
# libraries (postgresql-server-dev-15), libcurl or libcrypto (libssl-dev),
# which fuzz_policy_config and the webhook harnesses link against, or
# protoc-c and libprotobuf-c (fuzz_otlp).  The committed corpus directory is only read: each
# harness gets a fresh temporary directory first on its command line, which
# is where libFuzzer writes the new inputs it finds, and the committed one
# second.  Prints one line per harness and a final "N passed, N failed";
# exits 1 if any harness crashed, hit an invariant, timed out, ran out of
# memory or failed to build.  Crash inputs and logs are kept in the work
# directory it prints (FUZZ_WORKDIR to choose it); it is removed when every
# harness passed, unless FUZZ_KEEP=1.
#
# Environment: CC (default clang-14), PG_CONFIG (default PostgreSQL 15's),
# FUZZ_JOBS (harnesses run at the same time, default 1), FUZZ_WORKDIR,
# FUZZ_KEEP, FUZZ_FLAGS
# (extra libFuzzer flags, e.g. "-jobs=2" or "-max_len=65536").

set -u

HARNESSES="fuzz_pii fuzz_inj fuzz_netcheck fuzz_policy_config fuzz_webhook_url fuzz_webhook_sign fuzz_otlp"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-30}
cc=${CC:-clang-14}

case "$secs" in
	'' | *[!0-9]*)
		echo "usage: bash test/fuzz/run.sh [seconds per harness, default 30]" >&2
		exit 2
		;;
esac

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "run.sh: $cc not found; install clang-14 (e.g. apt-get install clang-14) or set CC" >&2
	exit 2
fi

pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
pgserver=$("$pg_config" --includedir-server 2>/dev/null)
pglib=$("$pg_config" --libdir 2>/dev/null)
pgpkglib=$("$pg_config" --pkglibdir 2>/dev/null)
if [ ! -f "$pgserver/postgres.h" ]; then
	echo "run.sh: PostgreSQL server headers not found (pg_config $pg_config); install postgresql-server-dev-15 or set PG_CONFIG" >&2
	exit 2
fi
pgcommon=
for d in "$pgpkglib" "$pglib"; do
	if [ -f "$d/libpgcommon.a" ] && [ -f "$d/libpgport.a" ]; then
		pgcommon="$d/libpgcommon.a $d/libpgport.a"
		break
	fi
done
if [ -z "$pgcommon" ]; then
	echo "run.sh: libpgcommon.a / libpgport.a not found under $pgpkglib or $pglib" >&2
	exit 2
fi

work=${FUZZ_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/execlave-fuzz.XXXXXX")}
mkdir -p "$work" || exit 2

# Is the fuzzer runtime there?  Link a trivial harness.
probe="$work/probe.c"
cat >"$probe" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void) d; (void) n; return 0; }
EOF
if ! "$cc" -fsanitize=fuzzer,address,undefined "$probe" -o "$work/probe" >"$work/probe.log" 2>&1; then
	echo "run.sh: $cc cannot link -fsanitize=fuzzer,address,undefined (libFuzzer or sanitizer runtime missing?):" >&2
	sed 's/^/    /' "$work/probe.log" >&2
	echo "run.sh: install the clang-14 compiler runtime (libclang-rt-14-dev on Debian," \
		"libclang-common-14-dev on Ubuntu 22.04)" >&2
	[ -z "${FUZZ_WORKDIR:-}" ] && rm -rf "$work"
	exit 2
fi
rm -f "$probe" "$work/probe" "$work/probe.log"

cflags="-g -O1 -Wall -Wextra -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
pass=0
nfail=0
jobs=${FUZZ_JOBS:-1}
built=

# The OTLP messages' C code (fuzz_otlp), as the Makefile generates it
mkdir -p "$work/proto"
if ! protoc-c --proto_path="$root/src/proto" --c_out="$work/proto" "$root/src/proto/otlp_trace.proto" >"$work/protoc.log" 2>&1; then
	echo "run.sh: protoc-c failed (install protobuf-c-compiler and libprotobuf-c-dev):" >&2
	sed 's/^/    /' "$work/protoc.log" >&2
fi

# Build every harness first.
for h in $HARNESSES; do
	extra=
	case $h in
		fuzz_netcheck) srcs="$root/src/standalone/netcheck.c" ;;
		fuzz_policy_config)
			# src/policy_config.c unchanged, against the server headers and
			# a fake backend (pgshim.c: memory, errors, lists, Jsonb)
			extra="-isystem $pgserver -Wno-ignored-attributes"
			srcs="$here/pgshim.c $root/src/policy_config.c $root/src/standalone/pii.c $root/src/standalone/injection.c -lm"
			;;
		fuzz_webhook_url) srcs="$root/src/standalone/webhook_check.c -lcurl" ;;
		fuzz_webhook_sign)
			# the frontend build of src/common's HMAC and base64
			extra="-DFRONTEND -isystem $pgserver"
			srcs="$root/src/standalone/webhook_sign.c $pgcommon -lcrypto"
			;;
		fuzz_pii) srcs="$root/src/standalone/pii.c" ;;
		fuzz_otlp)
			# the wire check and mapping with libprotobuf-c and the generated code
			extra="-I$work/proto"
			srcs="$root/src/standalone/otlp_map.c $work/proto/otlp_trace.pb-c.c -lprotobuf-c"
			;;
		*) srcs="$root/src/standalone/injection.c" ;;
	esac
	# shellcheck disable=SC2086
	if "$cc" $cflags $extra -I"$root/src" -I"$root/src/standalone" "$here/$h.c" $srcs -o "$work/$h" >"$work/$h.build.log" 2>&1; then
		built="$built $h"
	else
		echo "$h: FAIL (build failed, see $work/$h.build.log)"
		nfail=$((nfail + 1))
	fi
done

# Run one harness over a fresh directory and its committed corpus.
run_one() {
	local h=$1 corpus="$here/corpus/$1" dict=()

	rm -rf "$work/$h.new"
	mkdir -p "$work/$h.new" "$work/artifacts"
	[ -f "$here/$h.dict" ] && dict=(-dict="$here/$h.dict")
	[ -d "$corpus" ] || corpus=
	# shellcheck disable=SC2086
	"$work/$h" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=25 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/$h-" \
		${dict[@]+"${dict[@]}"} ${FUZZ_FLAGS:-} "$work/$h.new" $corpus >"$work/$h.log" 2>&1
	echo $? >"$work/$h.rc"
}

# Run them, FUZZ_JOBS at a time (default 1), then report in order.
running=0
for h in $built; do
	run_one "$h" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

for h in $built; do
	log="$work/$h.log"
	rc=$(cat "$work/$h.rc" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	covline=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	cov=$(echo "$covline" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$covline" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	stats="${secs}s, ${execs:-?} execs, cov ${cov:-?}, ft ${ft:-?}"

	if [ "$rc" -eq 0 ]; then
		echo "$h: PASS ($stats)"
		pass=$((pass + 1))
	else
		artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		reason=$(grep -m 1 -E 'invariant violated|ERROR: (AddressSanitizer|libFuzzer|UndefinedBehaviorSanitizer)|runtime error|SUMMARY' "$log")
		echo "$h: FAIL (exit $rc, $stats): ${reason:-see log}"
		echo "    log: $log"
		[ -n "$artifact" ] && echo "    input: $artifact"
		nfail=$((nfail + 1))
	fi
done

echo "$pass passed, $nfail failed"
if [ $nfail -eq 0 ] && [ "${FUZZ_KEEP:-0}" != 1 ] && [ -z "${FUZZ_WORKDIR:-}" ]; then
	rm -rf "$work"
else
	echo "work directory: $work"
fi
[ $nfail -eq 0 ]
