/*
 * fuzz_policy_config.c
 *		libFuzzer harness for the policy-config validator and compiler of
 *		src/policy_config.c: execlave_policy_compile, execlave_policy_type and
 *		execlave_policy_mode.
 *
 *	PG=$(pg_config --includedir-server)
 *	clang-14 -g -O1 -Wall -Wextra -Wno-ignored-attributes \
 *		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *		-Isrc -Isrc/standalone -I$PG test/fuzz/fuzz_policy_config.c test/fuzz/pgshim.c \
 *		src/policy_config.c src/standalone/pii.c src/standalone/injection.c -lm -o /tmp/fuzz_policy_config
 *
 * No server is needed: policy_config.c is compiled unchanged against the
 * PostgreSQL 15 server headers and linked with pgshim.c, a fake backend
 * (arena palloc, ereport(ERROR) as siglongjmp, array List, a Jsonb iterator
 * over a parsed tree).  -Wno-ignored-attributes because the headers ask for
 * the gnu_printf format attribute, which clang does not have.
 *
 * Input: the first byte b selects what is fuzzed.
 *	b & 0x80	names: the rest (no NUL) is a name given to execlave_policy_type
 *				and execlave_policy_mode;
 *	otherwise	b & 7 is the PolicyType (all eight: the five per-trace types
 *				and rate_limit, cost_limit, budget_cap) and (b >> 3) & 15
 *				picks the unknown key and the key of the two differential
 *				checks below.  The rest is the config as JSON text, parsed by
 *				a strict parser that accepts what PostgreSQL 15's jsonb input
 *				accepts in a UTF8 database (RFC 8259 grammar; valid UTF-8; no
 *				\u0000; surrogate escapes only in pairs; numbers within
 *				numeric's range: |exponent| < 2^30, display scale <= 16383,
 *				base-10000 weight <= 32767) up to 64 KB and 64 levels deep;
 *				anything else is skipped, as the server refuses it before the
 *				trigger runs.  The tree has jsonb's shape: object keys unique
 *				(the last one wins) and sorted by length then bytes, a
 *				top-level scalar as a one-element raw-scalar array, strings of
 *				exactly their length without a NUL (ASan sees any read past
 *				them), numbers as their text and numeric_float8_no_overflow's
 *				double.
 *
 * A reference model, written from README.md ("Policy types", "Windowed
 * policies") and the comments and messages of policy_config.c, predicts for
 * every config either the compiled fields or the first error and its exact
 * message: keys are read in jsonb order, each one fully; then the
 * whole-config rules.  A number is judged by its exact decimal value and by
 * its double (the value the policy uses): each range and wholeness rule
 * below must hold for both, so 2.0000000000000001 is not a whole number,
 * -1e-400 is negative, 1e-400 is not greater than 0 (its double is 0) and
 * 1.00000000000000001 is more than 1.  A user's string quoted in a message
 * (an unknown key, a bad action or scope, an unknown PII type or pattern
 * key) is whole up to 200 bytes, else cut to the characters that end within
 * 200 bytes plus "...".  Per key:
 *	threshold			a finite number, 0 < x <= 1 (default 0.8);
 *	scan_input, scan_output, builtin_patterns, mask, require_model: booleans
 *						(scan_input default true, scan_output true for
 *						pii_detection only, builtin_patterns true);
 *	patterns			an array of at most 500 strings or objects with only
 *						"pattern" (a string, required) and "weight" (a finite
 *						number, 0 < w <= 1, default 1), no pattern empty;
 *	types				an array of PII type names (email, phone, ssn,
 *						credit_card, ip_address, iban, api_key; ASCII case
 *						insensitive), at least one;
 *	allow, deny			arrays of at most 1000 strings of 1..200 bytes whose only
 *						'*' may be the last byte (a prefix rule, stored without
 *						the '*');
 *	max_*_tokens		finite, >= 0, whole, <= 2^53;
 *	max_requests_per_*	finite, whole, 1..10^12;
 *	max_cost_per_*		finite, 0..10^9, stored as
 *						execlave_numeric_to_nanos of the exact decimal (the shim
 *						has its contract: x * 10^9 clamped to +-2^62, rounded
 *						half away from zero);
 *	warning_thresholds	an array of at most 8 whole numbers 1..100, stored
 *						distinct and ascending (default [80, 100]);
 *	action				"block", "warn" or "pause_agent" (default block);
 *	scope				"agent" or "policy" (default agent).
 * Whole-config rules: prompt_injection needs some phrase (builtins or
 * patterns), every custom pattern must be accepted by inj_build (at most 256
 * bytes normalized, not empty; injection.c is the oracle for normalization,
 * fuzz_inj checks it), then prompt_injection and pii_detection need
 * scan_input or scan_output; model_allowlist and tool_access a non-empty
 * allow or deny list; token_limit, rate_limit and cost_limit one of their
 * limits; budget_cap max_cost_per_month.  Each type accepts only its keys.
 *
 * Checked, aborting on the first violation (so libFuzzer reports a crash):
 *	- every rejection is ereport(ERROR) with SQLSTATE 22023
 *	  (ERRCODE_INVALID_PARAMETER_VALUE, the only one policy_config.c uses),
 *	  never elog (no internal error, no other level), with a message that
 *	  starts with "invalid <type> policy config: "; the reference predicts
 *	  the rejection and its exact message (for a bad key `key "<key>" ` and
 *	  the detail, for an unknown key `unknown key "<key>"` with the hint
 *	  "Valid keys: " listing exactly the type's keys, for a bad pattern
 *	  `key "patterns" element <n>: <inj_build's error>`, for a non-object
 *	  config "must be a JSON object"); every message is valid UTF-8 and at
 *	  most 512 bytes long;
 *	- an accepted config is one the reference accepts, and the compiled
 *	  fields are the reference's: type, scan flags, threshold, PII mask (a
 *	  non-empty subset of PII_ALL), mask, require_model, allow and deny rules
 *	  (name NUL-terminated at len, no '*', prefix flag), token, request and
 *	  cost limits (-1 when absent), scope, thresholds (ascending, 1..100, at
 *	  most 8), action; for prompt_injection a matcher over builtins + custom
 *	  phrases (inj_num_phrases agrees), one family per distinct builtin
 *	  family name with the builtin weight, custom_1, custom_2, ... with the
 *	  pattern weights, every phrase mapped to its family, and a custom phrase
 *	  (and one builtin) matched when scanned as a text;
 *	- everything the compiled policy points to lies in palloc'd blocks of the
 *	  context it was compiled in (policy.h: "Everything hangs off the memory
 *	  context the policy was compiled in"), builtin family names excepted
 *	  (static), never in the Jsonb; CurrentMemoryContext is restored;
 *	- deterministic and independent of the old contents of *p: compiled
 *	  twice, into a zeroed struct (validate_config) and into one filled with
 *	  0xA5 and sentinels, with the same result or the same error; the fields
 *	  the caller owns (id, name, mode, nagents, agents, scope_version) are
 *	  left alone;
 *	- differential: a valid object config plus an unknown key is rejected
 *	  with `unknown key "<key>"`; a valid config with one key's value of the
 *	  wrong JSON type is rejected naming that key (README: "an unknown key, a
 *	  value of the wrong JSON type ... is refused with SQLSTATE 22023 and a
 *	  message naming the key");
 *	- names: execlave_policy_type accepts exactly the eight type names,
 *	  execlave_policy_mode exactly log, flag, block and the aliases monitor,
 *	  warn, log_only (MODE_LOG, *alias set); anything else is 22023 with
 *	  `unknown policy type "<name>"` / `unknown policy mode "<name>"` and a
 *	  hint listing the valid ones.
 * LLVMFuzzerInitialize checks the type and mode name tables and the builtin
 * families against README.md, that every README example config compiles,
 * the exact messages of a few bad configs from expected/policies.out and
 * expected/windows.out and of numbers that only their exact value puts out
 * of range (and that edge values exactly in range still compile), the
 * clipping of a long multibyte string in a message, and the shim's exact
 * numeric_cmp, numeric_trunc, int64_to_numeric and pg_mbcliplen against
 * tables.
 *
 * The parser and the shim were cross-checked against a PostgreSQL 15 server
 * running the real extension (execlave_validate_policy): on every parseable
 * input of the corpus and of a 10-minute run, the accept/refuse decision
 * and the exact SQLSTATE and message agree, and so do jsonb's acceptance,
 * key order and value types on every input.
 */
#include "pgshim.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb/pg_wchar.h"
#include "nodes/memnodes.h"
#include "policy.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_JSON		65536	/* bytes of JSON text */
#define MAX_DEPTH		64
#define MAX_SELF_SCANS	8		/* custom phrases scanned as texts */
#define MAX_QUOTED		200		/* bytes of a user's string in a message */
#define MAX_MESSAGE		512		/* bytes of a config error message */

/* fail(fmt, ...): report a broken invariant and abort (fuzz_fail.h) */
#define FUZZ_FAIL_PREFIX "fuzz_policy_config: invariant violated: "
#include "fuzz_fail.h"

/* ------------------------------------------------ per-input heap blocks */

/*
 * The JSON tree, the reference's arrays and the harness's copies: each its
 * own exactly sized malloc, freed after the input.
 */
typedef struct DocBlock
{
	struct DocBlock *next;
	size_t		pad;			/* keep the payload 16-byte aligned */
} DocBlock;

static DocBlock *doc_blocks = NULL;

static void *
doc_alloc(size_t size)
{
	DocBlock   *b = malloc(sizeof(DocBlock) + size);

	if (b == NULL)
		fail("out of memory");
	b->next = doc_blocks;
	doc_blocks = b;
	memset(b + 1, 0, size);
	return b + 1;
}

static void
doc_reset(void)
{
	while (doc_blocks != NULL)
	{
		DocBlock   *next = doc_blocks->next;

		free(doc_blocks);
		doc_blocks = next;
	}
}

/* vprintf to a per-input block */
static char *
doc_vprintf(const char *fmt, va_list ap)
{
	va_list		ap2;
	char	   *s;
	int			n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		fail("vsnprintf failed");
	s = doc_alloc((size_t) n + 1);
	vsnprintf(s, (size_t) n + 1, fmt, ap);
	return s;
}

static char *doc_printf(const char *fmt,...) __attribute__((format(printf, 1, 2)));

/* printf to a per-input block */
static char *
doc_printf(const char *fmt,...)
{
	va_list		ap;
	char	   *s;

	va_start(ap, fmt);
	s = doc_vprintf(fmt, ap);
	va_end(ap);
	return s;
}

/*
 * A string value of exactly len bytes (a malloc of its own, so that ASan
 * catches a read past its end; malloc(0) for the empty string).
 */
static char *
exact_copy(const char *s, size_t len)
{
	DocBlock   *b = malloc(sizeof(DocBlock) + len);

	if (b == NULL)
		fail("out of memory");
	b->next = doc_blocks;
	doc_blocks = b;
	memcpy(b + 1, s, len);
	return (char *) (b + 1);
}

/* --------------------------------------------------------- JSON parsing */

/* Valid UTF-8 as PostgreSQL's UTF8 encoding checks it, and no NUL byte. */
static bool
valid_utf8(const unsigned char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = s[i];
		size_t		len;
		unsigned char lo = 0x80,
					hi = 0xBF;

		if (c == 0)
			return false;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			len = 2;
		else if (c >= 0xE0 && c <= 0xEF)
		{
			len = 3;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;		/* no surrogates */
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			len = 4;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;		/* at most U+10FFFF */
		}
		else
			return false;
		if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k < len; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				return false;
		i += len;
	}
	return true;
}

typedef struct JsonParser
{
	const unsigned char *s;
	size_t		n;
	size_t		pos;
	char	   *scratch;		/* decoded string bytes, n bytes */
} JsonParser;

static void
skip_ws(JsonParser *jp)
{
	while (jp->pos < jp->n &&
		   (jp->s[jp->pos] == ' ' || jp->s[jp->pos] == '\t' ||
			jp->s[jp->pos] == '\n' || jp->s[jp->pos] == '\r'))
		jp->pos++;
}

static ShimNode *
new_node(ShimKind kind)
{
	ShimNode   *v = doc_alloc(sizeof(ShimNode));

	v->kind = kind;
	return v;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits after "\u" at jp->pos; -1 if malformed. */
static long
read_hex4(JsonParser *jp)
{
	long		cp = 0;

	if (jp->n - jp->pos < 4)
		return -1;
	for (int k = 0; k < 4; k++)
	{
		int			h = hexval(jp->s[jp->pos + k]);

		if (h < 0)
			return -1;
		cp = cp * 16 + h;
	}
	jp->pos += 4;
	return cp;
}

/* A string at jp->pos (at its opening quote): decoded to an exact copy. */
static bool
parse_string(JsonParser *jp, char **str, int *len)
{
	size_t		o = 0;

	if (jp->pos >= jp->n || jp->s[jp->pos] != '"')
		return false;
	jp->pos++;
	for (;;)
	{
		unsigned char c;

		if (jp->pos >= jp->n)
			return false;
		c = jp->s[jp->pos++];
		if (c == '"')
			break;
		if (c < 0x20)
			return false;
		if (c != '\\')
		{
			jp->scratch[o++] = (char) c;
			continue;
		}
		if (jp->pos >= jp->n)
			return false;
		c = jp->s[jp->pos++];
		switch (c)
		{
			case '"':
			case '\\':
			case '/':
				jp->scratch[o++] = (char) c;
				break;
			case 'b':
				jp->scratch[o++] = '\b';
				break;
			case 'f':
				jp->scratch[o++] = '\f';
				break;
			case 'n':
				jp->scratch[o++] = '\n';
				break;
			case 'r':
				jp->scratch[o++] = '\r';
				break;
			case 't':
				jp->scratch[o++] = '\t';
				break;
			case 'u':
				{
					long		cp = read_hex4(jp);

					if (cp < 0 || cp == 0)
						return false;	/* \u0000 cannot be text */
					if (cp >= 0xDC00 && cp <= 0xDFFF)
						return false;	/* low surrogate first */
					if (cp >= 0xD800 && cp <= 0xDBFF)
					{
						long		lo;

						if (jp->n - jp->pos < 2 || jp->s[jp->pos] != '\\' ||
							jp->s[jp->pos + 1] != 'u')
							return false;
						jp->pos += 2;
						lo = read_hex4(jp);
						if (lo < 0xDC00 || lo > 0xDFFF)
							return false;
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					}
					/* UTF-8: at most 4 bytes for the 6 or 12 read */
					if (cp < 0x80)
						jp->scratch[o++] = (char) cp;
					else if (cp < 0x800)
					{
						jp->scratch[o++] = (char) (0xC0 | (cp >> 6));
						jp->scratch[o++] = (char) (0x80 | (cp & 0x3F));
					}
					else if (cp < 0x10000)
					{
						jp->scratch[o++] = (char) (0xE0 | (cp >> 12));
						jp->scratch[o++] = (char) (0x80 | ((cp >> 6) & 0x3F));
						jp->scratch[o++] = (char) (0x80 | (cp & 0x3F));
					}
					else
					{
						jp->scratch[o++] = (char) (0xF0 | (cp >> 18));
						jp->scratch[o++] = (char) (0x80 | ((cp >> 12) & 0x3F));
						jp->scratch[o++] = (char) (0x80 | ((cp >> 6) & 0x3F));
						jp->scratch[o++] = (char) (0x80 | (cp & 0x3F));
					}
				}
				break;
			default:
				return false;
		}
	}
	*str = exact_copy(jp->scratch, o);
	*len = (int) o;
	return true;
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/*
 * A number: RFC 8259 grammar, then numeric_in's limits as PostgreSQL 15
 * applies them (found by trying a server: 1e131071 and 1e-16383 are
 * accepted, 1e131072, 1e-16384, 0e-16384 and 0.0e-16383 are not).
 */
static ShimNode *
parse_number(JsonParser *jp)
{
	size_t		start = jp->pos;
	size_t		int_start,
				int_end,
				frac_start = 0,
				frac_end = 0;
	long		exp10 = 0;
	bool		exp_over = false;
	long		dscale;
	long		first_nz = LONG_MIN;	/* power of ten of the first non-zero digit */
	ShimNode   *v;
	char	   *text;
	size_t		len;

	if (jp->pos < jp->n && jp->s[jp->pos] == '-')
		jp->pos++;
	int_start = jp->pos;
	if (jp->pos < jp->n && jp->s[jp->pos] == '0')
		jp->pos++;
	else if (jp->pos < jp->n && jp->s[jp->pos] >= '1' && jp->s[jp->pos] <= '9')
		while (jp->pos < jp->n && is_digit(jp->s[jp->pos]))
			jp->pos++;
	else
		return NULL;
	int_end = jp->pos;
	if (jp->pos < jp->n && jp->s[jp->pos] == '.')
	{
		jp->pos++;
		frac_start = jp->pos;
		while (jp->pos < jp->n && is_digit(jp->s[jp->pos]))
			jp->pos++;
		frac_end = jp->pos;
		if (frac_end == frac_start)
			return NULL;
	}
	if (jp->pos < jp->n && (jp->s[jp->pos] == 'e' || jp->s[jp->pos] == 'E'))
	{
		bool		neg = false;
		size_t		digits_start;

		jp->pos++;
		if (jp->pos < jp->n && (jp->s[jp->pos] == '+' || jp->s[jp->pos] == '-'))
			neg = (jp->s[jp->pos++] == '-');
		digits_start = jp->pos;
		while (jp->pos < jp->n && is_digit(jp->s[jp->pos]))
		{
			if (exp10 < INT_MAX / 2)
				exp10 = exp10 * 10 + (jp->s[jp->pos] - '0');
			jp->pos++;
		}
		if (jp->pos == digits_start)
			return NULL;
		if (exp10 >= INT_MAX / 2)
			exp_over = true;
		if (neg)
			exp10 = -exp10;
	}
	if (exp_over)
		return NULL;
	dscale = (long) (frac_end - frac_start) - exp10;
	if (dscale < 0)
		dscale = 0;
	if (dscale > 0x3FFF)
		return NULL;
	for (size_t k = int_start; k < int_end && first_nz == LONG_MIN; k++)
		if (jp->s[k] != '0')
			first_nz = (long) (int_end - k) - 1 + exp10;
	for (size_t k = frac_start; k < frac_end && first_nz == LONG_MIN; k++)
		if (jp->s[k] != '0')
			first_nz = -(long) (k - frac_start) - 1 + exp10;
	if (first_nz != LONG_MIN && first_nz > 4 * 32767 + 3)
		return NULL;

	len = jp->pos - start;
	text = doc_alloc(len + 1);
	memcpy(text, jp->s + start, len);
	text[len] = '\0';
	v = new_node(SK_NUMBER);
	v->num = doc_alloc(sizeof(ShimNumeric));
	v->num->magic = SHIM_NUMERIC_MAGIC;
	v->num->text = text;
	v->num->float8 = shim_numeric_float8(text);
	return v;
}

/* jsonb's key order: shorter first, then bytes. */
static int
key_cmp(const ShimNode *a, const ShimNode *b)
{
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return memcmp(a->str, b->str, (size_t) a->len);
}

typedef struct Pair
{
	ShimNode   *key;
	ShimNode   *value;
	int			order;
} Pair;

static int
pair_cmp(const void *x, const void *y)
{
	const Pair *a = x;
	const Pair *b = y;
	int			c = key_cmp(a->key, b->key);

	if (c != 0)
		return c;
	return (a->order > b->order) - (a->order < b->order);
}

static ShimNode *parse_value(JsonParser *jp, int depth);

static bool
parse_literal(JsonParser *jp, const char *word)
{
	size_t		n = strlen(word);

	if (jp->n - jp->pos < n || memcmp(jp->s + jp->pos, word, n) != 0)
		return false;
	jp->pos += n;
	return true;
}

/* Grow a malloc'd array of pointers (freed by the caller). */
static void *
grow(void *p, int *cap, size_t elem)
{
	*cap = *cap ? *cap * 2 : 8;
	p = realloc(p, elem * (size_t) *cap);
	if (p == NULL)
		fail("out of memory");
	return p;
}

static ShimNode *
parse_array(JsonParser *jp, int depth)
{
	size_t		start = jp->pos;
	ShimNode  **elems = NULL;
	int			n = 0,
				cap = 0;
	ShimNode   *v;

	jp->pos++;					/* '[' */
	skip_ws(jp);
	if (jp->pos < jp->n && jp->s[jp->pos] == ']')
		jp->pos++;
	else
		for (;;)
		{
			ShimNode   *e = parse_value(jp, depth + 1);

			if (e == NULL)
			{
				free(elems);
				return NULL;
			}
			if (n == cap)
				elems = grow(elems, &cap, sizeof(ShimNode *));
			elems[n++] = e;
			skip_ws(jp);
			if (jp->pos < jp->n && jp->s[jp->pos] == ',')
			{
				jp->pos++;
				continue;
			}
			if (jp->pos < jp->n && jp->s[jp->pos] == ']')
			{
				jp->pos++;
				break;
			}
			free(elems);
			return NULL;
		}
	v = new_node(SK_ARRAY);
	v->n = n;
	v->elems = doc_alloc(sizeof(ShimNode *) * (size_t) (n ? n : 1));
	if (n > 0)
		memcpy(v->elems, elems, sizeof(ShimNode *) * (size_t) n);
	free(elems);
	v->textlen = (int) (jp->pos - start);
	shim_container_init(v);
	return v;
}

static ShimNode *
parse_object(JsonParser *jp, int depth)
{
	size_t		start = jp->pos;
	Pair	   *pairs = NULL;
	int			n = 0,
				cap = 0,
				u = 0;
	ShimNode   *v;

	jp->pos++;					/* '{' */
	skip_ws(jp);
	if (jp->pos < jp->n && jp->s[jp->pos] == '}')
		jp->pos++;
	else
		for (;;)
		{
			ShimNode   *k = new_node(SK_STRING);
			ShimNode   *e;

			if (!parse_string(jp, &k->str, &k->len))
				goto bad;
			skip_ws(jp);
			if (jp->pos >= jp->n || jp->s[jp->pos] != ':')
				goto bad;
			jp->pos++;
			if ((e = parse_value(jp, depth + 1)) == NULL)
				goto bad;
			if (n == cap)
				pairs = grow(pairs, &cap, sizeof(Pair));
			pairs[n].key = k;
			pairs[n].value = e;
			pairs[n].order = n;
			n++;
			skip_ws(jp);
			if (jp->pos < jp->n && jp->s[jp->pos] == ',')
			{
				jp->pos++;
				skip_ws(jp);
				continue;
			}
			if (jp->pos < jp->n && jp->s[jp->pos] == '}')
			{
				jp->pos++;
				break;
			}
			goto bad;
		}
	/* sort, stable; of equal keys keep the last one */
	if (n > 1)
		qsort(pairs, (size_t) n, sizeof(Pair), pair_cmp);
	for (int i = 0; i < n; i++)
	{
		if (i + 1 < n && key_cmp(pairs[i].key, pairs[i + 1].key) == 0)
			continue;
		pairs[u++] = pairs[i];
	}
	v = new_node(SK_OBJECT);
	v->n = u;
	v->keys = doc_alloc(sizeof(ShimNode *) * (size_t) (u ? u : 1));
	v->elems = doc_alloc(sizeof(ShimNode *) * (size_t) (u ? u : 1));
	for (int i = 0; i < u; i++)
	{
		v->keys[i] = pairs[i].key;
		v->elems[i] = pairs[i].value;
	}
	free(pairs);
	v->textlen = (int) (jp->pos - start);
	shim_container_init(v);
	return v;

bad:
	free(pairs);
	return NULL;
}

static ShimNode *
parse_value(JsonParser *jp, int depth)
{
	ShimNode   *v;

	if (depth > MAX_DEPTH)
		return NULL;
	skip_ws(jp);
	if (jp->pos >= jp->n)
		return NULL;
	switch (jp->s[jp->pos])
	{
		case '{':
			return parse_object(jp, depth);
		case '[':
			return parse_array(jp, depth);
		case '"':
			v = new_node(SK_STRING);
			return parse_string(jp, &v->str, &v->len) ? v : NULL;
		case 't':
		case 'f':
			v = new_node(SK_BOOL);
			v->boolean = jp->s[jp->pos] == 't';
			return parse_literal(jp, v->boolean ? "true" : "false") ? v : NULL;
		case 'n':
			v = new_node(SK_NULL);
			return parse_literal(jp, "null") ? v : NULL;
		default:
			return parse_number(jp);
	}
}

/*
 * The jsonb of a JSON text, or NULL if PostgreSQL would refuse it (or it is
 * past the harness's limits).  A top-level scalar becomes a raw-scalar
 * array of one element.
 */
static ShimNode *
parse_json(const unsigned char *s, size_t n)
{
	JsonParser	jp;
	ShimNode   *v;

	if (n > MAX_JSON || !valid_utf8(s, n))
		return NULL;
	jp.s = s;
	jp.n = n;
	jp.pos = 0;
	jp.scratch = doc_alloc(n + 1);
	v = parse_value(&jp, 1);
	if (v == NULL)
		return NULL;
	skip_ws(&jp);
	if (jp.pos != jp.n)
		return NULL;
	if (v->kind != SK_ARRAY && v->kind != SK_OBJECT)
	{
		ShimNode   *a = new_node(SK_ARRAY);

		a->n = 1;
		a->raw_scalar = true;
		a->elems = doc_alloc(sizeof(ShimNode *));
		a->elems[0] = v;
		a->textlen = (int) n;
		shim_container_init(a);
		v = a;
	}
	return v;
}

/* --------------------------------------------------------- the reference */

/* README.md's type names, keys per type, PII types and builtin families. */
static const char *const readme_types[POLICY_NUM_TYPES] = {
	"prompt_injection", "pii_detection", "model_allowlist", "token_limit",
	"tool_access", "rate_limit", "cost_limit", "budget_cap"
};

/* (every type also takes approval_timeout_seconds, the require_approval mode's option) */
static const char *const readme_keys[POLICY_NUM_TYPES][7] = {
	[POLICY_PROMPT_INJECTION] = {"threshold", "scan_input", "scan_output", "builtin_patterns", "patterns", "approval_timeout_seconds", NULL},
	[POLICY_PII_DETECTION] = {"types", "scan_input", "scan_output", "mask", "approval_timeout_seconds", NULL},
	[POLICY_MODEL_ALLOWLIST] = {"allow", "deny", "require_model", "approval_timeout_seconds", NULL},
	[POLICY_TOKEN_LIMIT] = {"max_total_tokens", "max_prompt_tokens", "max_completion_tokens", "approval_timeout_seconds", NULL},
	[POLICY_TOOL_ACCESS] = {"allow", "deny", "approval_timeout_seconds", NULL},
	[POLICY_RATE_LIMIT] = {"max_requests_per_minute", "max_requests_per_hour", "approval_timeout_seconds", NULL},
	[POLICY_COST_LIMIT] = {"max_cost_per_trace", "max_cost_per_day", "warning_thresholds", "action", "approval_timeout_seconds", NULL},
	[POLICY_BUDGET_CAP] = {"max_cost_per_month", "scope", "warning_thresholds", "action", "approval_timeout_seconds", NULL},
};

static const char *const readme_pii[PII_NUM_TYPES] = {
	"email", "phone", "ssn", "credit_card", "ip_address", "iban", "api_key"
};

static const char *const readme_families[] = {
	"ignore_previous_instructions", "disregard_instructions", "forget_instructions",
	"you_are_now", "pretend_role", "dan", "developer_mode", "inst_tag", "chatml_tag",
	"reveal_system_prompt", "jailbreak", "bypass_filters", "override_instructions",
	"no_restrictions"
};

#define NUM_FAMILIES ((int) (sizeof(readme_families) / sizeof(readme_families[0])))

static const char *const readme_actions[] = {"block", "warn", "pause_agent"};

/* Does the JSON string v hold exactly the C string s? */
static bool
str_is(const ShimNode *v, const char *s)
{
	return v->kind == SK_STRING && (size_t) v->len == strlen(s) &&
		memcmp(v->str, s, (size_t) v->len) == 0;
}

static bool
type_has_key(PolicyType type, const ShimNode *key)
{
	for (int i = 0; readme_keys[type][i] != NULL; i++)
		if (str_is(key, readme_keys[type][i]))
			return true;
	return false;
}

typedef enum RefOutcome
{
	REF_OK,
	REF_NOT_OBJECT,				/* "must be a JSON object" */
	REF_UNKNOWN_KEY,			/* unknown key "<key, quoted>" */
	REF_BAD_KEY,				/* key "<key>" <detail> */
	REF_BAD_PATTERN,			/* key "patterns" element <n>: <err> */
	REF_WHOLE					/* a whole-config rule: <detail> */
} RefOutcome;

typedef struct RefRule
{
	const char *name;			/* in the JSON string, without the '*' */
	int			len;
	bool		prefix;
} RefRule;

typedef struct Ref
{
	RefOutcome	outcome;
	const char *key;			/* REF_UNKNOWN_KEY, REF_BAD_KEY */
	int			keylen;
	const char *detail;			/* REF_BAD_KEY, REF_WHOLE: the rest of the message */
	int			bad_element;	/* REF_BAD_PATTERN, 1-based */
	const char *bad_err;

	bool		scan_input;
	bool		scan_output;
	double		threshold;
	bool		builtins;
	int			ncustom;
	const char **custom;
	size_t	   *custom_len;
	double	   *custom_weight;
	unsigned	pii_types;
	bool		mask;
	bool		require_model;
	bool		have_list;
	int			nallow;
	RefRule    *allow;
	int			ndeny;
	RefRule    *deny;
	int64		max_total;
	int64		max_prompt;
	int64		max_completion;
	int64		per_minute;
	int64		per_hour;
	int64		cost_trace;
	int64		cost_day;
	int64		cost_month;
	bool		per_policy;
	int			nthresholds;
	int			thresholds[MAX_COST_THRESHOLDS];
	int			action;
	int			approval_timeout;
} Ref;

static bool ref_fail(Ref *r, const char *fmt,...) __attribute__((format(printf, 2, 3)));

/* The key being read is refused; the message goes on with the detail. */
static bool
ref_fail(Ref *r, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	r->detail = doc_vprintf(fmt, ap);
	va_end(ap);
	return false;
}

/* What a message calls a JSON value. */
static const char *
kind_name(const ShimNode *v)
{
	switch (v->kind)
	{
		case SK_NULL:
			return "null";
		case SK_BOOL:
			return "a boolean";
		case SK_NUMBER:
			return "a number";
		case SK_STRING:
			return "a string";
		case SK_ARRAY:
			return "an array";
		case SK_OBJECT:
			return "an object";
	}
	fail("node of kind %d", (int) v->kind);
}

/*
 * A user's string (valid UTF-8) as a message quotes it: whole up to
 * MAX_QUOTED bytes, else its characters that end within the first
 * MAX_QUOTED bytes and "...".
 */
static char *
ref_quote(const char *s, int len)
{
	int			cut = len;

	if (len > MAX_QUOTED)
	{
		cut = MAX_QUOTED;
		while (cut > 0 && ((unsigned char) s[cut] & 0xC0) == 0x80)
			cut--;
	}
	return doc_printf("%.*s%s", cut, s, cut < len ? "..." : "");
}

/*
 * A JSON number's exact value: sign, significant digits and the power of
 * ten of the last one (leading and trailing zeros dropped), independent of
 * the shim's arithmetic.
 */
typedef struct Dec
{
	bool		neg;			/* never for zero */
	bool		zero;
	char	   *d;
	long		nd;
	long		e;
} Dec;

static void
dec_parse(const char *text, Dec *x)
{
	const char *s = text;
	long		frac = 0;
	long		exp10 = 0;
	long		k = 0;

	memset(x, 0, sizeof(*x));
	x->d = doc_alloc(strlen(text) + 1);
	x->neg = (*s == '-');
	if (x->neg)
		s++;
	for (; is_digit((unsigned char) *s); s++)
		x->d[x->nd++] = *s;
	if (*s == '.')
		for (s++; is_digit((unsigned char) *s); s++, frac++)
			x->d[x->nd++] = *s;
	if (*s == 'e' || *s == 'E')
	{
		bool		eneg = false;

		s++;
		if (*s == '+' || *s == '-')
			eneg = (*s++ == '-');
		for (; is_digit((unsigned char) *s); s++)
			exp10 = exp10 * 10 + (*s - '0');
		if (eneg)
			exp10 = -exp10;
	}
	while (k < x->nd && x->d[k] == '0')
		k++;
	memmove(x->d, x->d + k, (size_t) (x->nd - k));
	x->nd -= k;
	x->e = exp10 - frac;
	while (x->nd > 0 && x->d[x->nd - 1] == '0')
	{
		x->nd--;
		x->e++;
	}
	x->zero = (x->nd == 0);
	if (x->zero)
		x->neg = false;
}

static bool
dec_integral(const Dec *x)
{
	return x->zero || x->e >= 0;
}

/* sign of x - b, exactly */
static int
dec_cmp(const Dec *x, uint64 b)
{
	char		bd[24];
	long		nb = snprintf(bd, sizeof(bd), "%llu", (unsigned long long) b);
	long		nint;

	if (x->zero)
		return b == 0 ? 0 : -1;
	if (x->neg)
		return -1;
	if (b == 0)
		return 1;
	nint = x->nd + x->e;
	if (nint != nb)
		return nint > nb ? 1 : -1;
	for (long k = 0; k < nb; k++)
	{
		char		c = k < x->nd ? x->d[k] : '0';

		if (c != bd[k])
			return c > bd[k] ? 1 : -1;
	}
	return x->nd > nb ? 1 : 0;	/* fraction digits left are non-zero */
}

/* A finite JSON number; *d its double (numeric_float8_no_overflow's). */
static bool
ref_number(const ShimNode *v, double *d, Ref *r)
{
	if (v->kind != SK_NUMBER)
		return ref_fail(r, "must be a number, not %s", kind_name(v));
	*d = v->num->float8;
	if (!isfinite(*d))
		return ref_fail(r, "must be a finite number");
	return true;
}

/* Is the number v, or its double d, below zero? (-1e-400 is -0.0) */
static bool
ref_negative(const ShimNode *v, double d)
{
	Dec			x;

	dec_parse(v->num->text, &x);
	return d < 0 || x.neg;
}

/*
 * Is the number v from lo to hi (lo itself excluded if lo_open), and whole
 * if integral?  README's ranges are of the exact value, and the double d is
 * what the policy uses, so both must be.
 */
static bool
ref_in_range(const ShimNode *v, double d, bool integral, uint64 lo, bool lo_open, uint64 hi)
{
	Dec			x;
	int			clo,
				chi;

	dec_parse(v->num->text, &x);
	clo = dec_cmp(&x, lo);
	chi = dec_cmp(&x, hi);
	if (integral && (!dec_integral(&x) || d != floor(d)))
		return false;
	if (clo < 0 || (lo_open && clo == 0) || chi > 0)
		return false;
	if (d < (double) lo || (lo_open && d == (double) lo) || d > (double) hi)
		return false;
	return true;
}

static bool
ref_array(const ShimNode *v, Ref *r)
{
	if (v->kind == SK_ARRAY && !v->raw_scalar)
		return true;
	return ref_fail(r, "must be an array, not %s", kind_name(v));
}

static bool
ref_bool(const ShimNode *v, bool *out, Ref *r)
{
	if (v->kind != SK_BOOL)
		return ref_fail(r, "must be true or false, not %s", kind_name(v));
	*out = v->boolean;
	return true;
}

/* One of the strings choices; hint is how the message lists them. */
static bool
ref_choice(const ShimNode *v, const char *const *choices, int n, const char *hint,
		   int *out, Ref *r)
{
	if (v->kind != SK_STRING)
		return ref_fail(r, "must be a string (%s), not %s", hint, kind_name(v));
	for (int i = 0; i < n; i++)
		if (str_is(v, choices[i]))
		{
			*out = i;
			return true;
		}
	return ref_fail(r, "must be %s (got \"%s\")", hint, ref_quote(v->str, v->len));
}

static bool
ref_name_list(const ShimNode *v, int *n, RefRule **rules, Ref *r)
{
	if (!ref_array(v, r))
		return false;
	if (v->n > 1000)
		return ref_fail(r, "has %d entries (at most %d)", v->n, 1000);
	*rules = doc_alloc(sizeof(RefRule) * (size_t) (v->n ? v->n : 1));
	*n = 0;
	for (int i = 0; i < v->n; i++)
	{
		const ShimNode *e = v->elems[i];
		const char *star;
		RefRule    *rule = &(*rules)[(*n)++];

		if (e->kind != SK_STRING)
			return ref_fail(r, "element %d must be a string, not %s", i + 1, kind_name(e));
		if (e->len < 1 || e->len > 200)
			return ref_fail(r, "element %d must be 1 to %d bytes long", i + 1, 200);
		star = memchr(e->str, '*', (size_t) e->len);
		rule->name = e->str;
		rule->len = e->len;
		rule->prefix = false;
		if (star != NULL)
		{
			if (star != e->str + e->len - 1)
				return ref_fail(r, "element %d: '*' is allowed only at the end (a prefix match)",
								i + 1);
			rule->prefix = true;
			rule->len--;
		}
	}
	return true;
}

/* A pattern's weight, or the prompt_injection threshold: 0 < x <= 1. */
static bool
ref_fraction(const ShimNode *v, double d)
{
	return ref_in_range(v, d, false, 0, true, 1);
}

static bool
ref_patterns(const ShimNode *v, Ref *r)
{
	if (!ref_array(v, r))
		return false;
	if (v->n > 500)
		return ref_fail(r, "has %d patterns (at most %d)", v->n, 500);
	r->custom = doc_alloc(sizeof(char *) * (size_t) (v->n ? v->n : 1));
	r->custom_len = doc_alloc(sizeof(size_t) * (size_t) (v->n ? v->n : 1));
	r->custom_weight = doc_alloc(sizeof(double) * (size_t) (v->n ? v->n : 1));
	r->ncustom = 0;
	for (int i = 0; i < v->n; i++)
	{
		const ShimNode *e = v->elems[i];
		const ShimNode *phrase = NULL;
		double		weight = 1.0;

		if (e->kind == SK_STRING)
			phrase = e;
		else if (e->kind == SK_OBJECT)
		{
			for (int k = 0; k < e->n; k++)
			{
				const ShimNode *val = e->elems[k];

				if (str_is(e->keys[k], "pattern"))
				{
					if (val->kind != SK_STRING)
						return ref_fail(r, "element %d: \"pattern\" must be a string, not %s",
										i + 1, kind_name(val));
					phrase = val;
				}
				else if (str_is(e->keys[k], "weight"))
				{
					if (!ref_number(val, &weight, r))
						return false;
					if (!ref_fraction(val, weight))
						return ref_fail(r, "element %d: \"weight\" must be greater than 0 and at most 1",
										i + 1);
				}
				else
					return ref_fail(r, "element %d has unknown key \"%s\" (valid: pattern, weight)",
									i + 1, ref_quote(e->keys[k]->str, e->keys[k]->len));
			}
			if (phrase == NULL)
				return ref_fail(r, "element %d has no \"pattern\"", i + 1);
		}
		else
			return ref_fail(r, "element %d must be a string or an object {\"pattern\", \"weight\"}, not %s",
							i + 1, kind_name(e));
		if (phrase->len == 0)
			return ref_fail(r, "element %d: pattern is empty", i + 1);
		r->custom[r->ncustom] = phrase->str;
		r->custom_len[r->ncustom] = (size_t) phrase->len;
		r->custom_weight[r->ncustom] = weight;
		r->ncustom++;
	}
	return true;
}

static bool
ref_pii_types(const ShimNode *v, unsigned *mask, Ref *r)
{
	if (!ref_array(v, r))
		return false;
	*mask = 0;
	for (int i = 0; i < v->n; i++)
	{
		const ShimNode *e = v->elems[i];
		int			t;

		if (e->kind != SK_STRING)
			return ref_fail(r, "element %d must be a string, not %s", i + 1, kind_name(e));
		for (t = 0; t < PII_NUM_TYPES; t++)
		{
			size_t		n = strlen(readme_pii[t]);
			size_t		k;

			if ((size_t) e->len != n)
				continue;
			for (k = 0; k < n; k++)
			{
				unsigned char c = (unsigned char) e->str[k];

				if (c >= 'A' && c <= 'Z')
					c = (unsigned char) (c - 'A' + 'a');
				if (c != (unsigned char) readme_pii[t][k])
					break;
			}
			if (k == n)
				break;
		}
		if (t == PII_NUM_TYPES)
			return ref_fail(r, "element %d: unknown PII type \"%s\" (valid: email, phone, ssn, credit_card, ip_address, iban, api_key)",
							i + 1, ref_quote(e->str, e->len));
		*mask |= PII_BIT(t);
	}
	if (*mask == 0)
		return ref_fail(r, "must name at least one PII type");
	return true;
}

/* A whole number of tokens, 0..2^53. */
static bool
ref_tokens(const ShimNode *v, int64 *out, Ref *r)
{
	double		d;

	if (!ref_number(v, &d, r))
		return false;
	if (ref_negative(v, d))
		return ref_fail(r, "must not be negative (got %g)", d);
	if (!ref_in_range(v, d, true, 0, false, UINT64CONST(9007199254740992)))
		return ref_fail(r, "must be a whole number of tokens (got %g)", d);
	*out = (int64) d;
	return true;
}

/* A whole number of requests, 1..10^12. */
static bool
ref_requests(const ShimNode *v, int64 *out, Ref *r)
{
	double		d;

	if (!ref_number(v, &d, r))
		return false;
	if (!ref_in_range(v, d, true, 1, false, UINT64CONST(1000000000000)))
		return ref_fail(r, "must be a whole number of requests from 1 to 10^12 (got %g)", d);
	*out = (int64) d;
	return true;
}

/* A cost of 0..10^9 USD, as nano-USD of the exact decimal. */
static bool
ref_cost(const ShimNode *v, int64 *out, Ref *r)
{
	double		d;

	if (!ref_number(v, &d, r))
		return false;
	if (ref_negative(v, d))
		return ref_fail(r, "must not be negative (got %g)", d);
	if (!ref_in_range(v, d, false, 0, false, 1000000000))
		return ref_fail(r, "must be at most 1000000000 USD (got %g)", d);
	*out = shim_decimal_to_nanos(v->num->text);
	return true;
}

static bool
ref_thresholds(const ShimNode *v, Ref *r)
{
	bool		seen[101] = {false};

	if (!ref_array(v, r))
		return false;
	if (v->n > MAX_COST_THRESHOLDS)
		return ref_fail(r, "has %d entries; at most %d", v->n, MAX_COST_THRESHOLDS);
	for (int i = 0; i < v->n; i++)
	{
		const ShimNode *e = v->elems[i];
		double		d;

		if (e->kind != SK_NUMBER)
			return ref_fail(r, "entries must be numbers, not %s", kind_name(e));
		if (!ref_number(e, &d, r))
			return false;
		if (!ref_in_range(e, d, true, 1, false, 100))
			return ref_fail(r, "entries must be whole percentages from 1 to 100 (got %g)", d);
		seen[(int) d] = true;
	}
	r->nthresholds = 0;
	for (int k = 1; k <= 100; k++)
		if (seen[k])
			r->thresholds[r->nthresholds++] = k;
	return true;
}

/* First custom phrase inj_build refuses, or -1; *err its message. */
static void **ref_blocks;
static int	ref_nblocks;
static int	ref_capblocks;

static void *
ref_alloc(size_t size, void *arg)
{
	void	   *p;

	(void) arg;
	if (ref_nblocks == ref_capblocks)
		ref_blocks = grow(ref_blocks, &ref_capblocks, sizeof(void *));
	p = malloc(size ? size : 1);
	if (p == NULL)
		fail("out of memory");
	ref_blocks[ref_nblocks++] = p;
	return p;
}

static int
ref_bad_phrase(const Ref *r, const char **err)
{
	int			bad = -1;
	InjMatcher *m;

	*err = NULL;
	m = inj_build(r->custom, r->custom_len, r->ncustom, ref_alloc, NULL, &bad, err);
	for (int i = 0; i < ref_nblocks; i++)
		free(ref_blocks[i]);
	ref_nblocks = 0;
	if (m == NULL && bad < 0)
		fail("reference inj_build failed without a bad phrase: %s", *err ? *err : "?");
	return m == NULL ? bad : -1;
}

static const char *const readme_scopes[] = {"agent", "policy"};

static void
ref_compile(PolicyType type, const ShimNode *root, Ref *r)
{
	memset(r, 0, sizeof(*r));
	r->scan_input = true;
	r->scan_output = (type == POLICY_PII_DETECTION);
	r->threshold = 0.8;
	r->builtins = true;
	r->pii_types = PII_ALL;
	r->max_total = r->max_prompt = r->max_completion = -1;
	r->per_minute = r->per_hour = -1;
	r->cost_trace = r->cost_day = r->cost_month = -1;
	r->nthresholds = 2;
	r->thresholds[0] = 80;
	r->thresholds[1] = 100;
	r->action = LIMIT_BLOCK;
	r->approval_timeout = 1800;

	if (root->kind != SK_OBJECT)
	{
		r->outcome = REF_NOT_OBJECT;
		return;
	}
	for (int i = 0; i < root->n; i++)
	{
		const ShimNode *k = root->keys[i];
		const ShimNode *v = root->elems[i];
		bool		ok;
		double		d = 0;

		r->key = k->str;
		r->keylen = k->len;
		if (!type_has_key(type, k))
		{
			r->outcome = REF_UNKNOWN_KEY;
			return;
		}
		if (str_is(k, "scan_input"))
			ok = ref_bool(v, &r->scan_input, r);
		else if (str_is(k, "scan_output"))
			ok = ref_bool(v, &r->scan_output, r);
		else if (str_is(k, "builtin_patterns"))
			ok = ref_bool(v, &r->builtins, r);
		else if (str_is(k, "mask"))
			ok = ref_bool(v, &r->mask, r);
		else if (str_is(k, "require_model"))
			ok = ref_bool(v, &r->require_model, r);
		else if (str_is(k, "threshold"))
		{
			ok = ref_number(v, &d, r);
			if (ok && !ref_fraction(v, d))
				ok = ref_fail(r, "must be greater than 0 and at most 1 (got %g)", d);
			r->threshold = d;
		}
		else if (str_is(k, "patterns"))
			ok = ref_patterns(v, r);
		else if (str_is(k, "types"))
			ok = ref_pii_types(v, &r->pii_types, r);
		else if (str_is(k, "allow"))
		{
			ok = ref_name_list(v, &r->nallow, &r->allow, r);
			r->have_list = true;
		}
		else if (str_is(k, "deny"))
		{
			ok = ref_name_list(v, &r->ndeny, &r->deny, r);
			r->have_list = true;
		}
		else if (str_is(k, "max_total_tokens"))
			ok = ref_tokens(v, &r->max_total, r);
		else if (str_is(k, "max_prompt_tokens"))
			ok = ref_tokens(v, &r->max_prompt, r);
		else if (str_is(k, "max_completion_tokens"))
			ok = ref_tokens(v, &r->max_completion, r);
		else if (str_is(k, "max_requests_per_minute"))
			ok = ref_requests(v, &r->per_minute, r);
		else if (str_is(k, "max_requests_per_hour"))
			ok = ref_requests(v, &r->per_hour, r);
		else if (str_is(k, "max_cost_per_trace"))
			ok = ref_cost(v, &r->cost_trace, r);
		else if (str_is(k, "max_cost_per_day"))
			ok = ref_cost(v, &r->cost_day, r);
		else if (str_is(k, "max_cost_per_month"))
			ok = ref_cost(v, &r->cost_month, r);
		else if (str_is(k, "warning_thresholds"))
			ok = ref_thresholds(v, r);
		else if (str_is(k, "action"))
			ok = ref_choice(v, readme_actions, 3, "\"block\", \"warn\" or \"pause_agent\"",
							&r->action, r);
		else if (str_is(k, "approval_timeout_seconds"))
		{
			ok = ref_number(v, &d, r);
			if (ok && !ref_in_range(v, d, true, 1, false, 604800))
				ok = ref_fail(r, "must be a whole number of seconds from 1 to 604800 (got %g)", d);
			if (ok)
				r->approval_timeout = (int) d;
		}
		else if (str_is(k, "scope"))
		{
			int			scope = 0;

			ok = ref_choice(v, readme_scopes, 2, "\"agent\" or \"policy\"", &scope, r);
			r->per_policy = (scope == 1);
		}
		else
			fail("reference has no rule for a key of %s", readme_types[type]);
		if (!ok)
		{
			r->outcome = REF_BAD_KEY;
			return;
		}
	}
	r->key = NULL;
	r->keylen = 0;

	switch (type)
	{
		case POLICY_PROMPT_INJECTION:
			if (!r->builtins && r->ncustom == 0)
			{
				r->outcome = REF_BAD_KEY;
				r->key = "patterns";
				r->keylen = 8;
				r->detail = "is empty while builtin_patterns is false: the policy would check nothing";
				return;
			}
			if ((r->bad_element = ref_bad_phrase(r, &r->bad_err)) >= 0)
			{
				r->bad_element++;
				r->outcome = REF_BAD_PATTERN;
				return;
			}
			/* fall through */
		case POLICY_PII_DETECTION:
			if (!r->scan_input && !r->scan_output)
			{
				r->outcome = REF_WHOLE;
				r->detail = "scan_input and scan_output are both false";
			}
			break;
		case POLICY_MODEL_ALLOWLIST:
		case POLICY_TOOL_ACCESS:
			if (r->nallow == 0 && r->ndeny == 0)
			{
				r->outcome = REF_WHOLE;
				r->detail = "give a non-empty \"allow\" or \"deny\" list";
			}
			break;
		case POLICY_TOKEN_LIMIT:
			if (r->max_total < 0 && r->max_prompt < 0 && r->max_completion < 0)
			{
				r->outcome = REF_WHOLE;
				r->detail = "give max_total_tokens, max_prompt_tokens or max_completion_tokens";
			}
			break;
		case POLICY_RATE_LIMIT:
			if (r->per_minute < 0 && r->per_hour < 0)
			{
				r->outcome = REF_WHOLE;
				r->detail = "give max_requests_per_minute or max_requests_per_hour";
			}
			break;
		case POLICY_COST_LIMIT:
			if (r->cost_trace < 0 && r->cost_day < 0)
			{
				r->outcome = REF_WHOLE;
				r->detail = "give max_cost_per_trace or max_cost_per_day";
			}
			break;
		case POLICY_BUDGET_CAP:
			if (r->cost_month < 0)
			{
				r->outcome = REF_WHOLE;
				r->detail = "max_cost_per_month is required";
			}
			break;
		case POLICY_NUM_TYPES:
			fail("type out of range");
	}
}

/* ------------------------------------------------------ protected calls */

/* Dummy memory contexts: only their addresses matter to the shim. */
static MemoryContextData caller_cxt;
static MemoryContextData policy_cxt[3];

typedef struct Outcome
{
	bool		ok;
	int			elevel;
	int			sqlerrcode;
	bool		internal;
	const char *message;		/* doc-owned copies */
	const char *hint;
	const char *where;			/* file:line of the ereport */
} Outcome;

typedef struct CompileCall
{
	CompiledPolicy *p;
	PolicyType	type;
	Jsonb	   *config;
	MemoryContext cxt;
} CompileCall;

typedef struct NameCall
{
	const char *name;
	int			result;
	bool		alias;
} NameCall;

static void
call_compile(void *arg)
{
	CompileCall *c = arg;

	execlave_policy_compile(c->p, c->type, c->config, c->cxt);
}

static void
call_type(void *arg)
{
	NameCall   *c = arg;

	c->result = (int) execlave_policy_type(c->name);
}

static void
call_mode(void *arg)
{
	NameCall   *c = arg;

	c->alias = true;			/* must be reset by the callee */
	c->result = (int) execlave_policy_mode(c->name, &c->alias);
}

static char *
doc_strdup(const char *s)
{
	size_t		n = strlen(s);
	char	   *d = doc_alloc(n + 1);

	memcpy(d, s, n + 1);
	return d;
}

/*
 * Run fn(arg) with CurrentMemoryContext at the caller's context, catching
 * ereport(ERROR).  Checks that a normal return restores the context.
 */
static void
protected_call(void (*fn) (void *), void *arg, Outcome *out)
{
	sigjmp_buf	jb;

	memset(out, 0, sizeof(*out));
	shim_error_clear();
	CurrentMemoryContext = &caller_cxt;
	if (sigsetjmp(jb, 0) == 0)
	{
		shim_error_jmp = &jb;
		fn(arg);
		shim_error_jmp = NULL;
		out->ok = true;
		if (CurrentMemoryContext != &caller_cxt)
			fail("CurrentMemoryContext not restored after a successful call");
	}
	else
	{
		shim_error_jmp = NULL;
		CurrentMemoryContext = &caller_cxt;
		out->ok = false;
		out->elevel = shim_error.elevel;
		out->sqlerrcode = shim_error.sqlerrcode;
		out->internal = shim_error.internal;
		out->message = shim_error.message ? doc_strdup(shim_error.message) : NULL;
		out->hint = shim_error.hint ? doc_strdup(shim_error.hint) : NULL;
		out->where = doc_printf("%s:%d", shim_error.filename ? shim_error.filename : "?",
								shim_error.lineno);
	}
	shim_error_clear();
}

/* The five characters of a SQLSTATE (elog.h's MAKE_SQLSTATE undone). */
static const char *
sqlstate(int code)
{
	char	   *s = doc_alloc(6);

	for (int i = 0; i < 5; i++)
	{
		s[i] = PGUNSIXBIT(code);
		code >>= 6;
	}
	return s;
}

/* Every rejection: ereport(ERROR, 22023, a non-empty message). */
static void
check_error(const Outcome *o, const char *what)
{
	if (o->ok)
		fail("%s: expected an error", what);
	if (o->internal)
		fail("%s: internal error (elog) at %s: %s", what, o->where,
			 o->message ? o->message : "(no message)");
	if (o->elevel != ERROR)
		fail("%s: error level %d at %s, not ERROR", what, o->elevel, o->where);
	if (o->sqlerrcode != ERRCODE_INVALID_PARAMETER_VALUE)
		fail("%s: SQLSTATE %s at %s, not 22023: %s", what, sqlstate(o->sqlerrcode),
			 o->where, o->message ? o->message : "(no message)");
	if (o->message == NULL || o->message[0] == '\0')
		fail("%s: error without a message at %s", what, o->where);
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A string printed with %s: the JSON bytes (no NUL) made a C string. */
static char *
cstr(const char *s, int len)
{
	char	   *d = doc_alloc((size_t) len + 1);

	memcpy(d, s, (size_t) len);
	return d;
}

/* "Valid keys: a, b, c." listing exactly the type's keys. */
static void
check_key_hint(PolicyType type, const char *hint)
{
	const char *s;
	int			nkeys = 0;
	int			seen = 0;

	if (hint == NULL || !starts_with(hint, "Valid keys: ") ||
		hint[strlen(hint) - 1] != '.')
		fail("unknown key: hint \"%s\" is not \"Valid keys: ...\"", hint ? hint : "(none)");
	s = hint + strlen("Valid keys: ");
	while (readme_keys[type][nkeys] != NULL)
		nkeys++;
	for (;;)
	{
		size_t		n = strcspn(s, ",.");
		int			k;

		for (k = 0; k < nkeys; k++)
			if (strlen(readme_keys[type][k]) == n &&
				strncmp(s, readme_keys[type][k], n) == 0)
				break;
		if (k == nkeys || (seen & (1 << k)))
			fail("unknown key: hint \"%s\" does not list exactly the %s keys",
				 hint, readme_types[type]);
		seen |= 1 << k;
		s += n;
		if (*s == '.')
			break;
		if (strncmp(s, ", ", 2) != 0)
			fail("unknown key: hint \"%s\" malformed", hint);
		s += 2;
	}
	if (seen != (1 << nkeys) - 1 || s[1] != '\0')
		fail("unknown key: hint \"%s\" does not list exactly the %s keys",
			 hint, readme_types[type]);
}

/* The error o against the reference's prediction. */
static void
check_rejection(PolicyType type, const Ref *r, const Outcome *o, const char *what)
{
	char	   *prefix = shim_asprintf("invalid %s policy config: ",
									   execlave_policy_type_names[type]);
	char	   *expect = NULL;

	check_error(o, what);
	if (!starts_with(o->message, prefix))
		fail("%s: message \"%s\" does not start with \"%s\"", what, o->message, prefix);
	if (!valid_utf8((const unsigned char *) o->message, strlen(o->message)))
		fail("%s: message is not valid UTF-8: %s", what, o->message);
	if (strlen(o->message) > MAX_MESSAGE)
		fail("%s: message of %zu bytes (at most %d): %.*s...", what, strlen(o->message),
			 MAX_MESSAGE, MAX_MESSAGE, o->message);
	switch (r->outcome)
	{
		case REF_OK:
			fail("%s: rejected a config the reference accepts: %s", what, o->message);
		case REF_NOT_OBJECT:
			expect = shim_asprintf("%smust be a JSON object", prefix);
			if (strcmp(o->message, expect) != 0)
				fail("%s: message \"%s\", expected \"%s\"", what, o->message, expect);
			break;
		case REF_UNKNOWN_KEY:
			expect = shim_asprintf("%sunknown key \"%s\"", prefix, ref_quote(r->key, r->keylen));
			if (strcmp(o->message, expect) != 0)
				fail("%s: message \"%s\", expected \"%s\"", what, o->message, expect);
			check_key_hint(type, o->hint);
			break;
		case REF_BAD_KEY:
			expect = shim_asprintf("%skey \"%s\" %s", prefix, cstr(r->key, r->keylen), r->detail);
			if (strcmp(o->message, expect) != 0)
				fail("%s: message \"%s\", expected \"%s\"", what, o->message, expect);
			break;
		case REF_BAD_PATTERN:
			expect = shim_asprintf("%skey \"patterns\" element %d: %s", prefix,
								   r->bad_element, r->bad_err);
			if (strcmp(o->message, expect) != 0)
				fail("%s: message \"%s\", expected \"%s\"", what, o->message, expect);
			break;
		case REF_WHOLE:
			expect = shim_asprintf("%s%s", prefix, r->detail);
			if (strcmp(o->message, expect) != 0)
				fail("%s: message \"%s\", expected \"%s\"", what, o->message, expect);
			break;
	}
	free(expect);
	free(prefix);
}

/* ----------------------------------------------------- compiled policy */

static const pg_uuid_t *const sentinel_agents = (const pg_uuid_t *) "agents sentinel!";
static const char sentinel_name[] = "name sentinel";

/* p as load_policy_row leaves it before compiling, with garbage elsewhere */
static void
prefill(CompiledPolicy *p)
{
	memset(p, 0xA5, sizeof(*p));
	memset(&p->id, 0x5A, sizeof(p->id));
	p->name = (char *) sentinel_name;
	p->mode = MODE_FLAG;
	p->nagents = 3;
	p->agents = (pg_uuid_t *) sentinel_agents;
	p->scope_version = 0xDEADBEEF;
}

static void
check_owned(const void *ptr, size_t len, MemoryContext cxt, const char *what)
{
	if (ptr == NULL)
		fail("%s is NULL", what);
	if (shim_owner(ptr, len) != cxt)
		fail("%s (%zu bytes) is not in a block of the policy's context", what, len);
}

static bool
is_builtin_family_name(const char *s)
{
	for (int i = 0; i < inj_num_builtins; i++)
		if (s == inj_builtins[i].name)
			return true;
	return false;
}

typedef struct SelfScan
{
	int			want;
	bool		found;
} SelfScan;

static void
self_hit(const InjHit *h, void *arg)
{
	SelfScan   *s = arg;

	if (h->phrase == s->want)
		s->found = true;
}

static void
check_rules(const NameList *l, int n, const RefRule *ref, MemoryContext cxt, const char *list)
{
	if (l->n != n)
		fail("%s has %d rules, expected %d", list, l->n, n);
	if (n == 0)
		return;
	check_owned(l->rules, sizeof(NameRule) * (size_t) n, cxt, list);
	for (int i = 0; i < n; i++)
	{
		const NameRule *r = &l->rules[i];

		if (r->len != ref[i].len || r->prefix != ref[i].prefix)
			fail("%s rule %d: len %d prefix %d, expected len %d prefix %d",
				 list, i + 1, r->len, r->prefix, ref[i].len, ref[i].prefix);
		check_owned(r->name, (size_t) r->len + 1, cxt, "a rule name");
		if (memcmp(r->name, ref[i].name, (size_t) r->len) != 0 || r->name[r->len] != '\0')
			fail("%s rule %d: name differs from the JSON string", list, i + 1);
		if (memchr(r->name, '*', (size_t) r->len) != NULL)
			fail("%s rule %d keeps a '*'", list, i + 1);
	}
}

/* The compiled policy against the reference. */
static void
check_compiled(const CompiledPolicy *p, PolicyType type, const Ref *r, MemoryContext cxt,
			   bool sentinels)
{
	if (p->type != type)
		fail("type %d, expected %d", (int) p->type, (int) type);
	if (p->scan_input != r->scan_input || p->scan_output != r->scan_output)
		fail("scan_input/scan_output %d/%d, expected %d/%d",
			 p->scan_input, p->scan_output, r->scan_input, r->scan_output);
	if (!(p->threshold == r->threshold) || !(p->threshold > 0 && p->threshold <= 1))
		fail("threshold %.17g, expected %.17g", p->threshold, r->threshold);
	if (p->pii_types != r->pii_types || p->pii_types == 0 || (p->pii_types & ~PII_ALL))
		fail("pii_types 0x%x, expected 0x%x", p->pii_types, r->pii_types);
	if (p->mask != r->mask || p->require_model != r->require_model)
		fail("mask/require_model %d/%d, expected %d/%d",
			 p->mask, p->require_model, r->mask, r->require_model);
	check_rules(&p->allow, r->nallow, r->allow, cxt, "allow");
	check_rules(&p->deny, r->ndeny, r->deny, cxt, "deny");
	if (p->max_total != r->max_total || p->max_prompt != r->max_prompt ||
		p->max_completion != r->max_completion)
		fail("token limits %lld/%lld/%lld, expected %lld/%lld/%lld",
			 (long long) p->max_total, (long long) p->max_prompt,
			 (long long) p->max_completion, (long long) r->max_total,
			 (long long) r->max_prompt, (long long) r->max_completion);
	if (p->approval_timeout != r->approval_timeout)
		fail("approval timeout %d, expected %d", p->approval_timeout, r->approval_timeout);
	if (p->max_per_minute != r->per_minute || p->max_per_hour != r->per_hour)
		fail("request limits %lld/%lld, expected %lld/%lld",
			 (long long) p->max_per_minute, (long long) p->max_per_hour,
			 (long long) r->per_minute, (long long) r->per_hour);
	if (p->max_cost_trace != r->cost_trace || p->max_cost_day != r->cost_day ||
		p->max_cost_month != r->cost_month)
		fail("cost limits %lld/%lld/%lld, expected %lld/%lld/%lld",
			 (long long) p->max_cost_trace, (long long) p->max_cost_day,
			 (long long) p->max_cost_month, (long long) r->cost_trace,
			 (long long) r->cost_day, (long long) r->cost_month);
	if (p->budget_per_policy != r->per_policy)
		fail("budget_per_policy %d, expected %d", p->budget_per_policy, r->per_policy);
	if (p->nthresholds != r->nthresholds || p->nthresholds < 0 ||
		p->nthresholds > MAX_COST_THRESHOLDS)
		fail("%d warning thresholds, expected %d", p->nthresholds, r->nthresholds);
	for (int i = 0; i < p->nthresholds; i++)
		if (p->thresholds[i] != r->thresholds[i] || p->thresholds[i] < 1 ||
			p->thresholds[i] > 100 || (i > 0 && p->thresholds[i] <= p->thresholds[i - 1]))
			fail("warning threshold %d is %d, expected %d", i, p->thresholds[i],
				 r->thresholds[i]);
	if ((int) p->action != r->action)
		fail("action %d, expected %d", (int) p->action, r->action);

	if (sentinels)
	{
		pg_uuid_t	id;

		memset(&id, 0x5A, sizeof(id));
		if (memcmp(&p->id, &id, sizeof(id)) != 0 || p->name != sentinel_name ||
			p->mode != MODE_FLAG || p->nagents != 3 || p->agents != sentinel_agents ||
			p->scope_version != 0xDEADBEEF)
			fail("compile changed a field its caller owns (id, name, mode, agents, scope_version)");
	}

	if (type == POLICY_PROMPT_INJECTION)
	{
		int			nb = r->builtins ? inj_num_builtins : 0;
		int			nfam = 0;
		const char *fam[NUM_FAMILIES];
		bool	   *used;

		if (p->nphrases != nb + r->ncustom)
			fail("nphrases %d, expected %d", p->nphrases, nb + r->ncustom);
		check_owned(p->matcher, 1, cxt, "matcher");
		if (inj_num_phrases(p->matcher) != p->nphrases)
			fail("matcher has %d phrases, nphrases %d", inj_num_phrases(p->matcher),
				 p->nphrases);
		for (int i = 0; i < nb; i++)
		{
			int			k;

			for (k = 0; k < nfam; k++)
				if (strcmp(fam[k], inj_builtins[i].name) == 0)
					break;
			if (k == nfam)
			{
				if (nfam == NUM_FAMILIES)
					fail("more builtin families than README lists");
				fam[nfam++] = inj_builtins[i].name;
			}
		}
		if (p->nfamilies != nfam + r->ncustom)
			fail("nfamilies %d, expected %d", p->nfamilies, nfam + r->ncustom);
		check_owned(p->phrase_family, sizeof(int) * (size_t) p->nphrases, cxt, "phrase_family");
		check_owned(p->family_names, sizeof(char *) * (size_t) p->nfamilies, cxt, "family_names");
		check_owned(p->family_weights, sizeof(double) * (size_t) p->nfamilies, cxt,
					"family_weights");
		used = doc_alloc((size_t) p->nfamilies + 1);
		for (int f = 0; f < p->nfamilies; f++)
		{
			const char *name = p->family_names[f];

			if (!is_builtin_family_name(name))
				check_owned(name, strlen(name) + 1, cxt, "a custom family name");
			for (int g = 0; g < f; g++)
				if (strcmp(p->family_names[g], name) == 0)
					fail("family \"%s\" appears twice", name);
		}
		for (int i = 0; i < p->nphrases; i++)
		{
			int			f = p->phrase_family[i];
			const char *want;
			double		weight;

			if (f < 0 || f >= p->nfamilies)
				fail("phrase %d has family %d of %d", i, f, p->nfamilies);
			used[f] = true;
			if (i < nb)
			{
				want = inj_builtins[i].name;
				weight = inj_builtins[i].weight;
			}
			else
			{
				want = doc_printf("custom_%d", i - nb + 1);
				weight = r->custom_weight[i - nb];
			}
			if (strcmp(p->family_names[f], want) != 0)
				fail("phrase %d is in family \"%s\", expected \"%s\"", i,
					 p->family_names[f], want);
			if (p->family_weights[f] != weight || !(weight > 0 && weight <= 1))
				fail("family \"%s\" has weight %g, expected %g", want,
					 p->family_weights[f], weight);
		}
		for (int f = 0; f < p->nfamilies; f++)
			if (!used[f])
				fail("family \"%s\" has no phrase", p->family_names[f]);
		/* the matcher got the phrases: each finds itself */
		for (int j = 0; j < r->ncustom && j < MAX_SELF_SCANS; j++)
		{
			SelfScan	s = {.want = nb + j,.found = false};

			inj_scan(p->matcher, r->custom[j], r->custom_len[j], self_hit, &s);
			if (!s.found)
				fail("custom pattern %d not found when scanned as the text", j + 1);
		}
		if (nb > 0)
		{
			int			i = r->ncustom % nb;
			SelfScan	s = {.want = i,.found = false};

			inj_scan(p->matcher, inj_builtins[i].phrase, strlen(inj_builtins[i].phrase),
					 self_hit, &s);
			if (!s.found)
				fail("builtin phrase %d not found when scanned as the text", i);
		}
	}
}

/* ----------------------------------------------------------- the checks */

static void
compile(PolicyType type, const ShimNode *root, MemoryContext cxt, CompiledPolicy *p,
		bool garbage, Outcome *o)
{
	ShimJsonb	j;
	CompileCall c;

	if (garbage)
		prefill(p);
	else
		memset(p, 0, sizeof(*p));
	c.p = p;
	c.type = type;
	c.config = shim_jsonb_init(&j, root);
	c.cxt = cxt;
	protected_call(call_compile, &c, o);
}

/* An object like root with one more pair (key must be new). */
static ShimNode *
with_pair(const ShimNode *root, ShimNode *key, ShimNode *value)
{
	ShimNode   *v = new_node(SK_OBJECT);
	int			k = 0;

	v->n = root->n + 1;
	v->keys = doc_alloc(sizeof(ShimNode *) * (size_t) v->n);
	v->elems = doc_alloc(sizeof(ShimNode *) * (size_t) v->n);
	for (int i = 0; i < root->n; i++)
	{
		if (k == i && key_cmp(key, root->keys[i]) < 0)
		{
			v->keys[k] = key;
			v->elems[k++] = value;
		}
		v->keys[k] = root->keys[i];
		v->elems[k++] = root->elems[i];
	}
	if (k == root->n)
	{
		v->keys[k] = key;
		v->elems[k] = value;
	}
	v->textlen = root->textlen + key->len + 8;
	shim_container_init(v);
	return v;
}

static ShimNode *
string_node(const char *s)
{
	ShimNode   *v = new_node(SK_STRING);

	v->len = (int) strlen(s);
	v->str = exact_copy(s, (size_t) v->len);
	return v;
}

/* Keys no type has, and every type's keys (unknown to the other types). */
static const char *const other_keys[] = {
	"", "x", "treshold", "Threshold", "scan_input ", "max_tokens", "max_requests_per_day",
	"weight", "pattern", "type", "mode", "*", "allow*", "\xc3\xa9",
	"threshold", "scan_input", "scan_output", "builtin_patterns", "patterns", "types",
	"mask", "allow", "deny", "require_model", "max_total_tokens", "max_prompt_tokens",
	"max_completion_tokens", "max_requests_per_minute", "max_requests_per_hour",
	"max_cost_per_trace", "max_cost_per_day", "max_cost_per_month", "warning_thresholds",
	"action", "scope", "approval_timeout_seconds"
};

#define NUM_OTHER_KEYS ((int) (sizeof(other_keys) / sizeof(other_keys[0])))

static void
differential(PolicyType type, const ShimNode *root, int sel)
{
	CompiledPolicy p;
	Outcome		o;
	Ref			r;
	ShimNode   *key = NULL;
	ShimNode   *changed;

	/* an unknown key turns it into a rejection naming that key */
	for (int i = 0; i < NUM_OTHER_KEYS; i++)
	{
		ShimNode   *k = string_node(other_keys[(sel + i) % NUM_OTHER_KEYS]);

		if (!type_has_key(type, k))
		{
			key = k;
			break;
		}
	}
	if (key == NULL)
		fail("no unknown key for %s", readme_types[type]);
	changed = with_pair(root, key, new_node(SK_NULL));
	ref_compile(type, changed, &r);
	if (r.outcome != REF_UNKNOWN_KEY || r.keylen != key->len)
		fail("reference: adding key \"%s\" to a valid config gives outcome %d",
			 cstr(key->str, key->len), (int) r.outcome);
	compile(type, changed, &policy_cxt[2], &p, false, &o);
	check_rejection(type, &r, &o, "valid config plus an unknown key");

	/* a value of the wrong JSON type: rejected, naming the key */
	if (root->n > 0)
	{
		int			i = sel % root->n;
		ShimNode   *v = new_node(SK_OBJECT);
		ShimNode   *bad;

		if (str_is(root->keys[i], "action") || str_is(root->keys[i], "scope"))
		{
			bad = new_node(SK_ARRAY);
			bad->elems = doc_alloc(sizeof(ShimNode *));
			shim_container_init(bad);
		}
		else
			bad = string_node("1");
		*v = *root;
		v->elems = doc_alloc(sizeof(ShimNode *) * (size_t) root->n);
		memcpy(v->elems, root->elems, sizeof(ShimNode *) * (size_t) root->n);
		v->elems[i] = bad;
		shim_container_init(v);
		ref_compile(type, v, &r);
		if (r.outcome != REF_BAD_KEY || r.key != root->keys[i]->str)
			fail("reference: a wrong JSON type for a key of a valid config gives outcome %d",
				 (int) r.outcome);
		compile(type, v, &policy_cxt[2], &p, false, &o);
		check_rejection(type, &r, &o, "valid config with a value of the wrong JSON type");
	}
}

static void
fuzz_config(PolicyType type, int sel, const unsigned char *text, size_t len)
{
	ShimNode   *root = parse_json(text, len);
	Ref			r;
	CompiledPolicy p1,
				p2;
	Outcome		o1,
				o2;

	if (root == NULL)
		return;
	ref_compile(type, root, &r);
	compile(type, root, &policy_cxt[0], &p1, false, &o1);
	compile(type, root, &policy_cxt[1], &p2, true, &o2);
	if (o1.ok != o2.ok)
		fail("compiled twice: %s, then %s",
			 o1.ok ? "accepted" : o1.message, o2.ok ? "accepted" : o2.message);
	if (!o1.ok)
	{
		check_rejection(type, &r, &o1, "config");
		if (strcmp(o1.message, o2.message) != 0 ||
			(o1.hint == NULL) != (o2.hint == NULL) ||
			(o1.hint && strcmp(o1.hint, o2.hint) != 0))
			fail("compiled twice: \"%s\", then \"%s\"", o1.message, o2.message);
		return;
	}
	if (r.outcome != REF_OK)
		fail("accepted a config the reference rejects (outcome %d, key \"%s\")",
			 (int) r.outcome, r.key ? cstr(r.key, r.keylen) : "");
	check_compiled(&p1, type, &r, &policy_cxt[0], false);
	check_compiled(&p2, type, &r, &policy_cxt[1], true);
	differential(type, root, sel);
}

/* execlave_policy_type and execlave_policy_mode on a name. */
static void
fuzz_names(const char *name)
{
	static const char *const modes[] = {"log", "flag", "block", "require_approval"};
	static const char *const aliases[] = {"monitor", "warn", "log_only"};
	NameCall	c = {.name = name};
	Outcome		o;
	int			want = -1;
	bool		alias = false;
	char	   *msg;

	for (int t = 0; t < POLICY_NUM_TYPES; t++)
		if (strcmp(name, readme_types[t]) == 0)
			want = t;
	protected_call(call_type, &c, &o);
	if (want >= 0)
	{
		if (!o.ok)
			fail("policy type \"%s\" refused: %s", name, o.message);
		if (strcmp(execlave_policy_type_names[c.result], name) != 0)
			fail("policy type \"%s\" gives %d (%s)", name, c.result,
				 execlave_policy_type_names[c.result]);
	}
	else
	{
		check_error(&o, "unknown policy type");
		msg = shim_asprintf("unknown policy type \"%s\"", name);
		if (strcmp(o.message, msg) != 0)
			fail("unknown policy type: message \"%s\"", o.message);
		free(msg);
		for (int t = 0; t < POLICY_NUM_TYPES; t++)
			if (o.hint == NULL || strstr(o.hint, readme_types[t]) == NULL)
				fail("unknown policy type: hint does not list %s", readme_types[t]);
	}

	want = -1;
	for (int m = 0; m < 4; m++)
		if (strcmp(name, modes[m]) == 0)
			want = m;
	for (int m = 0; m < 3; m++)
	{
		if (strcmp(name, aliases[m]) == 0)
		{
			want = MODE_LOG;
			alias = true;
		}
	}
	protected_call(call_mode, &c, &o);
	if (want >= 0)
	{
		if (!o.ok)
			fail("mode \"%s\" refused: %s", name, o.message);
		if (c.result != want || c.alias != alias)
			fail("mode \"%s\" gives %d alias %d, expected %d alias %d", name,
				 c.result, c.alias, want, alias);
	}
	else
	{
		check_error(&o, "unknown policy mode");
		msg = shim_asprintf("unknown policy mode \"%s\"", name);
		if (strcmp(o.message, msg) != 0)
			fail("unknown policy mode: message \"%s\"", o.message);
		free(msg);
		for (int m = 0; m < 3; m++)
			if (o.hint == NULL || strstr(o.hint, modes[m]) == NULL)
				fail("unknown policy mode: hint does not list %s", modes[m]);
	}
}

/* ------------------------------------------------------ startup checks */

/* README.md's example configs, each valid for its type. */
static const struct
{
	PolicyType	type;
	const char *json;
}			readme_examples[] = {
	{POLICY_PROMPT_INJECTION, "{}"},
	{POLICY_TOOL_ACCESS, "{\"deny\": [\"refund*\"], \"approval_timeout_seconds\": 900}"},
	{POLICY_PROMPT_INJECTION, "{\"threshold\": 0.8, \"scan_input\": true, \"scan_output\": false, \"builtin_patterns\": true,\n"
	" \"patterns\": [\"open the pod bay doors\", {\"pattern\": \"sudo mode\", \"weight\": 0.6}]}"},
	{POLICY_PII_DETECTION, "{\"mask\": true}"},
	{POLICY_PII_DETECTION, "{\"types\": [\"email\", \"phone\", \"credit_card\"], \"scan_input\": true, \"scan_output\": true, \"mask\": true}"},
	{POLICY_MODEL_ALLOWLIST, "{\"allow\": [\"gpt-4o\", \"claude-3-*\"], \"deny\": [\"claude-3-opus*\"], \"require_model\": false}"},
	{POLICY_TOKEN_LIMIT, "{\"max_total_tokens\": 8000, \"max_prompt_tokens\": 6000, \"max_completion_tokens\": 2000}"},
	{POLICY_TOOL_ACCESS, "{\"allow\": [\"search\", \"fs.*\"], \"deny\": [\"fs.delete\", \"shell\"]}"},
	{POLICY_RATE_LIMIT, "{\"max_requests_per_minute\": 60, \"max_requests_per_hour\": 1000}"},
	{POLICY_COST_LIMIT, "{\"max_cost_per_trace\": 0.50, \"max_cost_per_day\": 25, \"warning_thresholds\": [80, 100], \"action\": \"block\"}"},
	{POLICY_BUDGET_CAP, "{\"max_cost_per_month\": 500, \"scope\": \"policy\", \"warning_thresholds\": [50, 80, 100], \"action\": \"pause_agent\"}"},
};

/* Bad configs of the regression tests with their messages. */
static const struct
{
	PolicyType	type;
	const char *json;
	const char *message;
}			expected_errors[] = {
	{POLICY_PROMPT_INJECTION, "{\"treshold\": 0.5}", "invalid prompt_injection policy config: unknown key \"treshold\""},
	{POLICY_TOOL_ACCESS, "{\"deny\": [\"x\"], \"approval_timeout_seconds\": 0}", "invalid tool_access policy config: key \"approval_timeout_seconds\" must be a whole number of seconds from 1 to 604800 (got 0)"},
	{POLICY_TOOL_ACCESS, "{\"deny\": [\"x\"], \"approval_timeout_seconds\": 604801}", "invalid tool_access policy config: key \"approval_timeout_seconds\" must be a whole number of seconds from 1 to 604800 (got 604801)"},
	{POLICY_PROMPT_INJECTION, "{\"threshold\": 1.5}", "invalid prompt_injection policy config: key \"threshold\" must be greater than 0 and at most 1 (got 1.5)"},
	{POLICY_PROMPT_INJECTION, "{\"patterns\": [\"ok\", \"   \"]}", "invalid prompt_injection policy config: key \"patterns\" element 2: pattern is empty"},
	{POLICY_PROMPT_INJECTION, "{\"builtin_patterns\": false}", "invalid prompt_injection policy config: key \"patterns\" is empty while builtin_patterns is false: the policy would check nothing"},
	{POLICY_PII_DETECTION, "{\"types\": [\"email\", \"dna\"]}", "invalid pii_detection policy config: key \"types\" element 2: unknown PII type \"dna\" (valid: email, phone, ssn, credit_card, ip_address, iban, api_key)"},
	{POLICY_MODEL_ALLOWLIST, "{\"allow\": [\"gpt*4\"]}", "invalid model_allowlist policy config: key \"allow\" element 1: '*' is allowed only at the end (a prefix match)"},
	{POLICY_TOKEN_LIMIT, "{\"max_total_tokens\": 1.5}", "invalid token_limit policy config: key \"max_total_tokens\" must be a whole number of tokens (got 1.5)"},
	{POLICY_TOOL_ACCESS, "[]", "invalid tool_access policy config: must be a JSON object"},
	{POLICY_TOOL_ACCESS, "{\"deny\": [null]}", "invalid tool_access policy config: key \"deny\" element 1 must be a string, not null"},
	{POLICY_RATE_LIMIT, "{\"max_requests_per_day\": 100}", "invalid rate_limit policy config: unknown key \"max_requests_per_day\""},
	{POLICY_RATE_LIMIT, "{\"max_requests_per_minute\": 2.5}", "invalid rate_limit policy config: key \"max_requests_per_minute\" must be a whole number of requests from 1 to 10^12 (got 2.5)"},
	{POLICY_COST_LIMIT, "{\"max_cost_per_trace\": 1e12}", "invalid cost_limit policy config: key \"max_cost_per_trace\" must be at most 1000000000 USD (got 1e+12)"},
	{POLICY_COST_LIMIT, "{\"max_cost_per_day\": 5, \"warning_thresholds\": [120]}", "invalid cost_limit policy config: key \"warning_thresholds\" entries must be whole percentages from 1 to 100 (got 120)"},
	{POLICY_BUDGET_CAP, "{}", "invalid budget_cap policy config: max_cost_per_month is required"},
	{POLICY_BUDGET_CAP, "{\"max_cost_per_month\": \"NaN\"}", "invalid budget_cap policy config: key \"max_cost_per_month\" must be a number, not a string"},
	/* out of range only by their exact value (the double is in range) */
	{POLICY_TOKEN_LIMIT, "{\"max_total_tokens\": 2.0000000000000001}", "invalid token_limit policy config: key \"max_total_tokens\" must be a whole number of tokens (got 2)"},
	{POLICY_TOKEN_LIMIT, "{\"max_total_tokens\": -1e-400}", "invalid token_limit policy config: key \"max_total_tokens\" must not be negative (got -0)"},
	{POLICY_TOKEN_LIMIT, "{\"max_prompt_tokens\": 9007199254740992.5}", "invalid token_limit policy config: key \"max_prompt_tokens\" must be a whole number of tokens (got 9.0072e+15)"},
	{POLICY_RATE_LIMIT, "{\"max_requests_per_minute\": 0.99999999999999999}", "invalid rate_limit policy config: key \"max_requests_per_minute\" must be a whole number of requests from 1 to 10^12 (got 1)"},
	{POLICY_RATE_LIMIT, "{\"max_requests_per_hour\": 1000000000000.00001}", "invalid rate_limit policy config: key \"max_requests_per_hour\" must be a whole number of requests from 1 to 10^12 (got 1e+12)"},
	{POLICY_COST_LIMIT, "{\"max_cost_per_day\": 1, \"warning_thresholds\": [0.99999999999999999]}", "invalid cost_limit policy config: key \"warning_thresholds\" entries must be whole percentages from 1 to 100 (got 1)"},
	{POLICY_BUDGET_CAP, "{\"max_cost_per_month\": 1, \"warning_thresholds\": [100.000000000000001]}", "invalid budget_cap policy config: key \"warning_thresholds\" entries must be whole percentages from 1 to 100 (got 100)"},
	{POLICY_PROMPT_INJECTION, "{\"threshold\": 1.00000000000000001}", "invalid prompt_injection policy config: key \"threshold\" must be greater than 0 and at most 1 (got 1)"},
	{POLICY_PROMPT_INJECTION, "{\"threshold\": 1e-400}", "invalid prompt_injection policy config: key \"threshold\" must be greater than 0 and at most 1 (got 0)"},
	{POLICY_PROMPT_INJECTION, "{\"patterns\": [{\"pattern\": \"x\", \"weight\": 1e-400}]}", "invalid prompt_injection policy config: key \"patterns\" element 1: \"weight\" must be greater than 0 and at most 1"},
	{POLICY_PROMPT_INJECTION, "{\"patterns\": [{\"pattern\": \"x\", \"weight\": 1.00000000000000001}]}", "invalid prompt_injection policy config: key \"patterns\" element 1: \"weight\" must be greater than 0 and at most 1"},
	{POLICY_COST_LIMIT, "{\"max_cost_per_day\": 1000000000.00000005}", "invalid cost_limit policy config: key \"max_cost_per_day\" must be at most 1000000000 USD (got 1e+09)"},
	{POLICY_BUDGET_CAP, "{\"max_cost_per_month\": -1e-400}", "invalid budget_cap policy config: key \"max_cost_per_month\" must not be negative (got -0)"},
	{POLICY_COST_LIMIT, "{\"max_cost_per_trace\": 1e400}", "invalid cost_limit policy config: key \"max_cost_per_trace\" must be a finite number"},
};

/* Numbers at the edges of their ranges, which compile. */
static const struct
{
	PolicyType	type;
	const char *json;
}			edge_examples[] = {
	{POLICY_TOKEN_LIMIT, "{\"max_total_tokens\": 2.000, \"max_prompt_tokens\": 0e5, \"max_completion_tokens\": 9007199254740992}"},
	{POLICY_TOKEN_LIMIT, "{\"max_total_tokens\": -0, \"max_prompt_tokens\": 90071992547409.92e2, \"max_completion_tokens\": 1e-0}"},
	{POLICY_RATE_LIMIT, "{\"max_requests_per_minute\": 1.0, \"max_requests_per_hour\": 1e12}"},
	{POLICY_COST_LIMIT, "{\"max_cost_per_trace\": 1e-400, \"max_cost_per_day\": 1000000000.000, \"warning_thresholds\": [1.0, 100, 1e2, 5e1]}"},
	{POLICY_BUDGET_CAP, "{\"max_cost_per_month\": -0.0, \"warning_thresholds\": [10000e-2]}"},
	{POLICY_PROMPT_INJECTION, "{\"threshold\": 1.000, \"patterns\": [{\"pattern\": \"x\", \"weight\": 1e-300}, {\"pattern\": \"y\", \"weight\": 10e-1}]}"},
	{POLICY_PROMPT_INJECTION, "{\"threshold\": 0.00000000000000000000000000000000000001}"},
};

/* numeric_cmp of two number texts, as policy_config.c calls it. */
static int
shim_cmp(const char *a, const char *b)
{
	ShimNumeric x = {SHIM_NUMERIC_MAGIC, 0, (char *) a};
	ShimNumeric y = {SHIM_NUMERIC_MAGIC, 0, (char *) b};

	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, PointerGetDatum(&x),
											 PointerGetDatum(&y)));
}

/* The shim's exact arithmetic against hand-worked answers. */
static void
check_shim_numeric(void)
{
	static const struct
	{
		const char *a;
		const char *b;
		int			cmp;
	}			cmps[] = {
		{"1e-400", "0", 1}, {"-1e-400", "0", -1}, {"-1e-400", "-0.0", -1},
		{"0.0e5", "-0", 0}, {"0", "0e-16383", 0}, {"1e400", "9007199254740992", 1},
		{"-1e400", "-1", -1}, {"-1e400", "-1e401", 1}, {"1e131071", "1e131070", 1},
		{"2.0000000000000001", "2", 1}, {"0.99999999999999999", "1", -1},
		{"1.00000000000000001", "1", 1}, {"1000000000.00000005", "1000000000", 1},
		{"100e-2", "1", 0}, {"12.50", "1.25e1", 0}, {"-5", "-50e-1", 0},
		{"-5", "-4", -1}, {"-4", "-5", 1}, {"123", "124", -1}, {"0.1", "0.09", 1},
		{"9007199254740993", "9007199254740992", 1}, {"-0.001", "-0.0010", 0},
		{"1.5", "15e-1", 0}, {"1.05", "1.5", -1}, {"10", "9.99999999999999999999", 1},
		{"-9223372036854775808", "-9223372036854775807", -1},
	};
	static const struct
	{
		const char *x;
		const char *trunc;
	}			truncs[] = {
		{"2.0000000000000001", "2"}, {"-1.5", "-1"}, {"-0.5", "0"}, {"1e-400", "0"},
		{"-1e-400", "0"}, {"1e400", "1e400"}, {"123.456e2", "12345"}, {"0", "0"},
		{"1.5e-1", "0"}, {"99.99e1", "999"}, {"1000000000.00000005", "1000000000"},
		{"-7", "-7"}, {"120.00", "120"},
	};
	static const int64 ints[] = {
		0, 1, -1, 100, INT64CONST(9007199254740992), INT64CONST(1000000000000),
		PG_INT64_MAX, PG_INT64_MIN
	};

	CurrentMemoryContext = &caller_cxt;
	for (size_t i = 0; i < sizeof(cmps) / sizeof(cmps[0]); i++)
	{
		if (shim_cmp(cmps[i].a, cmps[i].b) != cmps[i].cmp)
			fail("shim: numeric_cmp(%s, %s) is %d, expected %d", cmps[i].a, cmps[i].b,
				 shim_cmp(cmps[i].a, cmps[i].b), cmps[i].cmp);
		if (shim_cmp(cmps[i].b, cmps[i].a) != -cmps[i].cmp)
			fail("shim: numeric_cmp(%s, %s) is not antisymmetric", cmps[i].b, cmps[i].a);
	}
	for (size_t i = 0; i < sizeof(truncs) / sizeof(truncs[0]); i++)
	{
		ShimNumeric x = {SHIM_NUMERIC_MAGIC, 0, (char *) truncs[i].x};
		const ShimNumeric *t;

		t = (const ShimNumeric *) DatumGetPointer(DirectFunctionCall2(numeric_trunc,
																	  PointerGetDatum(&x),
																	  Int32GetDatum(0)));
		if (t->magic != SHIM_NUMERIC_MAGIC || shim_cmp(t->text, truncs[i].trunc) != 0)
			fail("shim: numeric_trunc(%s, 0) is %s, expected %s", truncs[i].x, t->text,
				 truncs[i].trunc);
		if (!(t->float8 == shim_numeric_float8(truncs[i].trunc)))
			fail("shim: numeric_trunc(%s, 0) has double %g", truncs[i].x, t->float8);
	}
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
	{
		const ShimNumeric *n = (const ShimNumeric *) int64_to_numeric(ints[i]);
		char	   *text = doc_printf("%lld", (long long) ints[i]);

		if (n->magic != SHIM_NUMERIC_MAGIC || strcmp(n->text, text) != 0 ||
			n->float8 != (double) ints[i])
			fail("shim: int64_to_numeric(%s) is %s", text, n->text);
	}
	/* "ab" and 4-byte characters: 2 + 4 * 49 bytes fit in 200 */
	{
		char		s[2 + 4 * 60 + 1] = "ab";

		for (int i = 0; i < 60; i++)
			memcpy(s + 2 + 4 * i, "\xf0\x9f\x98\x80", 4);
		s[sizeof(s) - 1] = '\0';
		if (pg_mbcliplen(s, (int) strlen(s), 200) != 198 ||
			pg_mbcliplen(s, (int) strlen(s), 202) != 202 ||
			pg_mbcliplen(s, 5, 200) != 6 || pg_mbcliplen(s, 1, 200) != 1 ||
			pg_mbcliplen("abc", 3, 2) != 2 || pg_mbcliplen("a\xc3\xa9", 3, 2) != 1 ||
			pg_mbcliplen("a\0b", 3, 3) != 1)
			fail("shim: pg_mbcliplen is wrong");
	}
	shim_arena_reset();
	doc_reset();
}

/* A config of type with a string value (or key) of n copies of ch. */
static void
check_clipped(PolicyType type, const char *before, const char *ch, int n, const char *after,
			  const char *msg_before, int nshown, const char *msg_after)
{
	size_t		chlen = strlen(ch);
	size_t		len = strlen(before) + chlen * (size_t) n + strlen(after);
	char	   *json = doc_alloc(len + 1);
	char	   *expect = doc_alloc(strlen(msg_before) + chlen * (size_t) nshown +
								   strlen(msg_after) + 1);
	char	   *o;
	ShimNode   *root;
	CompiledPolicy p;
	Outcome		out;

	o = json + strlen(strcpy(json, before));
	for (int i = 0; i < n; i++, o += chlen)
		memcpy(o, ch, chlen);
	strcpy(o, after);
	o = expect + strlen(strcpy(expect, msg_before));
	for (int i = 0; i < nshown; i++, o += chlen)
		memcpy(o, ch, chlen);
	strcpy(o, msg_after);

	root = parse_json((const unsigned char *) json, len);
	if (root == NULL)
		fail("clipping test config does not parse: %s", json);
	compile(type, root, &policy_cxt[0], &p, false, &out);
	check_error(&out, "clipping test");
	if (strcmp(out.message, expect) != 0)
		fail("clipping: message \"%s\", expected \"%s\"", out.message, expect);
	fuzz_config(type, 0, (const unsigned char *) json, len);
	doc_reset();
	shim_arena_reset();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;

	check_shim_numeric();

	/* name tables against README.md */
	for (int t = 0; t < POLICY_NUM_TYPES; t++)
	{
		bool		found = false;

		for (int u = 0; u < POLICY_NUM_TYPES; u++)
			found |= strcmp(execlave_policy_type_names[t], readme_types[u]) == 0;
		if (!found)
			fail("policy type name \"%s\" is not in README.md", execlave_policy_type_names[t]);
		fuzz_names(readme_types[t]);
	}
	if (strcmp(execlave_policy_mode_names[MODE_LOG], "log") != 0 ||
		strcmp(execlave_policy_mode_names[MODE_FLAG], "flag") != 0 ||
		strcmp(execlave_policy_mode_names[MODE_BLOCK], "block") != 0 ||
		strcmp(execlave_policy_mode_names[MODE_REQUIRE_APPROVAL], "require_approval") != 0)
		fail("mode names are not log, flag, block, require_approval");
	fuzz_names("log");
	fuzz_names("require_approval");
	fuzz_names("monitor");
	fuzz_names("");
	fuzz_names("Block");
	for (int t = 0; t < PII_NUM_TYPES; t++)
		if (strcmp(pii_type_names[t], readme_pii[t]) != 0)
			fail("PII type %d is \"%s\", README.md says \"%s\"", t, pii_type_names[t],
				 readme_pii[t]);
	for (int i = 0; i < inj_num_builtins; i++)
	{
		int			k;

		for (k = 0; k < NUM_FAMILIES; k++)
			if (strcmp(inj_builtins[i].name, readme_families[k]) == 0)
				break;
		if (k == NUM_FAMILIES)
			fail("builtin family \"%s\" is not in README.md", inj_builtins[i].name);
		if (!(inj_builtins[i].weight > 0 && inj_builtins[i].weight <= 1))
			fail("builtin family \"%s\" has weight %g", inj_builtins[i].name,
				 inj_builtins[i].weight);
	}

	for (size_t i = 0; i < sizeof(readme_examples) / sizeof(readme_examples[0]); i++)
	{
		const char *json = readme_examples[i].json;
		ShimNode   *root = parse_json((const unsigned char *) json, strlen(json));
		CompiledPolicy p;
		Outcome		o;
		Ref			r;

		if (root == NULL)
			fail("README example %zu does not parse", i);
		ref_compile(readme_examples[i].type, root, &r);
		compile(readme_examples[i].type, root, &policy_cxt[0], &p, false, &o);
		if (!o.ok || r.outcome != REF_OK)
			fail("README example %s refused: %s", json, o.ok ? "by the reference" : o.message);
		fuzz_config(readme_examples[i].type, (int) i, (const unsigned char *) json, strlen(json));
		doc_reset();
		shim_arena_reset();
	}
	for (size_t i = 0; i < sizeof(expected_errors) / sizeof(expected_errors[0]); i++)
	{
		const char *json = expected_errors[i].json;
		ShimNode   *root = parse_json((const unsigned char *) json, strlen(json));
		CompiledPolicy p;
		Outcome		o;

		if (root == NULL)
			fail("test config %zu does not parse", i);
		compile(expected_errors[i].type, root, &policy_cxt[0], &p, false, &o);
		check_error(&o, json);
		if (strcmp(o.message, expected_errors[i].message) != 0)
			fail("%s: message \"%s\", expected \"%s\"", json, o.message,
				 expected_errors[i].message);
		fuzz_config(expected_errors[i].type, (int) i, (const unsigned char *) json, strlen(json));
		doc_reset();
		shim_arena_reset();
	}
	for (size_t i = 0; i < sizeof(edge_examples) / sizeof(edge_examples[0]); i++)
	{
		const char *json = edge_examples[i].json;
		ShimNode   *root = parse_json((const unsigned char *) json, strlen(json));
		CompiledPolicy p;
		Outcome		o;

		if (root == NULL)
			fail("edge config %zu does not parse", i);
		compile(edge_examples[i].type, root, &policy_cxt[0], &p, false, &o);
		if (!o.ok)
			fail("edge config %s refused: %s", json, o.message);
		fuzz_config(edge_examples[i].type, (int) i, (const unsigned char *) json, strlen(json));
		doc_reset();
		shim_arena_reset();
	}

	/*
	 * A user's string in a message: 200 bytes at most, cut at a character
	 * boundary (the first, "x" and 240 e-acute, was cut inside a character
	 * by config_error's old 512-byte buffer).
	 */
	check_clipped(POLICY_COST_LIMIT, "{\"max_cost_per_day\": 1, \"action\": \"x", "\xc3\xa9", 240, "\"}",
				  "invalid cost_limit policy config: key \"action\" must be \"block\", \"warn\" or \"pause_agent\" (got \"x",
				  99, "...\")");
	check_clipped(POLICY_BUDGET_CAP, "{\"max_cost_per_month\": 1, \"scope\": \"", "\xe2\x82\xac", 100, "\"}",
				  "invalid budget_cap policy config: key \"scope\" must be \"agent\" or \"policy\" (got \"",
				  66, "...\")");
	check_clipped(POLICY_COST_LIMIT, "{\"max_cost_per_day\": 1, \"action\": \"", "x", 60000, "\"}",
				  "invalid cost_limit policy config: key \"action\" must be \"block\", \"warn\" or \"pause_agent\" (got \"",
				  200, "...\")");
	check_clipped(POLICY_COST_LIMIT, "{\"max_cost_per_day\": 1, \"action\": \"", "x", 200, "\"}",
				  "invalid cost_limit policy config: key \"action\" must be \"block\", \"warn\" or \"pause_agent\" (got \"",
				  200, "\")");
	check_clipped(POLICY_PII_DETECTION, "{\"types\": [\"email\", \"ab", "\xf0\x9f\x98\x80", 60, "\"]}",
				  "invalid pii_detection policy config: key \"types\" element 2: unknown PII type \"ab",
				  49, "...\" (valid: email, phone, ssn, credit_card, ip_address, iban, api_key)");
	check_clipped(POLICY_PROMPT_INJECTION, "{\"patterns\": [{\"pattern\": \"x\", \"", "\xc3\xa9", 101, "\": 1}]}",
				  "invalid prompt_injection policy config: key \"patterns\" element 1 has unknown key \"",
				  100, "...\" (valid: pattern, weight)");
	check_clipped(POLICY_TOOL_ACCESS, "{\"allow\": [\"x\"], \"", "k", 300, "\": 1}",
				  "invalid tool_access policy config: unknown key \"", 200, "...\"");
	return 0;
}

/* ---------------------------------------------------------------- entry */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 0x80)
	{
		char	   *name;

		if (memchr(data + 1, '\0', size - 1) != NULL)
			return 0;			/* a text value has no NUL */
		name = doc_alloc(size);	/* exactly the name and its NUL */
		memcpy(name, data + 1, size - 1);
		fuzz_names(name);
	}
	else
		fuzz_config((PolicyType) (data[0] & 7), (data[0] >> 3) & 15, data + 1, size - 1);
	doc_reset();
	shim_arena_reset();
	return 0;
}
