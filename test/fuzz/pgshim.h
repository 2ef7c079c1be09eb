/*
 * pgshim.h
 *		A fake backend for linking src/policy_config.c, compiled unchanged
 *		against the PostgreSQL 15 server headers, into a libFuzzer harness
 *		without a server.  pgshim.c defines exactly the backend symbols
 *		policy_config.o leaves undefined (nm -u):
 *
 *	memory		CurrentMemoryContext, palloc, palloc0, MemoryContextAlloc,
 *				MemoryContextAllocZero, MemoryContextStrdup, pnstrdup, psprintf:
 *				a per-input arena of exactly sized malloc blocks, each tagged
 *				with the (dummy) context it was allocated in and freed by
 *				shim_arena_reset();
 *	errors		errstart_cold, errcode, errmsg, errmsg_internal, errhint,
 *				errfinish: ereport(ERROR) records level, SQLSTATE, message and
 *				hint in shim_error and siglongjmps to *shim_error_jmp;
 *	lists		lappend, with PostgreSQL 15's array-based List layout;
 *	strings		initStringInfo, appendStringInfo, appendStringInfoVA,
 *				enlargeStringInfo (a StringInfo starts at 16 bytes, so that
 *				growth is exercised);
 *	encoding	pg_mbcliplen, for a UTF8 database;
 *	fmgr		DirectFunctionCall1Coll, DirectFunctionCall2Coll;
 *	jsonb		JsonbIteratorInit, JsonbIteratorNext over a ShimNode tree;
 *	numeric		numeric_float8_no_overflow, numeric_cmp, numeric_trunc,
 *				int64_to_numeric, execlave_numeric_to_nanos over a ShimNumeric
 *				(a number's decimal text and its double): comparison and
 *				truncation are exact decimal arithmetic on the text (any
 *				number of digits, any exponent), never the double.
 *
 * Jsonb containers are ShimContainer images: the uint32 header the
 * JsonContainer* and JB_ROOT_* macros read (JB_FARRAY/JB_FOBJECT/JB_FSCALAR
 * and the count), followed by the address of the ShimNode (unaligned bytes,
 * so that a Jsonb's root can sit at offset 4 as in the real varlena).
 */
#ifndef FUZZ_PGSHIM_H
#define FUZZ_PGSHIM_H

#include "postgres.h"

#include <setjmp.h>

#include "utils/jsonb.h"
#include "utils/memutils.h"

/*
 * port.h sends these to libpgport, which is not linked; the harness and the
 * shim use the C library's.
 */
#undef vsnprintf
#undef snprintf
#undef vsprintf
#undef sprintf
#undef vfprintf
#undef fprintf
#undef vprintf
#undef printf
#undef qsort
#undef strerror

/* ------------------------------------------------------------ JSON tree */

typedef enum ShimKind
{
	SK_NULL,
	SK_BOOL,
	SK_NUMBER,
	SK_STRING,
	SK_ARRAY,
	SK_OBJECT
} ShimKind;

#define SHIM_NUMERIC_MAGIC	0x4e554d31	/* "NUM1" */

/*
 * What a jbvNumeric's val.numeric points at, and what int64_to_numeric and
 * numeric_trunc return (palloc'd, with text like "-123e-4").
 */
typedef struct ShimNumeric
{
	uint32		magic;
	double		float8;			/* numeric_float8_no_overflow's answer */
	char	   *text;			/* the number, NUL-terminated */
} ShimNumeric;

typedef struct ShimContainer
{
	uint32		header;			/* JB_FARRAY/JB_FOBJECT [| JB_FSCALAR] | count */
	unsigned char node[sizeof(void *)]; /* struct ShimNode *, unaligned */
} ShimContainer;

typedef struct ShimNode
{
	ShimKind	kind;
	ShimContainer cont;			/* arrays, objects: val.binary.data */
	bool		boolean;
	char	   *str;			/* string: exactly len bytes, no NUL */
	int			len;
	ShimNumeric *num;
	int			n;				/* array elements, object pairs */
	struct ShimNode **elems;	/* elements; object values in key order */
	struct ShimNode **keys;		/* object keys (strings) in Jsonb order */
	bool		raw_scalar;		/* top-level scalar wrapped in an array */
	int			textlen;		/* bytes of JSON text, for val.binary.len */
} ShimNode;

/* A Jsonb varlena whose root container is at offset 4, as in the real one. */
typedef struct ShimJsonb
{
	int32		vl_len_;
	ShimContainer root;
} ShimJsonb;

/* Fill node->cont (header and back pointer) for an array or object. */
extern void shim_container_init(ShimNode *node);

/* Make j a Jsonb whose root is the array or object root. */
extern Jsonb *shim_jsonb_init(ShimJsonb *j, const ShimNode *root);

/*
 * The double numeric_float8_no_overflow gives for the JSON number text:
 * strtod of the exact decimal value (numeric_out's text denotes the same
 * value and glibc's strtod rounds correctly), ignoring ERANGE; a zero is
 * +0 since numeric has no negative zero.
 */
extern double shim_numeric_float8(const char *text);

/*
 * execlave_numeric_to_nanos's contract (src/windows.c): value * 10^9 in
 * exact decimal arithmetic, clamped to [-2^62, 2^62] before rounding, then
 * rounded half away from zero (numeric_round) to int64.
 */
extern int64 shim_decimal_to_nanos(const char *text);

/* --------------------------------------------------------------- errors */

typedef struct ShimError
{
	bool		active;			/* between errstart and errfinish */
	int			elevel;
	int			sqlerrcode;
	bool		internal;		/* errmsg_internal, i.e. elog() */
	char	   *message;		/* malloc'd; NULL if none was given */
	char	   *hint;
	const char *filename;
	int			lineno;
	const char *funcname;
} ShimError;

extern ShimError shim_error;
extern sigjmp_buf *shim_error_jmp;	/* where ereport(ERROR) jumps */

/* Forget the last error. */
extern void shim_error_clear(void);

/* --------------------------------------------------------------- memory */

/* Free every block palloc'd since the last reset. */
extern void shim_arena_reset(void);

/*
 * The context of the arena block holding [p, p + len), or NULL if no arena
 * block holds it.
 */
extern MemoryContext shim_owner(const void *p, size_t len);

/* printf to a malloc'd string (for the harness's own messages) */
extern char *shim_asprintf(const char *fmt,...) __attribute__((format(printf, 1, 2)));

#endif							/* FUZZ_PGSHIM_H */
