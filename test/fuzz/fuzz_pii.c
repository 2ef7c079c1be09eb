/*
 * fuzz_pii.c
 *		libFuzzer harness for the PII scanner of src/standalone/pii.c.
 *
 *	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined \
 *		-fno-sanitize-recover=all -Isrc/standalone test/fuzz/fuzz_pii.c src/standalone/pii.c \
 *		-o /tmp/fuzz_pii
 *
 * Input: the first byte chooses the type mask (its low 7 bits, one bit per
 * PiiType, so every one of the 128 masks is reached, the empty one
 * included); the remaining bytes are the text, arbitrary bytes, not
 * NUL-terminated.
 *
 * Checked, aborting on the first violation (so libFuzzer reports a crash):
 *	- every hit of pii_scan(text, mask) has len > 0, lies inside the text,
 *	  starts at or after the end of the previous hit (increasing and
 *	  non-overlapping), has a valid type that is in the mask, starts and ends
 *	  on an ASCII byte and does not start right after an ASCII letter or
 *	  digit ("nothing starts inside a word");
 *	- the hits for the mask are exactly the hits for PII_ALL whose type is in
 *	  the mask (values of the other types are recognised and skipped the
 *	  same way), and the empty mask reports nothing;
 *	- the shape of each hit: e-mail with one '@' and e-mail characters; phone
 *	  of 10-15 digits and phone separators; SSN ddd-dd-dddd or ddd dd dddd;
 *	  card of 13-19 digits, one kind of separator, Luhn valid; IP address
 *	  accepted by inet_pton (IPv4 if it has no ':', else IPv6); IBAN of
 *	  [A-Z0-9] and single spaces whose compact form passes pii_iban_ok; API
 *	  key beginning with a known prefix, AKIA/ASIA or "-----BEGIN ";
 *	- pii_luhn_ok and pii_iban_ok over prefixes of the text and over its
 *	  digits agree with straightforward reference implementations;
 *	- pii_type_from_name on the text agrees with a case-insensitive compare.
 * AddressSanitizer and UBSan catch reads outside the text (libFuzzer hands
 * over an exactly sized heap copy) and undefined behaviour.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pii.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fail(fmt, ...): report a broken invariant and abort (fuzz_fail.h) */
#define FUZZ_FAIL_PREFIX "fuzz_pii: invariant violated: "
#include "fuzz_fail.h"

static bool
ascii_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
ascii_upper(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool
ascii_alnum(unsigned char c)
{
	return ascii_digit(c) || ascii_upper(c) || (c >= 'a' && c <= 'z');
}

/* ------------------------------------------------------- hit collection */

typedef struct HitList
{
	const unsigned char *text;
	size_t		len;
	unsigned	types;
	PiiHit	   *hits;
	size_t		n;
	size_t		cap;
	size_t		last_end;
} HitList;

/* pii_scan callback: check the generic invariants and keep the hit. */
static void
collect(const PiiHit *h, void *arg)
{
	HitList    *l = arg;

	if ((unsigned) h->type >= PII_NUM_TYPES)
		fail("hit type %d out of range", (int) h->type);
	if (!(l->types & PII_BIT(h->type)))
		fail("hit of type %s not in mask 0x%x", pii_type_names[h->type], l->types);
	if (h->len == 0)
		fail("empty hit at %zu", h->start);
	if (h->start > l->len || h->len > l->len - h->start)
		fail("hit [%zu, +%zu) outside text of %zu bytes", h->start, h->len, l->len);
	if (h->start < l->last_end)
		fail("hit at %zu starts before the end %zu of the previous one",
			 h->start, l->last_end);
	if (l->text[h->start] >= 0x80 || l->text[h->start + h->len - 1] >= 0x80)
		fail("hit [%zu, +%zu) does not start and end on ASCII", h->start, h->len);
	if (h->start > 0 && ascii_alnum(l->text[h->start - 1]))
		fail("hit at %zu starts inside a word", h->start);
	l->last_end = h->start + h->len;

	/* hits are non-overlapping and non-empty, so there are at most len */
	if (l->n >= l->cap)
		fail("more hits than bytes");
	l->hits[l->n++] = *h;
}

static void
scan(HitList *l, const unsigned char *text, size_t len, unsigned types)
{
	memset(l, 0, sizeof(*l));
	l->text = text;
	l->len = len;
	l->types = types;
	l->cap = len + 1;
	l->hits = malloc(sizeof(PiiHit) * l->cap);
	if (l->hits == NULL)
		abort();
	pii_scan((const char *) text, len, types, collect, l);
}

/* ------------------------------------------------------------ references */

/* Luhn over n bytes: false unless n > 0 and all are ASCII digits. */
static bool
ref_luhn(const unsigned char *s, size_t n)
{
	unsigned	sum = 0;
	size_t		k;

	if (n == 0)
		return false;
	for (k = 0; k < n; k++)
	{
		unsigned	d;

		if (!ascii_digit(s[n - 1 - k]))
			return false;
		d = (unsigned) (s[n - 1 - k] - '0');
		if (k % 2 == 1)
			d = (d * 2 > 9) ? d * 2 - 9 : d * 2;
		sum += d;
	}
	return sum % 10 == 0;
}

/*
 * IBAN check done the textbook way: move the first four characters to the
 * end, write letters as 10..35, and take the resulting decimal string
 * modulo 97.
 */
static bool
ref_iban(const unsigned char *s, size_t n)
{
	char		num[2 * 34 + 1];
	size_t		o = 0;
	unsigned	rem = 0;
	size_t		k;

	if (n < 15 || n > 34)
		return false;
	if (!ascii_upper(s[0]) || !ascii_upper(s[1]) ||
		!ascii_digit(s[2]) || !ascii_digit(s[3]))
		return false;
	for (k = 0; k < n; k++)
	{
		unsigned char c = s[(k + 4) % n];

		if (ascii_digit(c))
			num[o++] = (char) c;
		else if (ascii_upper(c))
		{
			int			v = c - 'A' + 10;

			num[o++] = (char) ('0' + v / 10);
			num[o++] = (char) ('0' + v % 10);
		}
		else
			return false;
	}
	for (k = 0; k < o; k++)
		rem = (rem * 10 + (unsigned) (num[k] - '0')) % 97;
	return rem == 1;
}

/* pii_type_from_name by hand */
static int
ref_type_from_name(const unsigned char *s, size_t n)
{
	int			t;

	for (t = 0; t < PII_NUM_TYPES; t++)
	{
		const char *name = pii_type_names[t];
		size_t		k;

		if (strlen(name) != n)
			continue;
		for (k = 0; k < n; k++)
		{
			unsigned char c = s[k];

			if (ascii_upper(c))
				c = (unsigned char) (c + ('a' - 'A'));
			if (c != (unsigned char) name[k])
				break;
		}
		if (k == n)
			return t;
	}
	return -1;
}

/* ------------------------------------------------------------ hit shapes */

/* Are all n bytes of s in the NUL-terminated set? */
static bool
all_in(const unsigned char *s, size_t n, const char *set)
{
	size_t		k;

	for (k = 0; k < n; k++)
		if (s[k] == '\0' || strchr(set, s[k]) == NULL)
			return false;
	return true;
}

static size_t
count_digits(const unsigned char *s, size_t n)
{
	size_t		k;
	size_t		d = 0;

	for (k = 0; k < n; k++)
		if (ascii_digit(s[k]))
			d++;
	return d;
}

/* Does the value s (n bytes) look like a value of type t? */
static void
check_shape(PiiType t, const unsigned char *s, size_t n, size_t start)
{
	static const char *const key_prefixes[] = {
		"sk_", "pk_", "rk_", "ag_", "exe_", "sk-", "ghp_", "gho_", "ghs_",
		"ghu_", "xoxb-", "xoxp-", "xoxa-", "xoxr-", "AKIA", "ASIA",
		"-----BEGIN "
	};
	char		buf[256];
	size_t		k;
	size_t		o;

	switch (t)
	{
		case PII_EMAIL:
			{
				const unsigned char *at = memchr(s, '@', n);

				if (at == NULL || at == s || at == s + n - 1 ||
					memchr(at + 1, '@', n - (size_t) (at - s) - 1) != NULL ||
					!all_in(s, n, "abcdefghijklmnopqrstuvwxyz"
							"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-@") ||
					at - s > 64 || n > 254)
					fail("email hit at %zu (%zu bytes) malformed", start, n);
			}
			break;
		case PII_PHONE:
			if (!all_in(s, n, "0123456789 -.()+") ||
				count_digits(s, n) < 10 || count_digits(s, n) > 15)
				fail("phone hit at %zu (%zu bytes) malformed", start, n);
			break;
		case PII_SSN:
			if (n != 11 || (s[3] != '-' && s[3] != ' ') || s[6] != s[3] ||
				count_digits(s, n) != 9)
				fail("ssn hit at %zu (%zu bytes) malformed", start, n);
			break;
		case PII_CREDIT_CARD:
			o = 0;
			for (k = 0; k < n && o < sizeof(buf); k++)
				if (ascii_digit(s[k]))
					buf[o++] = (char) s[k];
			if (!all_in(s, n, "0123456789 -") ||
				(memchr(s, ' ', n) && memchr(s, '-', n)) ||
				o < 13 || o > 19 || !ref_luhn((unsigned char *) buf, o) ||
				!pii_luhn_ok(buf, o))
				fail("credit card hit at %zu (%zu bytes) malformed or not Luhn valid",
					 start, n);
			break;
		case PII_IP_ADDRESS:
			{
				unsigned char addr[16];
				bool		v6 = memchr(s, ':', n) != NULL;

				if (n >= sizeof(buf) ||
					!all_in(s, n, "0123456789abcdefABCDEF.:"))
					fail("ip address hit at %zu (%zu bytes) malformed", start, n);
				memcpy(buf, s, n);
				buf[n] = '\0';
				if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) != 1)
					fail("ip address hit \"%s\" at %zu rejected by inet_pton",
						 buf, start);
			}
			break;
		case PII_IBAN:
			o = 0;
			for (k = 0; k < n && o < sizeof(buf); k++)
				if (s[k] != ' ')
					buf[o++] = (char) s[k];
			if (!all_in(s, n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ") ||
				!pii_iban_ok(buf, o) || !ref_iban((unsigned char *) buf, o))
				fail("iban hit at %zu (%zu bytes) malformed or bad checksum",
					 start, n);
			for (k = 1; k < n; k++)
				if (s[k] == ' ' && s[k - 1] == ' ')
					fail("iban hit at %zu has a double space", start);
			break;
		case PII_API_KEY:
			for (k = 0; k < sizeof(key_prefixes) / sizeof(key_prefixes[0]); k++)
				if (n > strlen(key_prefixes[k]) &&
					memcmp(s, key_prefixes[k], strlen(key_prefixes[k])) == 0)
					break;
			if (k == sizeof(key_prefixes) / sizeof(key_prefixes[0]))
				fail("api key hit at %zu (%zu bytes) has no known prefix", start, n);
			break;
		default:
			fail("unknown type %d", (int) t);
	}
}

/* ---------------------------------------------------------------- entry */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *text;
	size_t		len;
	unsigned	mask;
	HitList		all;
	HitList		some;
	size_t		j;
	size_t		k;
	char		digits[64];
	size_t		nd = 0;

	if (size == 0)
		return 0;
	mask = data[0] & PII_ALL;
	text = data + 1;
	len = size - 1;

	/* the mask decides what is reported, never what is recognised */
	scan(&all, text, len, PII_ALL);
	scan(&some, text, len, mask);
	for (j = 0, k = 0; j < all.n; j++)
	{
		const PiiHit *h = &all.hits[j];

		check_shape(h->type, text + h->start, h->len, h->start);
		if (!(mask & PII_BIT(h->type)))
			continue;
		if (k >= some.n || some.hits[k].type != h->type ||
			some.hits[k].start != h->start || some.hits[k].len != h->len)
			fail("hits for mask 0x%x differ from the PII_ALL hits at hit %zu",
				 mask, k);
		k++;
	}
	if (k != some.n)
		fail("mask 0x%x reports %zu hits, PII_ALL filtered %zu", mask, some.n, k);
	if (mask == 0 && some.n != 0)
		fail("empty mask reported hits");
	free(all.hits);
	free(some.hits);

	/* validators against the references */
	for (k = 0; k <= len && k <= 40; k++)
	{
		if (pii_luhn_ok((const char *) text, k) != ref_luhn(text, k))
			fail("pii_luhn_ok differs from reference on %zu bytes", k);
		if (pii_iban_ok((const char *) text, k) != ref_iban(text, k))
			fail("pii_iban_ok differs from reference on %zu bytes", k);
	}
	for (k = 0; k < len && nd < sizeof(digits); k++)
		if (ascii_digit(text[k]))
			digits[nd++] = (char) text[k];
	for (k = 0; k <= nd; k++)
		if (pii_luhn_ok(digits, k) != ref_luhn((unsigned char *) digits, k))
			fail("pii_luhn_ok differs from reference on the digits");
	if (pii_type_from_name((const char *) text, len) != ref_type_from_name(text, len))
		fail("pii_type_from_name differs from reference");
	return 0;
}
