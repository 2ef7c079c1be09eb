/*
 * hyperscan_compare.c
 *		The hand-written scanners (src/standalone/pii.c, injection.c) against
 *		Hyperscan on the corpora of scanner_bench.c, as whole texts and as
 *		2 KB texts (one scan call each, so the per-scan overhead counts).
 *		Not part of the build: the extension does not use Hyperscan.
 *
 *	apt-get install libhyperscan-dev     (or libvectorscan-dev)
 *	cc -O2 -Isrc/standalone test/bench/hyperscan_compare.c src/standalone/pii.c \
 *	   src/standalone/injection.c -lhs -o /tmp/hyperscan_compare
 *	/tmp/hyperscan_compare [megabytes [repetitions]]	(default 8 5)
 *
 * Injection: each built-in phrase becomes a case-insensitive expression with
 * \s+ between its words and \b at an alphanumeric end, compiled into one
 * block-mode database, once without and once with start-of-match reporting
 * (the scanner reports spans, so it needs the start).  PII: one expression
 * per value shape (e-mail, phone, SSN, card, IPv4, IPv6, IBAN, API keys),
 * the candidates only: the checks the own scanner makes on top (Luhn,
 * mod-97, SSN areas, boundaries, one value per span) would come after, so
 * Hyperscan's figure is a lower bound of what a scanner built on it costs.
 * Hit counts are printed for both; only the own scanners' counts are exact.
 */
#define main scanner_bench_main
#include "scanner_bench.c"
#undef main

#include <ctype.h>
#include <hs/hs.h>

#ifndef Min
#define Min(a, b) ((a) < (b) ? (a) : (b))
#endif

#define CHUNK 2048

static int
hs_count(unsigned int id, unsigned long long from, unsigned long long to,
		 unsigned int flags, void *ctx)
{
	(void) id;
	(void) from;
	(void) to;
	(void) flags;
	(*(unsigned *) ctx)++;
	return 0;
}

static hs_database_t *
hs_build(const char *const *exprs, int n, unsigned extra_flags)
{
	unsigned   *flags = malloc(sizeof(unsigned) * (size_t) n);
	unsigned   *ids = malloc(sizeof(unsigned) * (size_t) n);
	hs_database_t *db = NULL;
	hs_compile_error_t *err = NULL;

	for (int k = 0; k < n; k++)
	{
		flags[k] = HS_FLAG_DOTALL | extra_flags;
		ids[k] = (unsigned) k;
	}
	if (hs_compile_multi(exprs, flags, ids, (unsigned) n, HS_MODE_BLOCK, NULL, &db, &err) != HS_SUCCESS)
	{
		fprintf(stderr, "hs_compile_multi: %s (expression %d)\n", err->message, err->expression);
		exit(1);
	}
	free(flags);
	free(ids);
	return db;
}

/* An injection phrase as an expression: \s+ between words, \b at alnum ends. */
static char *
phrase_expr(const char *p)
{
	size_t		n = strlen(p);
	char	   *e = malloc(n * 4 + 16);
	size_t		o = 0;
	bool		alnum_first = isalnum((unsigned char) p[0]);
	bool		alnum_last = isalnum((unsigned char) p[n - 1]);

	if (alnum_first)
		o += (size_t) sprintf(e + o, "\\b");
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) p[i];

		if (c == ' ')
			o += (size_t) sprintf(e + o, "\\s+");
		else if (isalnum(c))
			e[o++] = (char) c;
		else
			o += (size_t) sprintf(e + o, "\\x%02x", c);
	}
	if (alnum_last)
		o += (size_t) sprintf(e + o, "\\b");
	e[o] = '\0';
	return e;
}

static const char *const pii_exprs[] = {
	"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}",
	"\\+?\\(?[0-9]{1,4}\\)?[ .-]?[0-9]{2,5}([ .-][0-9]{2,5}){1,4}",
	"\\b[0-9]{3}([ -])[0-9]{2}[ -][0-9]{4}\\b",
	"\\b[0-9]{4}([ -]?[0-9]{3,6}){2,4}\\b",
	"\\b[0-9]{13,19}\\b",
	"\\b[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\b",
	"\\b[0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{0,4}){2,7}\\b",
	"\\b[A-Z]{2}[0-9]{2}( ?[A-Z0-9]{4}){2,7}( ?[A-Z0-9]{1,4})?\\b",
	"\\b(sk_|pk_|rk_|ag_|exe_|sk-|ghp_|gho_|ghs_|ghu_|xoxb-|xoxp-|xoxa-|xoxr-)[A-Za-z0-9_-]{20,}",
	"\\b(AKIA|ASIA)[A-Z0-9]{16}\\b",
	"-----BEGIN [^\\n-]{0,40}PRIVATE KEY-----"
};

typedef struct Timing
{
	double		mbps;
	unsigned	hits;
} Timing;

/* kind: 0 pii_scan, 1 inj_scan, 2 Hyperscan on db; whole text or CHUNK-byte pieces. */
static Timing
time_scan(int kind, const InjMatcher *m, hs_database_t *db, hs_scratch_t *scratch,
		  const Buf *text, bool chunked, int reps)
{
	double		best = 1e30;
	Timing		r = {0, 0};

	for (int rep = 0; rep < reps; rep++)
	{
		Counts		c;
		unsigned	hits = 0;
		double		t0 = now();
		size_t		step = chunked ? CHUNK : text->len;

		memset(&c, 0, sizeof(c));
		for (size_t off = 0; off < text->len; off += step)
		{
			size_t		n = Min(step, text->len - off);

			if (kind == 0)
				pii_scan(text->data + off, n, PII_ALL, count_pii, &c);
			else if (kind == 1)
				inj_scan(m, text->data + off, n, count_inj, &c);
			else
				hs_scan(db, text->data + off, (unsigned) n, 0, scratch, hs_count, &hits);
		}
		best = Min(best, now() - t0);
		r.hits = kind == 0 ? c.pii_total : kind == 1 ? c.inj : hits;
	}
	r.mbps = text->len / 1e6 / best;
	return r;
}

int
main(int argc, char **argv)
{
	int			mb = argc > 1 ? atoi(argv[1]) : 8;
	int			reps = argc > 2 ? atoi(argv[2]) : 5;
	const char **phrases = malloc(sizeof(char *) * (size_t) inj_num_builtins);
	const char **inj_exprs = malloc(sizeof(char *) * (size_t) inj_num_builtins);
	size_t	   *lens = malloc(sizeof(size_t) * (size_t) inj_num_builtins);
	unsigned	pii_exp[PII_NUM_TYPES] = {0};
	unsigned	inj_exp = 0;
	int			bad;
	const char *err;
	InjMatcher *m;
	hs_database_t *db_inj,
			   *db_inj_som,
			   *db_pii,
			   *db_pii_som;
	hs_scratch_t *scratch = NULL;
	Buf			texts[2];
	const char *labels[2] = {"clean", "PII-dense"};

	if (mb < 1 || mb > 1024 || reps < 1 || reps > 100)
		die("usage: hyperscan_compare [megabytes [repetitions]]");
	for (int k = 0; k < inj_num_builtins; k++)
	{
		phrases[k] = inj_builtins[k].phrase;
		lens[k] = strlen(phrases[k]);
		inj_exprs[k] = phrase_expr(phrases[k]);
	}
	m = inj_build(phrases, lens, inj_num_builtins, bench_alloc, NULL, &bad, &err);
	if (m == NULL)
		die(err ? err : "inj_build failed");
	db_inj = hs_build(inj_exprs, inj_num_builtins, HS_FLAG_CASELESS);
	db_inj_som = hs_build(inj_exprs, inj_num_builtins, HS_FLAG_CASELESS | HS_FLAG_SOM_LEFTMOST);
	db_pii = hs_build(pii_exprs, (int) (sizeof(pii_exprs) / sizeof(pii_exprs[0])), 0);
	db_pii_som = hs_build(pii_exprs, (int) (sizeof(pii_exprs) / sizeof(pii_exprs[0])), HS_FLAG_SOM_LEFTMOST);
	if (hs_alloc_scratch(db_inj, &scratch) != HS_SUCCESS ||
		hs_alloc_scratch(db_inj_som, &scratch) != HS_SUCCESS ||
		hs_alloc_scratch(db_pii, &scratch) != HS_SUCCESS ||
		hs_alloc_scratch(db_pii_som, &scratch) != HS_SUCCESS)
		die("hs_alloc_scratch failed");

	texts[0] = make_text((size_t) mb * 1000000, false, pii_exp, &inj_exp);
	texts[1] = make_text((size_t) mb * 1000000, true, pii_exp, &inj_exp);

	printf("Hyperscan %s vs the own scanners, MB/s, best of %d (hits in parentheses)\n", hs_version(), reps);
	printf("   %-10s %-6s %12s %12s %12s %12s %12s %12s\n", "text", "scans", "pii_scan", "hs PII",
		   "hs PII+SOM", "inj_scan", "hs inj", "hs inj+SOM");
	for (int t = 0; t < 2; t++)
		for (int ch = 0; ch < 2; ch++)
		{
			Timing		a = time_scan(0, NULL, NULL, NULL, &texts[t], ch, reps);
			Timing		b = time_scan(2, NULL, db_pii, scratch, &texts[t], ch, reps);
			Timing		b2 = time_scan(2, NULL, db_pii_som, scratch, &texts[t], ch, reps);
			Timing		c = time_scan(1, m, NULL, NULL, &texts[t], ch, reps);
			Timing		d = time_scan(2, NULL, db_inj, scratch, &texts[t], ch, reps);
			Timing		d2 = time_scan(2, NULL, db_inj_som, scratch, &texts[t], ch, reps);

			printf("   %-10s %-6s %5.0f (%5u) %5.0f (%5u) %5.0f (%5u) %5.0f (%5u) %5.0f (%5u) %5.0f (%5u)\n",
				   labels[t], ch ? "2 KB" : "whole",
				   a.mbps, a.hits, b.mbps, b.hits, b2.mbps, b2.hits,
				   c.mbps, c.hits, d.mbps, d.hits, d2.mbps, d2.hits);
		}
	return 0;
}
