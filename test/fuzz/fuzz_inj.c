/*
 * fuzz_inj.c
 *		libFuzzer harness for the prompt-injection matcher of src/standalone/injection.c.
 *
 *	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined \
 *		-fno-sanitize-recover=all -Isrc/standalone test/fuzz/fuzz_inj.c src/standalone/injection.c \
 *		-o /tmp/fuzz_inj
 *
 * The first input byte chooses the mode:
 *	bit 0 clear		the rest of the input is a text, scanned with a matcher over
 *					the built-in phrases (built once, in LLVMFuzzerInitialize);
 *	bit 0 set		custom phrases: the rest of the input is split into
 *					1 + ((b >> 2) & 7) phrases at '\n' (bit 1 set) or NUL
 *					(bit 1 clear), the bytes after the last separator being the
 *					text.  Each phrase is copied to its own exactly sized heap
 *					block (so ASan sees any read past its length), and a
 *					matcher is built from them with an allocator that fills
 *					its blocks with 0xA5; if bits 5-7 are all set, its
 *					allocation number (phrases - 1) % 7 fails.
 *
 * Checked, aborting on the first violation (so libFuzzer reports a crash):
 *	- inj_build either succeeds or fails cleanly: it returns NULL exactly when
 *	  a phrase is bad or an allocation failed; for a bad phrase *bad_index is
 *	  the first phrase whose normalized form is empty ("pattern is empty") or
 *	  longer than 256 bytes ("pattern is longer than 256 bytes"); for an
 *	  allocation failure *bad_index is -1 and *err "out of memory"; on
 *	  success inj_num_phrases is the phrase count;
 *	- every hit of inj_scan lies inside the text, has len > 0 and a valid
 *	  phrase index, and hits come in order of match end;
 *	- the hits are exactly those of a brute-force search of each normalized
 *	  phrase in the normalized text (ASCII case folded, whitespace runs,
 *	  including the multibyte spaces of injection.c, collapsed to one space)
 *	  with the same word-boundary and UTF-8 boundary rules, with the same
 *	  original spans.  This cross-checks the Aho-Corasick automaton and its
 *	  SSE2 start prefilter, which skip most of the text.
 * LLVMFuzzerInitialize also checks that the built-in phrases are already
 * normalized, that each matches itself, that a matcher over no phrases
 * reports nothing and that an allocator returning NULL is handled.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "injection.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CUSTOM		8		/* phrases in custom mode */
#define ALLOCS_IN_BUILD	7		/* allocator calls of a successful inj_build */

/* fail(fmt, ...): report a broken invariant and abort (fuzz_fail.h) */
#define FUZZ_FAIL_PREFIX "fuzz_inj: invariant violated: "
#include "fuzz_fail.h"

static void *
xmalloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		abort();
	return p;
}

/* ---------------------------------------------------------------- arena */

/* Allocator for inj_build: malloc, remembered for freeing, can fail once. */
typedef struct Arena
{
	void	  **blocks;
	size_t		n;
	size_t		cap;
	int			calls;			/* allocator calls so far */
	int			fail_at;		/* call number that returns NULL, or -1 */
	bool		failed;			/* has it returned NULL? */
} Arena;

static void *
arena_alloc(size_t size, void *arg)
{
	Arena	   *a = arg;
	void	   *p;

	if (a->calls++ == a->fail_at)
	{
		a->failed = true;
		return NULL;
	}
	p = xmalloc(size);
	if (a->n == a->cap)
	{
		a->cap = a->cap ? a->cap * 2 : 16;
		a->blocks = realloc(a->blocks, a->cap * sizeof(void *));
		if (a->blocks == NULL)
			abort();
	}
	a->blocks[a->n++] = p;
	memset(p, 0xA5, size);		/* the scanner must not rely on zeroed memory */
	return p;
}

static void
arena_free(Arena *a)
{
	size_t		k;

	for (k = 0; k < a->n; k++)
		free(a->blocks[k]);
	free(a->blocks);
	memset(a, 0, sizeof(*a));
}

static void *
null_alloc(size_t size, void *arg)
{
	(void) size;
	(void) arg;
	return NULL;
}

/* ------------------------------------------------- reference normalizer */

/*
 * Byte length of the whitespace character at s[i], 0 if none: ASCII space
 * and \t..\r, and the UTF-8 forms of U+00A0, U+2000-U+200B, U+202F, U+205F
 * and U+3000 (complete sequences only), as documented in injection.c.
 */
static size_t
ref_space(const unsigned char *s, size_t i, size_t n)
{
	static const char *const seqs[] = {
		"\xc2\xa0", "\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82",
		"\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86",
		"\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a",
		"\xe2\x80\x8b", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80"
	};
	size_t		k;

	if (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))
		return 1;
	for (k = 0; k < sizeof(seqs) / sizeof(seqs[0]); k++)
	{
		size_t		l = strlen(seqs[k]);

		if (n - i >= l && memcmp(s + i, seqs[k], l) == 0)
			return l;
	}
	return 0;
}

/*
 * Normalize s (n bytes) into out[] with the original offset of each output
 * byte in off[] (may be NULL): ASCII folded to lower case, each whitespace
 * run one space at the offset of its first byte.  Returns the count; out and
 * off need room for n bytes.
 */
static size_t
ref_normalize(const unsigned char *s, size_t n, unsigned char *out, size_t *off)
{
	size_t		i = 0;
	size_t		o = 0;

	while (i < n)
	{
		size_t		w = ref_space(s, i, n);

		if (w > 0)
		{
			if (off)
				off[o] = i;
			out[o++] = ' ';
			i += w;
			while (i < n && (w = ref_space(s, i, n)) > 0)
				i += w;
			continue;
		}
		if (off)
			off[o] = i;
		out[o++] = (s[i] >= 'A' && s[i] <= 'Z') ? (unsigned char) (s[i] + 32) : s[i];
		i++;
	}
	return o;
}

static bool
ref_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A phrase in normalized form, as the reference search uses it */
typedef struct RefPhrase
{
	unsigned char *norm;		/* trimmed normalized bytes */
	size_t		len;
	int			next;			/* next phrase with the same first byte, -1 */
} RefPhrase;

/*
 * Normalize and trim phrase s (n bytes) into p->norm (allocated); returns
 * the error inj_build must give for it, or NULL if it is acceptable.
 */
static const char *
ref_phrase(const unsigned char *s, size_t n, RefPhrase *p)
{
	unsigned char *out = xmalloc(n);
	size_t		o = ref_normalize(s, n, out, NULL);
	size_t		b = 0;

	if (o > 0 && out[o - 1] == ' ')
		o--;
	if (o > 0 && out[0] == ' ')
		b = 1;
	memmove(out, out + b, o - b);
	p->norm = out;
	p->len = o - b;
	p->next = -1;
	if (p->len == 0)
		return "pattern is empty";
	if (p->len > INJ_MAX_PHRASE)
		return "pattern is longer than 256 bytes";
	return NULL;
}

/* ---------------------------------------------------------- hit checking */

typedef struct HitList
{
	size_t		len;			/* text length */
	int			nphrases;
	InjHit	   *hits;
	size_t		n;
	size_t		cap;
	size_t		last_end;
} HitList;

static void
hits_push(HitList *l, const InjHit *h)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 64;
		l->hits = realloc(l->hits, l->cap * sizeof(InjHit));
		if (l->hits == NULL)
			abort();
	}
	l->hits[l->n++] = *h;
}

/* inj_scan callback: check the generic invariants and keep the hit. */
static void
collect(const InjHit *h, void *arg)
{
	HitList    *l = arg;

	if (h->phrase < 0 || h->phrase >= l->nphrases)
		fail("hit phrase index %d out of range [0, %d)", h->phrase, l->nphrases);
	if (h->len == 0)
		fail("empty hit at %zu", h->start);
	if (h->start > l->len || h->len > l->len - h->start)
		fail("hit [%zu, +%zu) outside text of %zu bytes", h->start, h->len, l->len);
	if (h->start + h->len < l->last_end)
		fail("hit ending at %zu reported after one ending at %zu",
			 h->start + h->len, l->last_end);
	l->last_end = h->start + h->len;
	hits_push(l, h);
}

static int
cmp_hit(const void *a, const void *b)
{
	const InjHit *x = a;
	const InjHit *y = b;
	size_t		ex = x->start + x->len;
	size_t		ey = y->start + y->len;

	if (ex != ey)
		return ex < ey ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return (x->phrase > y->phrase) - (x->phrase < y->phrase);
}

/*
 * Scan text with m and compare with the brute-force search over the n
 * phrases ph (first[] chains them by first normalized byte).
 */
static void
scan_and_compare(const InjMatcher *m, const RefPhrase *ph, int n,
				 const int *first, const unsigned char *text, size_t len)
{
	HitList		got;
	HitList		ref;
	unsigned char *norm = xmalloc(len);
	size_t	   *off = xmalloc(len * sizeof(size_t));
	size_t		nlen;
	size_t		s;
	size_t		k;

	memset(&got, 0, sizeof(got));
	got.len = len;
	got.nphrases = n;
	inj_scan(m, (const char *) text, len, collect, &got);

	memset(&ref, 0, sizeof(ref));
	nlen = ref_normalize(text, len, norm, off);
	for (s = 0; s < nlen; s++)
	{
		int			p;

		for (p = first[norm[s]]; p >= 0; p = ph[p].next)
		{
			size_t		L = ph[p].len;
			unsigned char b0 = ph[p].norm[0];
			unsigned char bl = ph[p].norm[L - 1];
			InjHit		h;

			if (nlen - s < L || memcmp(norm + s, ph[p].norm, L) != 0)
				continue;
			/* a phrase starting (ending) with alnum is a whole word */
			if (s > 0 && ref_alnum(b0) && ref_alnum(norm[s - 1]))
				continue;
			if (s + L < nlen && ref_alnum(bl) && ref_alnum(norm[s + L]))
				continue;
			/* no match splits a UTF-8 character */
			if (s > 0 && b0 >= 0x80 && b0 <= 0xBF && norm[s - 1] >= 0x80)
				continue;
			if (s + L < nlen && bl >= 0x80 && norm[s + L] >= 0x80 &&
				norm[s + L] <= 0xBF)
				continue;
			h.phrase = p;
			h.start = off[s];
			h.len = off[s + L - 1] + 1 - off[s];
			hits_push(&ref, &h);
		}
	}

	if (got.n != ref.n)
		fail("inj_scan reported %zu hits, brute force finds %zu", got.n, ref.n);
	if (got.n > 0)
	{
		qsort(got.hits, got.n, sizeof(InjHit), cmp_hit);
		qsort(ref.hits, ref.n, sizeof(InjHit), cmp_hit);
	}
	for (k = 0; k < got.n; k++)
		if (cmp_hit(&got.hits[k], &ref.hits[k]) != 0)
			fail("hit %zu differs: inj_scan phrase %d [%zu, +%zu), brute force phrase %d [%zu, +%zu)",
				 k, got.hits[k].phrase, got.hits[k].start, got.hits[k].len,
				 ref.hits[k].phrase, ref.hits[k].start, ref.hits[k].len);
	free(got.hits);
	free(ref.hits);
	free(norm);
	free(off);
}

/* Chain phrases by first normalized byte, in decreasing index order. */
static void
chain_phrases(RefPhrase *ph, int n, int *first)
{
	int			k;

	for (k = 0; k < 256; k++)
		first[k] = -1;
	for (k = n - 1; k >= 0; k--)
	{
		if (ph[k].len == 0)
			continue;
		ph[k].next = first[ph[k].norm[0]];
		first[ph[k].norm[0]] = k;
	}
}

/* ---------------------------------------------------- built-in matcher */

static Arena builtin_arena;
static InjMatcher *builtin_m;
static RefPhrase *builtin_ph;
static int	builtin_first[256];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char **ph = xmalloc(sizeof(char *) * (size_t) inj_num_builtins);
	size_t	   *ln = xmalloc(sizeof(size_t) * (size_t) inj_num_builtins);
	int			bad;
	const char *err;
	int			k;

	(void) argc;
	(void) argv;
	builtin_arena.fail_at = -1;
	builtin_ph = xmalloc(sizeof(RefPhrase) * (size_t) inj_num_builtins);
	for (k = 0; k < inj_num_builtins; k++)
	{
		ph[k] = inj_builtins[k].phrase;
		ln[k] = strlen(ph[k]);
		if (ref_phrase((const unsigned char *) ph[k], ln[k], &builtin_ph[k]) != NULL ||
			builtin_ph[k].len != ln[k] ||
			memcmp(builtin_ph[k].norm, ph[k], ln[k]) != 0)
			fail("built-in phrase %d \"%s\" is not normalized", k, ph[k]);
	}
	builtin_m = inj_build(ph, ln, inj_num_builtins, arena_alloc, &builtin_arena,
						  &bad, &err);
	if (builtin_m == NULL || bad != -1 || err != NULL)
		fail("built-in phrases do not build: %s", err ? err : "?");
	if (inj_num_phrases(builtin_m) != inj_num_builtins)
		fail("inj_num_phrases %d != %d", inj_num_phrases(builtin_m), inj_num_builtins);
	chain_phrases(builtin_ph, inj_num_builtins, builtin_first);
	for (k = 0; k < inj_num_builtins; k++)
		scan_and_compare(builtin_m, builtin_ph, inj_num_builtins, builtin_first,
						 (const unsigned char *) ph[k], ln[k]);

	/* no phrases: a matcher that reports nothing */
	{
		Arena		a;
		InjMatcher *m;
		int			none[256];

		memset(&a, 0, sizeof(a));
		a.fail_at = -1;
		m = inj_build(NULL, NULL, 0, arena_alloc, &a, &bad, &err);
		if (m == NULL || inj_num_phrases(m) != 0)
			fail("matcher over no phrases does not build");
		chain_phrases(NULL, 0, none);
		scan_and_compare(m, NULL, 0, none, (const unsigned char *) "jailbreak", 9);
		arena_free(&a);
	}

	/* an allocator that always fails */
	if (inj_build(ph, ln, inj_num_builtins, null_alloc, NULL, &bad, &err) != NULL ||
		bad != -1 || err == NULL || strcmp(err, "out of memory") != 0)
		fail("null allocator not reported as out of memory");
	if (inj_build(ph, ln, inj_num_builtins, null_alloc, NULL, NULL, NULL) != NULL)
		fail("null allocator without bad_index/err not handled");

	free(ph);
	free(ln);
	return 0;
}

/* ---------------------------------------------------------------- entry */

/* Custom phrases from the input; see the header comment for the layout. */
static void
custom_mode(unsigned char mode, const unsigned char *p, size_t size)
{
	unsigned char sep = (mode & 2) ? '\n' : '\0';
	int			want = 1 + ((mode >> 2) & 7);
	bool		oom = ((mode >> 5) & 7) == 7;
	char	   *phc[MAX_CUSTOM];
	const char *ph[MAX_CUSTOM];
	size_t		ln[MAX_CUSTOM];
	RefPhrase	ref[MAX_CUSTOM];
	int			first[256];
	const char *expect_err = NULL;
	int			expect_bad = -1;
	int			n = 0;
	size_t		i = 0;
	const unsigned char *text;
	size_t		tlen;
	Arena		a;
	InjMatcher *m;
	int			bad = 12345;
	const char *err = "unset";
	int			k;

	/* split off the phrases */
	while (n < want)
	{
		const unsigned char *e = memchr(p + i, sep, size - i);
		size_t		l = e ? (size_t) (e - (p + i)) : size - i;

		/* exactly l bytes (0 included): ASan flags any read past them */
		phc[n] = malloc(l);
		if (phc[n] == NULL && l > 0)
			abort();
		if (l > 0)
			memcpy(phc[n], p + i, l);
		ph[n] = phc[n];
		ln[n] = l;
		n++;
		i += l;
		if (e == NULL)
			break;
		i++;					/* the separator */
	}
	text = p + i;
	tlen = size - i;

	for (k = 0; k < n; k++)
	{
		const char *msg = ref_phrase((const unsigned char *) ph[k], ln[k], &ref[k]);

		if (msg != NULL && expect_err == NULL)
		{
			expect_err = msg;
			expect_bad = k;
		}
	}

	memset(&a, 0, sizeof(a));
	a.fail_at = oom ? (want - 1) % ALLOCS_IN_BUILD : -1;
	m = inj_build(ph, ln, n, arena_alloc, &a, &bad, &err);
	if (expect_err != NULL)
	{
		if (m != NULL || bad != expect_bad || err == NULL ||
			strcmp(err, expect_err) != 0)
			fail("bad phrase %d (%s) reported as index %d, error \"%s\"",
				 expect_bad, expect_err, bad, err ? err : "(null)");
	}
	else if (a.failed)
	{
		if (m != NULL || bad != -1 || err == NULL ||
			strcmp(err, "out of memory") != 0)
			fail("allocation %d failed but inj_build returned %p, index %d, error \"%s\"",
				 a.fail_at, (void *) m, bad, err ? err : "(null)");
	}
	else
	{
		if (m == NULL)
			fail("inj_build failed on good phrases: index %d, error \"%s\"",
				 bad, err ? err : "(null)");
		if (bad != -1 || err != NULL)
			fail("inj_build succeeded but set index %d, error \"%s\"",
				 bad, err ? err : "(null)");
		if (inj_num_phrases(m) != n)
			fail("inj_num_phrases %d != %d", inj_num_phrases(m), n);
		chain_phrases(ref, n, first);
		scan_and_compare(m, ref, n, first, text, tlen);
	}
	arena_free(&a);
	for (k = 0; k < n; k++)
	{
		free(phc[k]);
		free(ref[k].norm);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0)
		scan_and_compare(builtin_m, builtin_ph, inj_num_builtins, builtin_first,
						 data + 1, size - 1);
	else
		custom_mode(data[0], data + 1, size - 1);
	return 0;
}
