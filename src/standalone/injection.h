/*
 * injection.h
 *		The prompt-injection phrase matcher over raw UTF-8 text
 *		(src/standalone/injection.c).
 *
 * Nothing here depends on PostgreSQL: the matcher takes a pointer and a byte
 * length, does one forward pass in linear time and reports hits through a
 * callback.  Memory for the matcher comes from a caller-supplied allocator
 * (palloc in a memory context inside the server); nothing is ever freed by
 * the matcher itself.
 */
#ifndef EXECLAVE_INJECTION_H
#define EXECLAVE_INJECTION_H

#include <stdbool.h>
#include <stddef.h>

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

#endif							/* EXECLAVE_INJECTION_H */
