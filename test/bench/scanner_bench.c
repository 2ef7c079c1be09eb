/*
 * scanner_bench.c
 *		Throughput of the PII and prompt-injection scanners (src/standalone/),
 *		standalone: no PostgreSQL needed.  Run by test/bench/policies.sh.
 *
 *	cc -O2 -Isrc/standalone test/bench/scanner_bench.c src/standalone/pii.c src/standalone/injection.c -o /tmp/scanner_bench
 *	/tmp/scanner_bench [megabytes [repetitions]]		(default 8 5)
 *
 * Builds two texts of the same size (default 8 MB, MB = 10^6 bytes) from a
 * deterministic generator:
 *   clean  English-like prose (support and business vocabulary, numbers,
 *          dates, times, prices, versions) containing no PII value and no
 *          injection phrase;
 *   dense  the same prose with a PII value every ~60 bytes (e-mail, phone,
 *          SSN, card, IPv4, IBAN, API key in turn, in several layouts) and a
 *          built-in injection phrase every tenth value (~600 bytes; some
 *          upper-cased, some with doubled spaces).
 * Then it times pii_scan(text, len, PII_ALL) and inj_scan() over the built-in
 * phrases on each text, repetitions times, and prints the best time as MB/s
 * with the hit counts, next to the counts the generator expects.  The
 * callbacks only count, so the figures are the cost of the scans themselves.
 * Exits 1 only on bad arguments or out of memory; a count that differs from
 * the expected one is printed as MISMATCH.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pii.h"
#include "injection.h"

/* Seconds of monotonic time. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Deterministic PRNG (xorshift64*): the same texts on every run. */
static unsigned long long rng_state = 0x2545F4914F6CDD1Dull;

static unsigned
rnd(unsigned n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (unsigned) ((rng_state * 2685821657736338717ull) >> 33) % n;
}

static void
die(const char *msg)
{
	fprintf(stderr, "scanner_bench: %s\n", msg);
	exit(1);
}

/* ------------------------------------------------------------ the texts */

/* Growing output buffer. */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_put(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		b->cap = (b->len + n + 1) * 2;
		b->data = realloc(b->data, b->cap);
		if (b->data == NULL)
			die("out of memory");
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_str(Buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

/*
 * Vocabulary of the prose.  No word of any built-in injection phrase that
 * could line up into one (ignore, forget, pretend, now, act, anything,
 * restrictions, prompt, ...) is in it, so the clean text has no phrase.
 */
static const char *const words[] = {
	"the", "a", "an", "and", "or", "but", "of", "to", "in", "on", "for", "with",
	"from", "by", "about", "after", "before", "during", "under", "over", "between",
	"customer", "account", "invoice", "order", "payment", "refund", "shipment",
	"delivery", "report", "summary", "ticket", "request", "team", "manager",
	"product", "service", "contract", "renewal", "subscription", "plan", "price",
	"discount", "quarter", "month", "week", "day", "meeting", "schedule", "agenda",
	"document", "spreadsheet", "dashboard", "query", "database", "table", "column",
	"record", "update", "change", "issue", "problem", "solution", "answer",
	"question", "detail", "note", "comment", "review", "draft", "version", "release",
	"feature", "option", "setting", "configuration", "error", "warning", "message",
	"status", "result", "total", "balance", "amount", "budget", "forecast", "revenue",
	"cost", "margin", "growth", "trend", "region", "market", "supplier", "vendor",
	"partner", "client", "user", "employee", "department", "office", "building",
	"warehouse", "stock", "inventory", "item", "package", "label", "address",
	"city", "country", "language", "translation", "is", "was", "were", "be",
	"has", "had", "will", "would", "can", "could", "should", "may", "might", "must",
	"check", "confirm", "send", "receive", "prepare", "explain", "describe",
	"compare", "calculate", "estimate", "approve", "reject", "close", "open",
	"resolve", "escalate", "assign", "track", "measure", "improve", "reduce",
	"increase", "keep", "make", "take", "give", "find", "use", "need", "want",
	"look", "ask", "tell", "work", "call", "try", "help", "start", "finish",
	"new", "old", "good", "better", "best", "late", "early", "small", "large",
	"quick", "careful", "clear", "correct", "wrong", "full", "partial", "final",
	"first", "last", "next", "current", "previous", "monthly", "weekly", "daily",
	"annual", "internal", "external", "public", "private", "important", "urgent",
	"simple", "complex", "several", "many", "few", "some", "each", "every", "all",
	"this", "that", "these", "those", "our", "their", "his", "her", "its", "we",
	"they", "he", "she", "it", "them", "us", "very", "also", "only", "still",
	"again", "soon", "today", "yesterday", "tomorrow", "here", "there", "when",
	"where", "why", "how", "which", "what", "who", "not", "no", "yes", "please",
	"thanks", "because", "although", "while", "if", "then", "so", "than", "as"
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

/* Append a number-like token that is no PII value. */
static void
put_number(Buf *b)
{
	char		tok[40];

	switch (rnd(8))
	{
		case 0:
			snprintf(tok, sizeof(tok), "%u", 1 + rnd(999));
			break;
		case 1:
			snprintf(tok, sizeof(tok), "#%u", 10000 + rnd(90000));
			break;
		case 2:
			snprintf(tok, sizeof(tok), "20%02u-%02u-%02u", 18 + rnd(8), 1 + rnd(12), 1 + rnd(28));
			break;
		case 3:
			snprintf(tok, sizeof(tok), "%u:%02u", 1 + rnd(12), rnd(60));
			break;
		case 4:
			snprintf(tok, sizeof(tok), "$%u.%02u", 1 + rnd(5000), rnd(100));
			break;
		case 5:
			snprintf(tok, sizeof(tok), "v%u.%u.%u", 1 + rnd(9), rnd(20), rnd(30));
			break;
		case 6:
			snprintf(tok, sizeof(tok), "%u%%", rnd(101));
			break;
		default:
			snprintf(tok, sizeof(tok), "%u,%03u", 1 + rnd(99), rnd(1000));
			break;
	}
	buf_str(b, tok);
}

/* Append one sentence of prose, ending with ". " (or a paragraph break). */
static void
put_sentence(Buf *b)
{
	unsigned	n = 6 + rnd(14);
	bool		after_number = true;	/* no number first, none twice in a row */

	for (unsigned k = 0; k < n; k++)
	{
		if (k > 0)
			buf_str(b, rnd(12) == 0 ? ", " : " ");
		if (!after_number && rnd(14) == 0)
		{
			put_number(b);
			after_number = true;
		}
		else
		{
			const char *w = words[rnd(NWORDS)];

			if (k == 0)
			{
				char		c = (char) (w[0] - 'a' + 'A');

				buf_put(b, &c, 1);
				buf_str(b, w + 1);
			}
			else
				buf_str(b, w);
			after_number = false;
		}
	}
	buf_str(b, rnd(6) == 0 ? ".\n\n" : ". ");
}

/* Luhn check digit for the n digits in d. */
static int
luhn_digit(const char *d, int n)
{
	int			sum = 0;

	for (int k = n - 1, twice = 1; k >= 0; k--, twice = !twice)
	{
		int			v = d[k] - '0';

		if (twice)
		{
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return (10 - sum % 10) % 10;
}

/* A random string of n characters from set. */
static void
put_random(Buf *b, const char *set, int n)
{
	size_t		m = strlen(set);

	for (int k = 0; k < n; k++)
		buf_put(b, &set[rnd((unsigned) m)], 1);
}

#define DIGITS "0123456789"
#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define UPPER_DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

/* Append one PII value of type t (with its lead-in words); counts it. */
static void
put_pii(Buf *b, int t, unsigned *expected)
{
	static const char *const first[] = {"jane", "john", "maria", "li", "omar", "anna", "kenji", "sara"};
	static const char *const last[] = {"doe", "smith", "garcia", "chen", "haddad", "novak", "sato", "berg"};
	static const char *const domains[] = {"example.com", "mail.example.org", "corp.example.net", "example.co.uk"};
	char		tok[80];

	switch (t)
	{
		case PII_EMAIL:
			buf_str(b, "write to ");
			snprintf(tok, sizeof(tok), "%s.%s%u@%s", first[rnd(8)], last[rnd(8)], rnd(100), domains[rnd(4)]);
			break;
		case PII_PHONE:
			buf_str(b, "call ");
			switch (rnd(3))
			{
				case 0:
					snprintf(tok, sizeof(tok), "+1 (%03u) %03u-%04u", 201 + rnd(700), 200 + rnd(700), rnd(10000));
					break;
				case 1:
					snprintf(tok, sizeof(tok), "%03u-%03u-%04u", 201 + rnd(700), 200 + rnd(700), rnd(10000));
					break;
				default:
					snprintf(tok, sizeof(tok), "+44 20 %04u %04u", 1000 + rnd(9000), rnd(10000));
					break;
			}
			break;
		case PII_SSN:
			buf_str(b, "SSN ");
			snprintf(tok, sizeof(tok), "%03u-%02u-%04u", 1 + rnd(665), 1 + rnd(99), 1 + rnd(9999));
			break;
		case PII_CREDIT_CARD:
			{
				char		d[17];
				unsigned	layout = rnd(3);

				d[0] = '4';
				for (int k = 1; k < 15; k++)
					d[k] = (char) ('0' + rnd(10));
				d[15] = (char) ('0' + luhn_digit(d, 15));
				d[16] = '\0';
				buf_str(b, "card ");
				if (layout == 0)
					snprintf(tok, sizeof(tok), "%s", d);
				else
					snprintf(tok, sizeof(tok), "%.4s%c%.4s%c%.4s%c%.4s", d, layout == 1 ? ' ' : '-',
							 d + 4, layout == 1 ? ' ' : '-', d + 8, layout == 1 ? ' ' : '-', d + 12);
			}
			break;
		case PII_IP_ADDRESS:
			buf_str(b, "host ");
			snprintf(tok, sizeof(tok), "10.%u.%u.%u", rnd(256), rnd(256), 1 + rnd(254));
			break;
		case PII_IBAN:
			{
				/* DE, check digits, 18-digit BBAN: check = 98 - (BBAN "DE00" mod 97) */
				char		bban[19];
				unsigned	rem = 0;
				const char *tail = "131400";	/* D = 13, E = 14, 00 */
				int			check;

				for (int k = 0; k < 18; k++)
					bban[k] = (char) ('0' + rnd(10));
				bban[18] = '\0';
				for (int k = 0; k < 18; k++)
					rem = (rem * 10 + (unsigned) (bban[k] - '0')) % 97;
				for (int k = 0; tail[k]; k++)
					rem = (rem * 10 + (unsigned) (tail[k] - '0')) % 97;
				check = 98 - (int) rem;
				buf_str(b, "IBAN ");
				if (rnd(2) == 0)
					snprintf(tok, sizeof(tok), "DE%02d%s", check, bban);
				else
					snprintf(tok, sizeof(tok), "DE%02d %.4s %.4s %.4s %.4s %.2s", check,
							 bban, bban + 4, bban + 8, bban + 12, bban + 16);
			}
			break;
		default:
			buf_str(b, "key ");
			{
				Buf			k = {0};

				switch (rnd(3))
				{
					case 0:
						buf_str(&k, "sk_live_");
						put_random(&k, ALNUM, 24);
						break;
					case 1:
						buf_str(&k, "AKIA");
						put_random(&k, UPPER_DIGITS, 16);
						break;
					default:
						buf_str(&k, "ghp_");
						put_random(&k, ALNUM, 36);
						break;
				}
				snprintf(tok, sizeof(tok), "%s", k.data);
				free(k.data);
			}
			break;
	}
	buf_str(b, tok);
	expected[t]++;
}

/*
 * Number of built-in phrases found in normalized phrase s: every built-in
 * occurring in it at word boundaries (some phrases contain others, e.g.
 * "disregard all prior instructions" contains "disregard all prior").
 */
static unsigned
inj_expected(const char *s)
{
	unsigned	n = 0;
	size_t		slen = strlen(s);

	for (int k = 0; k < inj_num_builtins; k++)
	{
		const char *q = inj_builtins[k].phrase;
		size_t		qlen = strlen(q);

		for (const char *p = strstr(s, q); p != NULL; p = strstr(p + 1, q))
		{
			size_t		at = (size_t) (p - s);
			bool		alnum_first = (q[0] >= 'a' && q[0] <= 'z') || (q[0] >= '0' && q[0] <= '9');
			bool		alnum_last = (q[qlen - 1] >= 'a' && q[qlen - 1] <= 'z') ||
				(q[qlen - 1] >= '0' && q[qlen - 1] <= '9');
			char		before = at > 0 ? s[at - 1] : ' ';
			char		after = at + qlen < slen ? s[at + qlen] : ' ';

			if (alnum_first && ((before >= 'a' && before <= 'z') || (before >= '0' && before <= '9')))
				continue;
			if (alnum_last && ((after >= 'a' && after <= 'z') || (after >= '0' && after <= '9')))
				continue;
			n++;
		}
	}
	return n;
}

/* Append built-in phrase k, plain, upper-cased or with doubled spaces. */
static void
put_injection(Buf *b, int k, unsigned *expected)
{
	const char *p = inj_builtins[k].phrase;
	unsigned	variant = rnd(3);

	buf_str(b, "then ");
	for (; *p; p++)
	{
		char		c = *p;

		if (variant == 1 && c >= 'a' && c <= 'z')
			c = (char) (c - 'a' + 'A');
		if (variant == 2 && c == ' ')
			buf_put(b, "  ", 2);
		else
			buf_put(b, &c, 1);
	}
	*expected += inj_expected(inj_builtins[k].phrase);
}

/*
 * Prose of at least size bytes.  With dense, a PII value every ~60 bytes
 * (types in turn) and an injection phrase every tenth value.
 */
static Buf
make_text(size_t size, bool dense, unsigned *pii_expected, unsigned *inj_expected_n)
{
	Buf			b = {0};
	size_t		next = 0;
	unsigned	nvalues = 0;

	while (b.len < size)
	{
		if (!dense)
		{
			put_sentence(&b);
			continue;
		}
		/* a few words, then a value, so one every ~60 bytes */
		for (unsigned k = 0, n = 3 + rnd(4); k < n; k++)
		{
			buf_str(&b, words[rnd(NWORDS)]);
			buf_str(&b, " ");
		}
		if (nvalues % 10 == 9)
			put_injection(&b, (int) (nvalues / 10 % (unsigned) inj_num_builtins), inj_expected_n);
		else
			put_pii(&b, (int) (next++ % PII_NUM_TYPES), pii_expected);
		/* a period after a phrase, so the next word cannot extend it */
		buf_str(&b, rnd(5) == 0 || nvalues % 10 == 9 ? ". " : " ");
		nvalues++;
	}
	return b;
}

/* ------------------------------------------------------------ scanning */

typedef struct Counts
{
	unsigned	pii[PII_NUM_TYPES];
	unsigned	pii_total;
	unsigned	inj;
} Counts;

static void
count_pii(const PiiHit *hit, void *arg)
{
	Counts	   *c = arg;

	c->pii[hit->type]++;
	c->pii_total++;
}

static void
count_inj(const InjHit *hit, void *arg)
{
	Counts	   *c = arg;

	(void) hit;
	c->inj++;
}

static void *
bench_alloc(size_t size, void *arg)
{
	(void) arg;
	return malloc(size ? size : 1);
}

/* Best of reps timings of one scanner over text; fills *c from the last run. */
static double
best_secs(const InjMatcher *m, const Buf *text, int reps, Counts *c)
{
	double		best = 1e30;

	for (int r = 0; r < reps; r++)
	{
		double		t0;
		double		secs;

		memset(c, 0, sizeof(*c));
		t0 = now();
		if (m == NULL)
			pii_scan(text->data, text->len, PII_ALL, count_pii, c);
		else
			inj_scan(m, text->data, text->len, count_inj, c);
		secs = now() - t0;
		if (secs < best)
			best = secs;
	}
	return best;
}

static const char *
verdict(unsigned got, unsigned expected)
{
	return got == expected ? "" : "  MISMATCH";
}

int
main(int argc, char **argv)
{
	int			mb = argc > 1 ? atoi(argv[1]) : 8;
	int			reps = argc > 2 ? atoi(argv[2]) : 5;
	size_t		size;
	const char **phrases;
	size_t	   *lens;
	InjMatcher *m;
	const char *err = NULL;
	int			bad = -1;
	unsigned	clean_pii[PII_NUM_TYPES] = {0};
	unsigned	dense_pii[PII_NUM_TYPES] = {0};
	unsigned	clean_inj = 0;
	unsigned	dense_inj = 0;
	unsigned	dense_pii_total = 0;
	Buf			clean;
	Buf			dense;
	struct
	{
		const char *label;
		const Buf  *text;
		unsigned	pii_expected;
		unsigned	inj_expected;
	}			texts[2];

	if (argc > 3 || mb < 1 || mb > 1024 || reps < 1 || reps > 100)
		die("usage: scanner_bench [megabytes (1-1024, default 8) [repetitions (1-100, default 5)]]");
	size = (size_t) mb * 1000000;

	phrases = malloc(sizeof(char *) * (size_t) inj_num_builtins);
	lens = malloc(sizeof(size_t) * (size_t) inj_num_builtins);
	if (phrases == NULL || lens == NULL)
		die("out of memory");
	for (int k = 0; k < inj_num_builtins; k++)
	{
		phrases[k] = inj_builtins[k].phrase;
		lens[k] = strlen(phrases[k]);
	}
	m = inj_build(phrases, lens, inj_num_builtins, bench_alloc, NULL, &bad, &err);
	if (m == NULL)
		die(err ? err : "inj_build failed");

	clean = make_text(size, false, clean_pii, &clean_inj);
	dense = make_text(size, true, dense_pii, &dense_inj);
	for (int t = 0; t < PII_NUM_TYPES; t++)
		dense_pii_total += dense_pii[t];

	texts[0].label = "clean English-like text";
	texts[0].text = &clean;
	texts[0].pii_expected = 0;
	texts[0].inj_expected = 0;
	texts[1].label = "PII-dense (a value every ~60 B)";
	texts[1].text = &dense;
	texts[1].pii_expected = dense_pii_total;
	texts[1].inj_expected = dense_inj;

	printf("scanner throughput, best of %d runs (MB = 10^6 bytes; %d built-in injection phrases)\n",
		   reps, inj_num_builtins);
	printf("   %-32s %8s %13s %9s %11s %13s %9s %11s\n", "text", "MB",
		   "pii_scan MB/s", "hits", "(expected)", "inj_scan MB/s", "hits", "(expected)");
	for (int k = 0; k < 2; k++)
	{
		Counts		pc;
		Counts		ic;
		double		pii_secs = best_secs(NULL, texts[k].text, reps, &pc);
		double		inj_secs = best_secs(m, texts[k].text, reps, &ic);
		double		mbytes = texts[k].text->len / 1e6;

		printf("   %-32s %8.1f %13.0f %9u %11u %13.0f %9u %11u%s%s\n", texts[k].label, mbytes,
			   mbytes / pii_secs, pc.pii_total, texts[k].pii_expected,
			   mbytes / inj_secs, ic.inj, texts[k].inj_expected,
			   verdict(pc.pii_total, texts[k].pii_expected), verdict(ic.inj, texts[k].inj_expected));
		if (k == 1)
		{
			bool		same = true;

			printf("   PII hits by type in the dense text (expected):");
			for (int t = 0; t < PII_NUM_TYPES; t++)
			{
				printf(" %s %u (%u)", pii_type_names[t], pc.pii[t], dense_pii[t]);
				if (pc.pii[t] != dense_pii[t])
					same = false;
			}
			printf("%s\n", same ? "" : "  MISMATCH");
		}
	}
	free(clean.data);
	free(dense.data);
	return 0;
}
