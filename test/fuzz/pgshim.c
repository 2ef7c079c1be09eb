/*
 * pgshim.c
 *		The fake backend of fuzz_policy_config: see pgshim.h.
 *
 * Only what src/policy_config.o needs is defined, each with the contract of
 * the PostgreSQL 15 function it stands for (the comments say where it is
 * simplified).  Nothing here is copied from PostgreSQL.
 */
#include "pgshim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/pg_list.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

/* The one policy_config.c's header declares (src/policy.h). */
extern int64 execlave_numeric_to_nanos(Numeric n);

/* fail(fmt, ...): report a broken shim contract and abort (fuzz_fail.h) */
#define FUZZ_FAIL_PREFIX "fuzz_policy_config: shim: "
#include "fuzz_fail.h"

/* vsnprintf to a malloc'd string. */
static char *
shim_vasprintf(const char *fmt, va_list ap)
{
	va_list		ap2;
	int			n;
	char	   *s;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		fail("vsnprintf failed for \"%s\"", fmt);
	s = malloc((size_t) n + 1);
	if (s == NULL)
		fail("out of memory");
	vsnprintf(s, (size_t) n + 1, fmt, ap);
	return s;
}

char *
shim_asprintf(const char *fmt,...)
{
	va_list		ap;
	char	   *s;

	va_start(ap, fmt);
	s = shim_vasprintf(fmt, ap);
	va_end(ap);
	return s;
}

/* --------------------------------------------------------------- errors */

ShimError	shim_error;
sigjmp_buf *shim_error_jmp = NULL;

void
shim_error_clear(void)
{
	free(shim_error.message);
	free(shim_error.hint);
	memset(&shim_error, 0, sizeof(shim_error));
}

/*
 * ereport() with a constant level >= ERROR calls this one.  Levels below
 * ERROR would be reported and return; policy_config.c has none, so they are
 * simply not reported.
 */
bool
errstart_cold(int elevel, const char *domain)
{
	(void) domain;
	if (shim_error.active)
		fail("ereport while building another error report (\"%s\")",
				   shim_error.message ? shim_error.message : "");
	if (elevel < ERROR)
		return false;
	shim_error_clear();
	shim_error.active = true;
	shim_error.elevel = elevel;
	shim_error.sqlerrcode = ERRCODE_INTERNAL_ERROR; /* errcode() not given */
	return true;
}

int
errcode(int sqlerrcode)
{
	shim_error.sqlerrcode = sqlerrcode;
	return 0;
}

/* Replace *field with the formatted text. */
static void
set_text(char **field, const char *fmt, va_list ap)
{
	free(*field);
	*field = shim_vasprintf(fmt, ap);
}

int
errmsg(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	set_text(&shim_error.message, fmt, ap);
	va_end(ap);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	set_text(&shim_error.message, fmt, ap);
	va_end(ap);
	shim_error.internal = true;
	return 0;
}

int
errhint(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	set_text(&shim_error.hint, fmt, ap);
	va_end(ap);
	return 0;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (!shim_error.active)
		fail("errfinish without errstart");
	shim_error.active = false;
	shim_error.filename = filename;
	shim_error.lineno = lineno;
	shim_error.funcname = funcname;
	if (shim_error.elevel < ERROR)
		return;
	if (shim_error_jmp == NULL)
		fail("ERROR outside a protected call: %s",
				   shim_error.message ? shim_error.message : "(no message)");
	siglongjmp(*shim_error_jmp, 1);
}

/* elog(ERROR) from inside the shim (bad request sizes and the like) */
static void shim_elog(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

static void
shim_elog(const char *fmt,...)
{
	va_list		ap;

	(void) errstart_cold(ERROR, NULL);
	va_start(ap, fmt);
	shim_error.message = shim_vasprintf(fmt, ap);
	va_end(ap);
	shim_error.internal = true;
	errfinish(__FILE__, __LINE__, __func__);
	abort();					/* not reached */
}

/* --------------------------------------------------------------- memory */

/*
 * Every block is its own malloc of exactly the size asked for, so ASan
 * reports any access past it; the header in front links the blocks and
 * remembers the context.  Non-zeroed blocks are filled with 0xA5, so that
 * code relying on palloc'd memory being zero misbehaves.
 */
typedef struct ShimChunk
{
	struct ShimChunk *next;
	MemoryContext cxt;
	size_t		size;
	size_t		pad;			/* keep the payload 16-byte aligned */
} ShimChunk;

MemoryContext CurrentMemoryContext = NULL;

static ShimChunk *chunks = NULL;
static size_t nchunks = 0;
static ShimChunk **sorted = NULL;	/* chunks by address, for shim_owner */
static size_t nsorted = 0;
static bool sorted_valid = false;

static void *
shim_alloc(MemoryContext cxt, Size size, bool zero)
{
	ShimChunk  *c;

	if (!AllocSizeIsValid(size))
		shim_elog("invalid memory alloc request size %zu", (size_t) size);
	if (cxt == NULL)
		fail("allocation in a NULL memory context");
	c = malloc(sizeof(ShimChunk) + size);
	if (c == NULL)
		fail("out of memory (%zu bytes)", (size_t) size);
	c->next = chunks;
	c->cxt = cxt;
	c->size = size;
	chunks = c;
	nchunks++;
	sorted_valid = false;
	memset(c + 1, zero ? 0 : 0xA5, size);
	return c + 1;
}

/* The chunk of a pointer palloc returned. */
static ShimChunk *
chunk_of(const void *p)
{
	return ((ShimChunk *) p) - 1;
}

void
shim_arena_reset(void)
{
	while (chunks != NULL)
	{
		ShimChunk  *next = chunks->next;

		free(chunks);
		chunks = next;
	}
	nchunks = 0;
	free(sorted);
	sorted = NULL;
	nsorted = 0;
	sorted_valid = false;
}

static int
chunk_cmp(const void *a, const void *b)
{
	uintptr_t	x = (uintptr_t) *(ShimChunk *const *) a;
	uintptr_t	y = (uintptr_t) *(ShimChunk *const *) b;

	return x < y ? -1 : x > y;
}

MemoryContext
shim_owner(const void *p, size_t len)
{
	uintptr_t	a = (uintptr_t) p;
	size_t		lo = 0;
	size_t		hi;

	if (!sorted_valid)
	{
		size_t		i = 0;

		free(sorted);
		sorted = malloc(sizeof(ShimChunk *) * (nchunks ? nchunks : 1));
		if (sorted == NULL)
			fail("out of memory");
		for (ShimChunk *c = chunks; c != NULL; c = c->next)
			sorted[i++] = c;
		nsorted = i;
		qsort(sorted, nsorted, sizeof(ShimChunk *), chunk_cmp);
		sorted_valid = true;
	}
	/* last chunk starting at or before p */
	hi = nsorted;
	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if ((uintptr_t) (sorted[mid] + 1) <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	{
		ShimChunk  *c = sorted[lo - 1];
		uintptr_t	start = (uintptr_t) (c + 1);

		if (a - start > c->size || len > c->size - (a - start))
			return NULL;
		return c->cxt;
	}
}

void *
palloc(Size size)
{
	return shim_alloc(CurrentMemoryContext, size, false);
}

void *
palloc0(Size size)
{
	return shim_alloc(CurrentMemoryContext, size, true);
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return shim_alloc(context, size, false);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return shim_alloc(context, size, true);
}

char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	size_t		n = strlen(string);
	char	   *s = shim_alloc(context, n + 1, false);

	memcpy(s, string, n + 1);
	return s;
}

/* At most len bytes of in, stopping at a NUL, NUL-terminated. */
char *
pnstrdup(const char *in, Size len)
{
	size_t		n = strnlen(in, len);
	char	   *s = palloc(n + 1);

	memcpy(s, in, n);
	s[n] = '\0';
	return s;
}

char *
psprintf(const char *fmt,...)
{
	va_list		ap;
	char	   *tmp;
	char	   *s;
	size_t		n;

	va_start(ap, fmt);
	tmp = shim_vasprintf(fmt, ap);
	va_end(ap);
	n = strlen(tmp);
	s = palloc(n + 1);
	memcpy(s, tmp, n + 1);
	free(tmp);
	return s;
}

/* ---------------------------------------------------------- StringInfo */

/* Small, so that the callers' enlarge-and-retry paths are exercised. */
#define SHIM_STRINGINFO_INITIAL	16

void
initStringInfo(StringInfo str)
{
	str->maxlen = SHIM_STRINGINFO_INITIAL;
	str->data = palloc(str->maxlen);
	str->len = 0;
	str->data[0] = '\0';
	str->cursor = 0;
}

/*
 * Room for needed more bytes and a NUL; the data move to a bigger block in
 * the old block's context, as repalloc would keep it.
 */
void
enlargeStringInfo(StringInfo str, int needed)
{
	size_t		want;
	size_t		newlen;
	char	   *data;

	if (needed < 0)
		shim_elog("invalid string enlargement request size: %d", needed);
	want = (size_t) str->len + (size_t) needed + 1;
	if (want > MaxAllocSize)
		shim_elog("out of memory: StringInfo of %zu bytes", want);
	if (want <= (size_t) str->maxlen)
		return;
	newlen = (size_t) str->maxlen;
	while (newlen < want)
		newlen *= 2;
	if (newlen > MaxAllocSize)
		newlen = MaxAllocSize;
	data = MemoryContextAlloc(chunk_of(str->data)->cxt, newlen);
	memcpy(data, str->data, (size_t) str->len + 1);
	str->data = data;
	str->maxlen = (int) newlen;
}

/*
 * 0 if the text fitted (and was appended); otherwise str is unchanged and
 * the answer is the space needed, NUL included, for enlargeStringInfo.
 */
int
appendStringInfoVA(StringInfo str, const char *fmt, va_list args)
{
	size_t		avail = (size_t) (str->maxlen - str->len);
	int			n = vsnprintf(str->data + str->len, avail, fmt, args);

	if (n < 0)
		fail("vsnprintf failed for \"%s\"", fmt);
	if ((size_t) n < avail)
	{
		str->len += n;
		return 0;
	}
	str->data[str->len] = '\0';
	return n + 1;
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	for (;;)
	{
		va_list		ap;
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(str, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(str, needed);
	}
}

/* ---------------------------------------------------------------- lists */

#define SHIM_LIST_INITIAL	4	/* small, so that growth is exercised */

/*
 * PostgreSQL 15 List: header and initial cells in one block, cells moved
 * to a block of their own (in the list's context) when they outgrow it.
 */
List *
lappend(List *list, void *datum)
{
	if (list == NIL)
	{
		list = palloc(offsetof(List, initial_elements) +
					  SHIM_LIST_INITIAL * sizeof(ListCell));
		list->type = T_List;
		list->length = 0;
		list->max_length = SHIM_LIST_INITIAL;
		list->elements = list->initial_elements;
	}
	else if (list->type != T_List)
		fail("lappend on a list of type %d", (int) list->type);
	if (list->length == list->max_length)
	{
		int			newmax = list->max_length * 2;
		ListCell   *cells = MemoryContextAlloc(chunk_of(list)->cxt,
											   sizeof(ListCell) * newmax);

		memcpy(cells, list->elements, sizeof(ListCell) * list->length);
		list->elements = cells;
		list->max_length = newmax;
	}
	list->elements[list->length++].ptr_value = datum;
	return list;
}

/* ----------------------------------------------------------------- fmgr */

static Datum
shim_call(PGFunction func, Oid collation, int nargs, const Datum *args)
{
	LOCAL_FCINFO(fcinfo, 2);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, nargs, collation, NULL, NULL);
	for (int i = 0; i < nargs; i++)
	{
		fcinfo->args[i].value = args[i];
		fcinfo->args[i].isnull = false;
	}
	result = (*func) (fcinfo);
	if (fcinfo->isnull)
		shim_elog("function %p returned NULL", (void *) func);
	return result;
}

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	return shim_call(func, collation, 1, &arg1);
}

Datum
DirectFunctionCall2Coll(PGFunction func, Oid collation, Datum arg1, Datum arg2)
{
	Datum		args[2] = {arg1, arg2};

	return shim_call(func, collation, 2, args);
}

/* -------------------------------------------------------------- numeric */

static const ShimNumeric *
shim_numeric(const void *p)
{
	const ShimNumeric *n = p;

	if (n == NULL || n->magic != SHIM_NUMERIC_MAGIC)
		fail("not a ShimNumeric: %p", p);
	return n;
}

/*
 * A number's text as sign, significant digits (no leading and no trailing
 * zero; none for zero, which is never negative) and the power of ten of the
 * last digit.  The text is a JSON number (the harness's parser checked its
 * grammar and keeps |exponent| < INT_MAX / 2, numeric_in's limit) or one
 * the shim wrote, "[-]digits[e[-]exponent]".
 */
typedef struct ShimDecimal
{
	bool		neg;
	char	   *d;				/* malloc'd, NUL-terminated */
	long		nd;
	long		exp10;
} ShimDecimal;

static void
decimal_parse(const char *text, ShimDecimal *x)
{
	const char *s = text;
	long		frac = 0;
	long		e = 0;
	long		k;

	x->d = malloc(strlen(text) + 1);
	if (x->d == NULL)
		fail("out of memory");
	x->nd = 0;
	x->neg = (*s == '-');
	if (x->neg)
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		x->d[x->nd++] = *s;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, frac++)
			x->d[x->nd++] = *s;
	if (*s == 'e' || *s == 'E')
	{
		bool		eneg = false;

		s++;
		if (*s == '+' || *s == '-')
			eneg = (*s++ == '-');
		for (; *s >= '0' && *s <= '9'; s++)
			e = e * 10 + (*s - '0');
		if (eneg)
			e = -e;
	}
	if (*s != '\0')
		fail("not a number: \"%s\"", text);
	x->exp10 = e - frac;
	while (x->nd > 0 && x->d[x->nd - 1] == '0')
	{
		x->nd--;
		x->exp10++;
	}
	for (k = 0; k < x->nd && x->d[k] == '0'; k++)
		;
	memmove(x->d, x->d + k, (size_t) (x->nd - k));
	x->nd -= k;
	x->d[x->nd] = '\0';
	if (x->nd == 0)
	{
		x->neg = false;
		x->exp10 = 0;
	}
}

/* -1, 0 or 1 as x is less than, equal to or greater than y. */
static int
decimal_cmp(const ShimDecimal *x, const ShimDecimal *y)
{
	int			sx = x->nd == 0 ? 0 : x->neg ? -1 : 1;
	int			sy = y->nd == 0 ? 0 : y->neg ? -1 : 1;
	long		tx,
				ty;
	int			c = 0;

	if (sx != sy)
		return sx < sy ? -1 : 1;
	if (sx == 0)
		return 0;
	/* same sign: the magnitudes, by the place of the first digit, then digits */
	tx = x->nd + x->exp10;
	ty = y->nd + y->exp10;
	if (tx != ty)
		c = tx > ty ? 1 : -1;
	else
	{
		for (long k = 0; k < x->nd && k < y->nd && c == 0; k++)
			c = (x->d[k] > y->d[k]) - (x->d[k] < y->d[k]);
		/* past the common digits, the longer one has a non-zero digit more */
		if (c == 0)
			c = (x->nd > y->nd) - (x->nd < y->nd);
	}
	return sx < 0 ? -c : c;
}

/* A ShimNumeric in the current context for text (which it copies). */
static ShimNumeric *
numeric_make(const char *text)
{
	ShimNumeric *n = palloc(sizeof(ShimNumeric));
	size_t		len = strlen(text);

	n->magic = SHIM_NUMERIC_MAGIC;
	n->text = palloc(len + 1);
	memcpy(n->text, text, len + 1);
	n->float8 = shim_numeric_float8(n->text);
	return n;
}

/* ... of a decimal, written as "[-]digits[e<exp10>]" or "0". */
static ShimNumeric *
numeric_from_decimal(const ShimDecimal *x)
{
	char	   *text;
	ShimNumeric *n;

	if (x->nd == 0)
		return numeric_make("0");
	text = shim_asprintf("%s%se%ld", x->neg ? "-" : "", x->d, x->exp10);
	n = numeric_make(text);
	free(text);
	return n;
}

Datum
numeric_float8_no_overflow(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(shim_numeric(PG_GETARG_POINTER(0))->float8);
}

Numeric
int64_to_numeric(int64 val)
{
	char		text[24];

	snprintf(text, sizeof(text), "%lld", (long long) val);
	return (Numeric) numeric_make(text);
}

/* The exact comparison of the decimal values (a JSON number is never NaN). */
Datum
numeric_cmp(PG_FUNCTION_ARGS)
{
	ShimDecimal x,
				y;
	int			c;

	decimal_parse(shim_numeric(PG_GETARG_POINTER(0))->text, &x);
	decimal_parse(shim_numeric(PG_GETARG_POINTER(1))->text, &y);
	c = decimal_cmp(&x, &y);
	free(x.d);
	free(y.d);
	PG_RETURN_INT32(c);
}

/*
 * numeric_trunc(n, scale): n with the digits after the scale'th decimal
 * place dropped (toward zero; to the left of the point for a negative
 * scale).  Only the value is modelled, not the display scale.
 */
Datum
numeric_trunc(PG_FUNCTION_ARGS)
{
	ShimDecimal x;
	int32		scale = PG_GETARG_INT32(1);
	long		keep;
	ShimNumeric *r;

	decimal_parse(shim_numeric(PG_GETARG_POINTER(0))->text, &x);
	/* digit k stands for 10^(exp10 + nd - 1 - k); keep those >= 10^-scale */
	keep = x.exp10 + x.nd + scale;
	if (keep < 0)
		keep = 0;
	if (keep < x.nd)
	{
		x.exp10 += x.nd - keep;
		x.nd = keep;
		while (x.nd > 0 && x.d[x.nd - 1] == '0')
		{
			x.nd--;
			x.exp10++;
		}
		x.d[x.nd] = '\0';
		if (x.nd == 0)
			x.neg = false;
	}
	r = numeric_from_decimal(&x);
	free(x.d);
	PG_RETURN_POINTER(r);
}

double
shim_numeric_float8(const char *text)
{
	ShimDecimal x;
	bool		zero;

	decimal_parse(text, &x);
	zero = (x.nd == 0);
	free(x.d);
	if (zero)
		return 0.0;
	return strtod(text, NULL);
}

int64
shim_decimal_to_nanos(const char *text)
{
	static const char limit[] = "4611686018427387904";	/* 2^62 */
	const long	nlimit = sizeof(limit) - 1;
	ShimDecimal x;
	long		nint;			/* digits of the integer part of value * 1e9 */
	bool		over;
	bool		round_up = false;
	uint64		v = 0;
	long		k;

	decimal_parse(text, &x);
	if (x.nd == 0)
	{
		free(x.d);
		return 0;
	}
	nint = x.nd + x.exp10 + 9;	/* times 10^9; d has no leading zero */
	if (nint != nlimit)
		over = nint > nlimit;
	else
	{
		/* the integer digits against 2^62, then any fraction (non-zero) */
		int			c = 0;

		for (k = 0; k < nint && c == 0; k++)
		{
			char		ch = k < x.nd ? x.d[k] : '0';

			c = (ch > limit[k]) - (ch < limit[k]);
		}
		over = c > 0 || (c == 0 && x.nd > nint);
	}
	if (over)
	{
		free(x.d);
		return x.neg ? -(INT64CONST(1) << 62) : (INT64CONST(1) << 62);
	}
	for (k = 0; k < nint; k++)
		v = v * 10 + (uint64) ((k < x.nd ? x.d[k] : '0') - '0');
	/* the first dropped digit decides: half away from zero */
	if (nint >= 0 && nint < x.nd)
		round_up = x.d[nint] >= '5';
	v += round_up;
	free(x.d);
	return x.neg ? -(int64) v : (int64) v;
}

int64
execlave_numeric_to_nanos(Numeric n)
{
	/* a JSON number is never NaN, the one case the real function maps to 0 */
	return shim_decimal_to_nanos(shim_numeric(n)->text);
}

/* ------------------------------------------------------------ encoding */

/*
 * pg_mbcliplen in a UTF8 database: the bytes of the whole characters of
 * the first len bytes of mbstr (up to a NUL) that fit in limit bytes.  A
 * character's length comes from its first byte alone, as pg_utf_mblen's
 * does (1 for a byte that cannot start one).
 */
int
pg_mbcliplen(const char *mbstr, int len, int limit)
{
	const unsigned char *s = (const unsigned char *) mbstr;
	int			clen = 0;

	while (clen < len && s[clen] != '\0')
	{
		unsigned char c = s[clen];
		int			l;

		if (c < 0x80)
			l = 1;
		else if ((c & 0xE0) == 0xC0)
			l = 2;
		else if ((c & 0xF0) == 0xE0)
			l = 3;
		else if ((c & 0xF8) == 0xF0)
			l = 4;
		else
			l = 1;
		if (clen + l > limit)
			break;
		clen += l;
	}
	return clen;
}

/* ---------------------------------------------------------------- jsonb */

void
shim_container_init(ShimNode *node)
{
	if (node->kind == SK_ARRAY)
		node->cont.header = JB_FARRAY | (node->raw_scalar ? JB_FSCALAR : 0);
	else if (node->kind == SK_OBJECT)
		node->cont.header = JB_FOBJECT;
	else
		fail("container of kind %d", (int) node->kind);
	if ((uint32) node->n > JB_CMASK)
		fail("container of %d entries", node->n);
	node->cont.header |= (uint32) node->n;
	memcpy(node->cont.node, &node, sizeof(node));
}

Jsonb *
shim_jsonb_init(ShimJsonb *j, const ShimNode *root)
{
	SET_VARSIZE(j, sizeof(ShimJsonb));
	j->root = root->cont;
	return (Jsonb *) j;
}

/* The node a container image belongs to. */
static ShimNode *
container_node(const JsonbContainer *c)
{
	ShimNode   *node;

	memcpy(&node, ((const ShimContainer *) c)->node, sizeof(node));
	if (node == NULL || (node->kind != SK_ARRAY && node->kind != SK_OBJECT) ||
		node->cont.header != c->header)
		fail("not a shim container: %p", (const void *) c);
	return node;
}

typedef enum ShimIterState
{
	SI_START,
	SI_ELEM,					/* next: element or key i */
	SI_VALUE					/* next: value i */
} ShimIterState;

typedef struct ShimIter
{
	ShimNode   *node;
	int			i;
	ShimIterState state;
	struct ShimIter *parent;
} ShimIter;

/* Iterators are palloc'd in the current context, as the real ones are. */
static ShimIter *
iter_new(ShimNode *node, ShimIter *parent)
{
	ShimIter   *it = palloc(sizeof(ShimIter));

	it->node = node;
	it->i = 0;
	it->state = SI_START;
	it->parent = parent;
	return it;
}

JsonbIterator *
JsonbIteratorInit(JsonbContainer *container)
{
	return (JsonbIterator *) iter_new(container_node(container), NULL);
}

/* Set *val to a scalar, or to jbvBinary for a container. */
static void
fill_value(const ShimNode *v, JsonbValue *val)
{
	switch (v->kind)
	{
		case SK_NULL:
			val->type = jbvNull;
			break;
		case SK_BOOL:
			val->type = jbvBool;
			val->val.boolean = v->boolean;
			break;
		case SK_NUMBER:
			val->type = jbvNumeric;
			val->val.numeric = (Numeric) v->num;
			break;
		case SK_STRING:
			val->type = jbvString;
			val->val.string.val = v->str;
			val->val.string.len = v->len;
			break;
		case SK_ARRAY:
		case SK_OBJECT:
			val->type = jbvBinary;
			val->val.binary.data = (JsonbContainer *) &v->cont;
			val->val.binary.len = v->textlen;
			break;
	}
}

/*
 * PostgreSQL's iteration order: BEGIN, then per element ELEM (or per pair
 * KEY, VALUE), then END, then DONE once the root is finished; a nested
 * container is returned as jbvBinary with skipNested, otherwise iterated in
 * place (its BEGIN is returned instead of the ELEM/VALUE).  Nothing is
 * written to *val for END tokens and DONE.
 */
JsonbIteratorToken
JsonbIteratorNext(JsonbIterator **itp, JsonbValue *val, bool skipNested)
{
	ShimIter   *it = (ShimIter *) *itp;
	ShimNode   *node;
	ShimNode   *child;

	if (it == NULL)
		return WJB_DONE;
	node = it->node;
	switch (it->state)
	{
		case SI_START:
			it->state = SI_ELEM;
			if (node->kind == SK_ARRAY)
			{
				val->type = jbvArray;
				val->val.array.nElems = node->n;
				val->val.array.rawScalar = node->raw_scalar;
				return WJB_BEGIN_ARRAY;
			}
			val->type = jbvObject;
			val->val.object.nPairs = node->n;
			return WJB_BEGIN_OBJECT;
		case SI_ELEM:
			if (it->i >= node->n)
			{
				*itp = (JsonbIterator *) it->parent;
				return node->kind == SK_ARRAY ? WJB_END_ARRAY : WJB_END_OBJECT;
			}
			if (node->kind == SK_OBJECT)
			{
				fill_value(node->keys[it->i], val);
				it->state = SI_VALUE;
				return WJB_KEY;
			}
			child = node->elems[it->i++];
			if (!skipNested && (child->kind == SK_ARRAY || child->kind == SK_OBJECT))
			{
				*itp = (JsonbIterator *) iter_new(child, it);
				return JsonbIteratorNext(itp, val, skipNested);
			}
			fill_value(child, val);
			return WJB_ELEM;
		case SI_VALUE:
			child = node->elems[it->i++];
			it->state = SI_ELEM;
			if (!skipNested && (child->kind == SK_ARRAY || child->kind == SK_OBJECT))
			{
				*itp = (JsonbIterator *) iter_new(child, it);
				return JsonbIteratorNext(itp, val, skipNested);
			}
			fill_value(child, val);
			return WJB_VALUE;
	}
	fail("iterator in state %d", (int) it->state);
}
