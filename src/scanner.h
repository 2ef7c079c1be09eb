/*
 * scanner.h
 *		PII and prompt-injection scanners over raw UTF-8 text.
 *
 * Nothing here depends on PostgreSQL: the scanners take a pointer and a byte
 * length (the text need not be NUL-terminated and may contain NUL bytes), do
 * one forward pass in linear time and report hits through callbacks, so they
 * can be linked into fuzzing harnesses and unit tests without a server.
 * Memory for the injection matcher comes from a caller-supplied allocator
 * (palloc in a memory context inside the server); nothing is ever freed by
 * the scanner itself.
 */
#ifndef EXECLAVE_SCANNER_H
#define EXECLAVE_SCANNER_H

#include <stdbool.h>
#include <stddef.h>

/* ---------------------------------------------------------------- PII */

typedef enum PiiType
{
	PII_EMAIL = 0,
	PII_PHONE,
	PII_SSN,
	PII_CREDIT_CARD,
	PII_IP_ADDRESS,
	PII_IBAN,
	PII_API_KEY,
	PII_NUM_TYPES
} PiiType;

#define PII_BIT(t) (1u << (t))
#define PII_ALL ((1u << PII_NUM_TYPES) - 1)

/* "email", "phone", "ssn", "credit_card", "ip_address", "iban", "api_key" */
extern const char *const pii_type_names[PII_NUM_TYPES];

/* "[EMAIL_REDACTED]", "[PHONE_REDACTED]", ... one per type */
extern const char *const pii_mask_tokens[PII_NUM_TYPES];

/* Index of the type called name (len bytes, ASCII case-insensitive), or -1. */
extern int	pii_type_from_name(const char *name, size_t len);

typedef struct PiiHit
{
	PiiType		type;
	size_t		start;			/* byte offset into the text */
	size_t		len;			/* length in bytes */
} PiiHit;

typedef void (*pii_hit_fn) (const PiiHit *hit, void *arg);

/*
 * Report, in increasing start order and non-overlapping, every value of a
 * type in `types` (bitmask of PII_BIT(type)).  Values of the other types are
 * still recognised and skipped.
 */
extern void pii_scan(const char *text, size_t len, unsigned types,
					 pii_hit_fn fn, void *arg);

/* Pure validators used by pii_scan, exported for tests and fuzzing. */
extern bool pii_luhn_ok(const char *digits, size_t n);	/* n ASCII digits */
extern bool pii_iban_ok(const char *s, size_t n);	/* compact, mod-97 == 1 */

/* ---------------------------------------------------- prompt injection */

/*
 * Allocator for the matcher: may return zeroed or unzeroed memory (the
 * scanner initialises everything it uses) suitably aligned for any type, and
 * is never asked to free anything (the caller frees its arena or context).
 */
typedef void *(*scan_alloc_fn) (size_t size, void *arg);

typedef struct InjMatcher InjMatcher;	/* opaque */

typedef struct InjBuiltin
{
	const char *name;			/* pattern family */
	double		weight;			/* shared by all phrasings of a family */
	const char *phrase;			/* already normalized (lower case) */
} InjBuiltin;

extern const InjBuiltin inj_builtins[];
extern const int inj_num_builtins;

#define INJ_MAX_PHRASE 256		/* max normalized phrase length in bytes */

/*
 * Build an Aho-Corasick matcher over n phrases (raw; the builder normalizes
 * them).  On a bad phrase returns NULL, sets *bad_index to its index and
 * *err to a static message ("pattern is empty", "pattern is longer than 256
 * bytes").  If the allocator returns NULL, returns NULL with *bad_index = -1
 * and *err = "out of memory".  bad_index and err may be NULL.
 */
extern InjMatcher *inj_build(const char *const *phrases, const size_t *lens,
							 int n, scan_alloc_fn alloc, void *alloc_arg,
							 int *bad_index, const char **err);

typedef struct InjHit
{
	int			phrase;			/* phrase index as given to inj_build */
	size_t		start;			/* byte offset in the original text */
	size_t		len;			/* bytes, covering collapsed whitespace */
} InjHit;

typedef void (*inj_hit_fn) (const InjHit *hit, void *arg);

/*
 * Report every occurrence of every phrase (overlapping occurrences of
 * different phrases included) in order of match end.
 */
extern void inj_scan(const InjMatcher *m, const char *text, size_t len,
					 inj_hit_fn fn, void *arg);

/* Number of phrases m was built over. */
extern int	inj_num_phrases(const InjMatcher *m);

#endif							/* EXECLAVE_SCANNER_H */
