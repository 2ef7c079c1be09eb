/*
 * fuzz_fail.h
 *		How a harness reports a broken invariant: print a line to stderr and
 *		abort(), so libFuzzer saves the input as a crash.
 *
 * Define FUZZ_FAIL_PREFIX (e.g. "fuzz_pii: invariant violated: ") and
 * include this file once: it defines static void fail(const char *fmt, ...).
 */
#ifndef FUZZ_FAIL_H
#define FUZZ_FAIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef FUZZ_FAIL_PREFIX
#error "define FUZZ_FAIL_PREFIX before including fuzz_fail.h"
#endif

static void fail(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

static void
fail(const char *fmt,...)
{
	va_list		ap;

	fputs(FUZZ_FAIL_PREFIX, stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#endif							/* FUZZ_FAIL_H */
