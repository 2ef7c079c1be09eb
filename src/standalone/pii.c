/*
 * pii.c
 *		PII detection over raw UTF-8.
 *
 * The scanner reads a pointer and a byte length (no NUL terminator needed,
 * NUL bytes allowed), makes one forward pass in time linear in the input and
 * never reads outside it.  Bytes >= 0x80 are never letters or digits, and
 * every match starts and ends on an ASCII byte or on a whole multibyte
 * sequence, so a hit never splits a UTF-8 character.
 *
 * PII: the text is walked once.  At each word start (and at the few
 * punctuation characters a value can begin with) the detectors are tried in
 * a fixed order, each with bounded lookahead; the first that recognises a
 * value wins, the value is reported if its type was asked for, and the walk
 * resumes after it (values of types not asked for are skipped the same way,
 * as are card- and IBAN-shaped numbers that fail their checksum).  A word
 * start where nothing matched is skipped as a whole word, since no value
 * starts inside a word.  The scans that can run far are the one over an
 * e-mail local part looking for '@', whose result is remembered for every
 * later start inside the same run so that run is read once, and the one over
 * an API key body, which starts only at a token boundary.
 *
 * No PostgreSQL dependency (src/standalone/): this file is linked into the
 * extension and into standalone tests, benchmarks and fuzzing harnesses.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <stdlib.h>

#include "pii.h"
#include "chars.h"

/*
 * Byte classes of the PII scanner.  PC_ANCHOR marks the bytes the main loop
 * stops at (see pii_scan), PC_TRIG those a value may start with.
 */
#define PC_DIGIT	0x01		/* 0-9 */
#define PC_UPPER	0x02		/* A-Z */
#define PC_LOWER	0x04		/* a-z */
#define PC_HEX		0x08		/* 0-9 A-F a-f */
#define PC_LOCAL	0x10		/* e-mail local part: A-Z a-z 0-9 . _ % + - */
#define PC_ANCHOR	0x20		/* 0-9 A-Z @ : _ % ( + - */
#define PC_TRIG		0x40		/* 0-9 A-Z a-z : _ % ( + - */
#define PC_LOWDOT	0x80		/* a-z . */

#define PK_DIG	(PC_DIGIT | PC_HEX | PC_LOCAL | PC_ANCHOR | PC_TRIG)
#define PK_UHX	(PC_UPPER | PC_HEX | PC_LOCAL | PC_ANCHOR | PC_TRIG)
#define PK_UP	(PC_UPPER | PC_LOCAL | PC_ANCHOR | PC_TRIG)
#define PK_LHX	(PC_LOWER | PC_HEX | PC_LOCAL | PC_TRIG | PC_LOWDOT)
#define PK_LO	(PC_LOWER | PC_LOCAL | PC_TRIG | PC_LOWDOT)
#define PK_LP	(PC_LOCAL | PC_ANCHOR | PC_TRIG)

static const unsigned char pii_cls[256] = {
	['%'] = PK_LP, ['+'] = PK_LP, ['-'] = PK_LP, ['_'] = PK_LP,
	['('] = PC_ANCHOR | PC_TRIG, [':'] = PC_ANCHOR | PC_TRIG,
	['.'] = PC_LOCAL | PC_LOWDOT, ['@'] = PC_ANCHOR,
	['0'] = PK_DIG, ['1'] = PK_DIG, ['2'] = PK_DIG, ['3'] = PK_DIG,
	['4'] = PK_DIG, ['5'] = PK_DIG, ['6'] = PK_DIG, ['7'] = PK_DIG,
	['8'] = PK_DIG, ['9'] = PK_DIG,
	['A'] = PK_UHX, ['B'] = PK_UHX, ['C'] = PK_UHX, ['D'] = PK_UHX,
	['E'] = PK_UHX, ['F'] = PK_UHX, ['G'] = PK_UP, ['H'] = PK_UP,
	['I'] = PK_UP, ['J'] = PK_UP, ['K'] = PK_UP, ['L'] = PK_UP,
	['M'] = PK_UP, ['N'] = PK_UP, ['O'] = PK_UP, ['P'] = PK_UP,
	['Q'] = PK_UP, ['R'] = PK_UP, ['S'] = PK_UP, ['T'] = PK_UP,
	['U'] = PK_UP, ['V'] = PK_UP, ['W'] = PK_UP, ['X'] = PK_UP,
	['Y'] = PK_UP, ['Z'] = PK_UP,
	['a'] = PK_LHX, ['b'] = PK_LHX, ['c'] = PK_LHX, ['d'] = PK_LHX,
	['e'] = PK_LHX, ['f'] = PK_LHX, ['g'] = PK_LO, ['h'] = PK_LO,
	['i'] = PK_LO, ['j'] = PK_LO, ['k'] = PK_LO, ['l'] = PK_LO,
	['m'] = PK_LO, ['n'] = PK_LO, ['o'] = PK_LO, ['p'] = PK_LO,
	['q'] = PK_LO, ['r'] = PK_LO, ['s'] = PK_LO, ['t'] = PK_LO,
	['u'] = PK_LO, ['v'] = PK_LO, ['w'] = PK_LO, ['x'] = PK_LO,
	['y'] = PK_LO, ['z'] = PK_LO
};

/* ------------------------------------------------------------ PII tables */

const char *const pii_type_names[PII_NUM_TYPES] = {
	"email",
	"phone",
	"ssn",
	"credit_card",
	"ip_address",
	"iban",
	"api_key"
};

const char *const pii_mask_tokens[PII_NUM_TYPES] = {
	"[EMAIL_REDACTED]",
	"[PHONE_REDACTED]",
	"[SSN_REDACTED]",
	"[CREDIT_CARD_REDACTED]",
	"[IP_ADDRESS_REDACTED]",
	"[IBAN_REDACTED]",
	"[API_KEY_REDACTED]"
};

/*
 * Index of the type whose name is the len bytes at name, compared ASCII
 * case-insensitively, or -1 if there is none.
 */
int
pii_type_from_name(const char *name, size_t len)
{
	int			t;

	if (name == NULL)
		return -1;
	for (t = 0; t < PII_NUM_TYPES; t++)
	{
		const char *cand = pii_type_names[t];
		size_t		k;

		if (strlen(cand) != len)
			continue;
		for (k = 0; k < len; k++)
			if (fold((unsigned char) name[k]) != (unsigned char) cand[k])
				break;
		if (k == len)
			return t;
	}
	return -1;
}

/* ------------------------------------------------------------ validators */

/*
 * Luhn check over n ASCII digits.  False for n == 0 or any non-digit.
 */
bool
pii_luhn_ok(const char *digits, size_t n)
{
	unsigned	sum = 0;
	bool		twice = false;
	size_t		k;

	if (digits == NULL || n == 0)
		return false;
	for (k = n; k-- > 0;)
	{
		unsigned char c = (unsigned char) digits[k];
		unsigned	d;

		if (!is_digit(c))
			return false;
		d = c - '0';
		if (twice)
		{
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum = (sum + d) % 10;
		twice = !twice;
	}
	return sum == 0;
}

/*
 * IBAN check over a compact IBAN (no spaces): 15 to 34 characters, two
 * upper-case letters, two digits, then upper-case letters and digits; the
 * number formed by moving the first four characters to the end and writing
 * letters as 10..35 must be 1 modulo 97.
 */
bool
pii_iban_ok(const char *s, size_t n)
{
	unsigned	rem = 0;
	size_t		k;

	if (s == NULL || n < 15 || n > 34)
		return false;
	if (!is_upper((unsigned char) s[0]) || !is_upper((unsigned char) s[1]) ||
		!is_digit((unsigned char) s[2]) || !is_digit((unsigned char) s[3]))
		return false;
	for (k = 0; k < n; k++)
	{
		unsigned char c = (unsigned char) s[(k + 4) % n];

		if (is_digit(c))
			rem = (rem * 10 + (unsigned) (c - '0')) % 97;
		else if (is_upper(c))
			rem = (rem * 100 + (unsigned) (c - 'A' + 10)) % 97;
		else
			return false;
	}
	return rem == 1;
}

/* ------------------------------------------------------- PII detectors */

/*
 * Each detector is called with a position i at which the main loop allows a
 * value to start, and returns the end (exclusive) of the value starting
 * there, or 0 if there is none (scan_card and scan_iban may also set *skip,
 * see detect_at).  All of them look at most a bounded number of bytes ahead
 * (about 70), except the e-mail local part (memoized, see scan_email) and an
 * API key body (read once per token).
 */

/* Remembered result of the last e-mail local-part scan */
typedef struct EmailMemo
{
	bool		valid;			/* anything remembered? */
	size_t		run_end;		/* first byte after the local-part run */
	size_t		dom_len;		/* length of a valid domain after '@', or 0 */
} EmailMemo;

/*
 * May a numeric value (SSN, card, phone) start at i?  Not right after a
 * letter, a digit or '+', nor after a '.', '-', ':' or '/' that follows a
 * digit (the middle of a date, a version or a longer number).
 */
static bool
numeric_start_ok(const unsigned char *t, size_t i)
{
	unsigned char p;

	if (i == 0)
		return true;
	p = t[i - 1];
	if (is_alnum(p) || p == '+')
		return false;
	if ((p == '.' || p == '-' || p == ':' || p == '/') && i >= 2 &&
		is_digit(t[i - 2]))
		return false;
	return true;
}

/*
 * May a numeric value end at e (exclusive)?  Not before a letter or a digit,
 * nor before a '.', '-', ':' or '/' followed by a digit.
 */
static bool
numeric_end_ok(const unsigned char *t, size_t len, size_t e)
{
	unsigned char c;

	if (e >= len)
		return true;
	c = t[e];
	if (is_alnum(c))
		return false;
	if ((c == '.' || c == '-' || c == ':' || c == '/') && e + 1 < len &&
		is_digit(t[e + 1]))
		return false;
	return true;
}

/*
 * PEM private key header "-----BEGIN <up to 40 bytes>PRIVATE KEY-----" at i;
 * the span is the header only.
 */
static size_t
scan_pem(const unsigned char *t, size_t len, size_t i)
{
	static const char begin[] = "-----BEGIN ";
	static const char end[] = "PRIVATE KEY-----";
	const size_t blen = sizeof(begin) - 1;
	const size_t elen = sizeof(end) - 1;
	size_t		p;
	size_t		k;

	if (i > 0 && t[i - 1] == '-')
		return 0;
	if (len - i < blen + elen || memcmp(t + i, begin, blen) != 0)
		return 0;
	p = i + blen;
	for (k = 0; k <= 40 && p + k + elen <= len; k++)
	{
		unsigned char c = t[p + k];

		if (c == 'P' && memcmp(t + p + k, end, elen) == 0)
			return p + k + elen;
		if (c == '\n' || c == '\r' || c == '-')
			break;
	}
	return 0;
}

/*
 * API key at i: a known prefix followed by at least 20 token characters of
 * which at least 16 are alphanumeric, or an AWS access key id.
 */
static size_t
scan_api_key(const unsigned char *t, size_t len, size_t i)
{
	static const char *const prefixes[] = {
		"sk_", "pk_", "rk_", "ag_", "exe_", "sk-", "ghp_", "gho_", "ghs_",
		"ghu_", "xoxb-", "xoxp-", "xoxa-", "xoxr-"
	};
	size_t		k;

	/* AWS access key id: AKIA or ASIA and exactly 16 of [A-Z0-9] */
	if (len - i >= 20 && t[i] == 'A' &&
		(memcmp(t + i, "AKIA", 4) == 0 || memcmp(t + i, "ASIA", 4) == 0))
	{
		for (k = 4; k < 20; k++)
			if (!is_upper(t[i + k]) && !is_digit(t[i + k]))
				break;
		if (k == 20 && (i + 20 >= len || !is_alnum(t[i + 20])))
			return i + 20;
	}

	/* prefixed tokens start at a token boundary */
	if (i > 0 && is_token(t[i - 1]))
		return 0;
	for (k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++)
	{
		size_t		plen = strlen(prefixes[k]);
		size_t		p;
		size_t		nalnum = 0;

		if (len - i <= plen || memcmp(t + i, prefixes[k], plen) != 0)
			continue;
		for (p = i + plen; p < len && is_token(t[p]); p++)
			if (is_alnum(t[p]))
				nalnum++;
		if (p - (i + plen) >= 20 && nalnum >= 16)
			return p;
		return 0;
	}
	return 0;
}

/*
 * Length of the longest acceptable domain starting at p (just after '@'), or
 * 0: labels of [A-Za-z0-9-] (1-63 bytes, not starting or ending with '-')
 * separated by single dots, at least two labels, the last all letters and at
 * least two of them, at most 253 bytes.
 */
static size_t
parse_domain(const unsigned char *t, size_t len, size_t p)
{
	size_t		q = p;
	size_t		best = 0;
	int			labels = 0;

	while (q < len)
	{
		size_t		ls = q;
		size_t		k;
		bool		alpha = true;

		while (q < len && is_label(t[q]) && q - ls < 64)
			q++;
		if (q == ls || q - ls > 63 || (q < len && is_label(t[q])))
			break;
		if (t[ls] == '-' || t[q - 1] == '-' || q - p > 253)
			break;
		labels++;
		for (k = ls; k < q; k++)
			if (!is_alpha(t[k]))
				alpha = false;
		if (labels >= 2 && alpha && q - ls >= 2)
			best = q - p;
		if (q + 1 < len && t[q] == '.' && is_label(t[q + 1]))
		{
			q++;
			continue;
		}
		break;
	}
	return best;
}

/*
 * E-mail address whose local part starts at i.  The run of local-part
 * characters containing i is scanned once: its end, and the domain after a
 * '@' there, are remembered in *memo and reused for every later start inside
 * the same run, so long runs without '@' cost linear time overall.
 */
static size_t
scan_email(const unsigned char *t, size_t len, size_t i, EmailMemo *memo)
{
	size_t		e;
	size_t		local;

	if (!memo->valid || i >= memo->run_end)
	{
		e = i;
		while (e < len && is_local(t[e]))
			e++;
		memo->valid = true;
		memo->run_end = e;
		memo->dom_len = (e < len && t[e] == '@') ? parse_domain(t, len, e + 1) : 0;
	}
	e = memo->run_end;
	local = e - i;
	if (memo->dom_len == 0 || local == 0 || local > 64 || t[i] == '.')
		return 0;
	if (local + 1 + memo->dom_len > 254)
		return 0;
	return e + 1 + memo->dom_len;
}

/*
 * IBAN at i: two upper-case letters, two digits, then upper-case letters and
 * digits, compact or in groups of four separated by single spaces (the last
 * group 1-4); 15-34 characters without spaces; mod-97 valid.  In the grouped
 * form the longest valid prefix ending at a group boundary wins.  A grouped
 * IBAN-shaped token that fails the checksum sets *skip to its end, so its
 * digit groups are not taken for other values.
 */
static size_t
scan_iban(const unsigned char *t, size_t len, size_t i, size_t *skip)
{
	char		buf[34];
	size_t		n = 0;
	size_t		p = i;
	size_t		best = 0;
	size_t		shape = 0;

	if (len - i < 15 || !is_upper(t[i]) || !is_upper(t[i + 1]) ||
		!is_digit(t[i + 2]) || !is_digit(t[i + 3]))
		return 0;
	while (p < len && (is_upper(t[p]) || is_digit(t[p])) && n < 35)
	{
		if (n < 34)
			buf[n] = (char) t[p];
		n++;
		p++;
	}
	if (n > 34)
		return 0;
	if (n > 4)
	{
		/* compact */
		if (p < len && is_alnum(t[p]))
			return 0;
		return pii_iban_ok(buf, n) ? p : 0;
	}
	/* grouped: n == 4 here */
	for (;;)
	{
		size_t		g = 0;

		if (p + 1 >= len || t[p] != ' ' ||
			!(is_upper(t[p + 1]) || is_digit(t[p + 1])))
			break;
		p++;
		while (p < len && (is_upper(t[p]) || is_digit(t[p])) && g < 5)
		{
			if (n < 34)
				buf[n] = (char) t[p];
			n++;
			g++;
			p++;
		}
		if (g > 4 || n > 34)
			break;
		if (n >= 15 && (p >= len || !is_alnum(t[p])))
		{
			shape = p;
			if (pii_iban_ok(buf, n))
				best = p;
		}
		if (g < 4)
			break;
	}
	if (best == 0)
		*skip = shape;
	return best;
}

/*
 * Dotted quad at p, each part 0-255 without leading zeros; returns its end,
 * or 0.  No boundary checks.
 */
static size_t
parse_ipv4(const unsigned char *t, size_t len, size_t p)
{
	int			part;

	for (part = 0; part < 4; part++)
	{
		unsigned	v = 0;
		size_t		nd = 0;

		if (part > 0)
		{
			if (p >= len || t[p] != '.')
				return 0;
			p++;
		}
		while (p < len && is_digit(t[p]) && nd < 4)
		{
			v = v * 10 + (t[p] - '0');
			nd++;
			p++;
		}
		if (nd == 0 || nd > 3 || v > 255 || (nd > 1 && t[p - nd] == '0'))
			return 0;
	}
	return p;
}

/*
 * IPv4 address at i: not preceded by "digit." nor followed by a letter, a
 * digit or ".digit".
 */
static size_t
scan_ipv4(const unsigned char *t, size_t len, size_t i)
{
	size_t		e;

	if (i >= 2 && t[i - 1] == '.' && is_digit(t[i - 2]))
		return 0;
	e = parse_ipv4(t, len, i);
	if (e == 0)
		return 0;
	if (e < len && (is_alnum(t[e]) ||
					(t[e] == '.' && e + 1 < len && is_digit(t[e + 1]))))
		return 0;
	return e;
}

/*
 * IPv6 address at i: groups of 1-4 hex digits separated by ':', at most one
 * "::", 8 groups without "::" or at most 7 with it, optionally ending in a
 * dotted quad that counts as two groups; at least two colons and one group.
 * Not adjacent to further [0-9A-Za-z:].
 */
static size_t
scan_ipv6(const unsigned char *t, size_t len, size_t i)
{
	size_t		p = i;
	int			ngroups = 0;
	int			colons = 0;
	bool		dc = false;

	if (i > 0 && (is_alnum(t[i - 1]) || t[i - 1] == ':'))
		return 0;
	if (t[p] == ':')
	{
		if (p + 1 >= len || t[p + 1] != ':')
			return 0;
		dc = true;
		colons = 2;
		p += 2;
	}
	for (;;)
	{
		size_t		gs = p;
		int			nh = 0;

		while (p < len && is_hex(t[p]) && nh < 5)
		{
			p++;
			nh++;
		}
		if (nh == 0)
			break;				/* only right after "::" */
		if (nh > 4)
			return 0;
		if (p < len && t[p] == '.')
		{
			/* embedded IPv4 tail, after at least one colon */
			size_t		e;

			if (colons == 0)
				return 0;
			e = parse_ipv4(t, len, gs);
			if (e == 0)
				return 0;
			ngroups += 2;
			p = e;
			break;
		}
		ngroups++;
		if (ngroups > 8)
			return 0;
		if (p < len && t[p] == ':')
		{
			if (p + 1 < len && t[p + 1] == ':')
			{
				if (dc)
					return 0;
				dc = true;
				colons += 2;
				p += 2;
				continue;
			}
			if (p + 1 < len && is_hex(t[p + 1]))
			{
				colons++;
				p++;
				continue;
			}
			return 0;
		}
		break;
	}
	if (colons < 2 || ngroups == 0 || (dc ? ngroups > 7 : ngroups != 8))
		return 0;
	if (p < len && (is_alnum(t[p]) || t[p] == ':' ||
					(t[p] == '.' && p + 1 < len && is_digit(t[p + 1]))))
		return 0;
	return p;
}

/*
 * US social security number at i: ddd-dd-dddd or ddd dd dddd; area not 000,
 * 666 or 900-999, group not 00, serial not 0000.
 */
static size_t
scan_ssn(const unsigned char *t, size_t len, size_t i)
{
	static const size_t digit_at[] = {0, 1, 2, 4, 5, 7, 8, 9, 10};
	unsigned char sep;
	int			area;
	int			group;
	int			serial;
	size_t		k;

	if (len - i < 11)
		return 0;
	for (k = 0; k < sizeof(digit_at) / sizeof(digit_at[0]); k++)
		if (!is_digit(t[i + digit_at[k]]))
			return 0;
	sep = t[i + 3];
	if ((sep != '-' && sep != ' ') || t[i + 6] != sep)
		return 0;
	area = (t[i] - '0') * 100 + (t[i + 1] - '0') * 10 + (t[i + 2] - '0');
	group = (t[i + 4] - '0') * 10 + (t[i + 5] - '0');
	serial = (t[i + 7] - '0') * 1000 + (t[i + 8] - '0') * 100 +
		(t[i + 9] - '0') * 10 + (t[i + 10] - '0');
	if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
		return 0;
	if (!numeric_end_ok(t, len, i + 11))
		return 0;
	return i + 11;
}

/*
 * Credit card number at i: 13-19 digits, compact, or grouped with single
 * spaces or single dashes (one kind throughout) in a first group of 4 and
 * further groups of 3-6 digits; Luhn valid.  The longest valid prefix ending
 * at a group boundary wins.  A grouped card-shaped number that fails the
 * Luhn check sets *skip to its end, so its groups are not taken for a phone.
 */
static size_t
scan_card(const unsigned char *t, size_t len, size_t i, size_t *skip)
{
	char		digits[20];
	size_t		nd = 0;
	size_t		p = i;
	size_t		best = 0;
	size_t		shape = 0;
	unsigned char sep = 0;
	bool		first = true;

	for (;;)
	{
		size_t		gd = 0;

		while (p < len && is_digit(t[p]) && nd < 20)
		{
			digits[nd++] = (char) t[p++];
			gd++;
		}
		if (nd >= 20)
			break;
		if (first)
		{
			if (gd >= 13)
			{
				/* compact */
				if (numeric_end_ok(t, len, p) && pii_luhn_ok(digits, nd))
					return p;
				return 0;
			}
			if (gd != 4)
				return 0;
			first = false;
		}
		else if (gd < 3 || gd > 6)
			break;
		if (nd >= 13 && numeric_end_ok(t, len, p))
		{
			shape = p;
			if (pii_luhn_ok(digits, nd))
				best = p;
		}
		if (p + 1 < len && (t[p] == ' ' || t[p] == '-') && is_digit(t[p + 1]) &&
			(sep == 0 || sep == t[p]))
		{
			sep = t[p];
			p++;
			continue;
		}
		break;
	}
	if (best == 0)
		*skip = shape;
	return best;
}

/* State of a phone number parse, for phone_ok */
typedef struct PhoneParse
{
	bool		plus;			/* leading '+' */
	int			ndigits;
	int			ngroups;
	int			paren_group;	/* index of the "(ddd)" group, or -1 */
	int			glen[16];		/* digits per group */
	unsigned char sep[16];		/* separator before each group, 0 if none */
} PhoneParse;

/*
 * Are the separators between the first ngroups groups consistent?  All
 * separators between two plain groups must be the same character, except the
 * one after a '+' country code; those next to the "(area)" group are free.
 */
static bool
phone_seps_ok(const PhoneParse *pp, int ngroups)
{
	unsigned char common = 0;
	int			k;

	for (k = 1; k < ngroups; k++)
	{
		if (k - 1 == pp->paren_group || k == pp->paren_group)
			continue;
		if (k == 1 && pp->plus)
			continue;
		if (common == 0)
			common = pp->sep[k];
		else if (pp->sep[k] != common)
			return false;
	}
	return true;
}

/*
 * Is the phone number parsed so far acceptable as a whole?  10-15 digits; a
 * bare run of digits only with exactly 10; with several groups every group
 * but the last has at most 5 digits and the separators are consistent; with
 * '.' separators at most four groups and not shaped like a dotted quad; not
 * starting like a date (dddd-dd-dd).
 */
static bool
phone_ok(const PhoneParse *pp)
{
	int			k;
	bool		dots = false;

	if (pp->ndigits < 10 || pp->ndigits > 15)
		return false;
	if (!pp->plus && pp->ngroups == 1 && pp->paren_group < 0 && pp->ndigits != 10)
		return false;
	for (k = 0; k < pp->ngroups - 1; k++)
		if (pp->glen[k] > 5)
			return false;
	if (!phone_seps_ok(pp, pp->ngroups))
		return false;
	for (k = 1; k < pp->ngroups; k++)
		if (pp->sep[k] == '.')
			dots = true;
	if (dots)
	{
		bool		short_groups = true;

		if (pp->ngroups > 4)
			return false;
		for (k = 0; k < pp->ngroups; k++)
			if (pp->glen[k] > 3)
				short_groups = false;
		if (pp->ngroups == 4 && short_groups && !pp->plus)
			return false;
	}
	if (pp->ngroups >= 3 && pp->glen[0] == 4 && pp->glen[1] == 2 &&
		pp->glen[2] == 2 && pp->sep[1] != ' ' && pp->sep[1] == pp->sep[2])
		return false;
	return true;
}

/*
 * Phone number at i: optional '+', then groups of digits separated by single
 * spaces, dashes or dots, with at most one "(area)" group as first or second
 * group (the separator after it is optional); 10-15 digits; every group after
 * the first has at least two digits.  The longest acceptable prefix ending at
 * a group boundary wins, but a number that goes on past 15 digits with the
 * same separators is not a phone at all.
 */
static size_t
scan_phone(const unsigned char *t, size_t len, size_t i)
{
	PhoneParse	pp;
	size_t		p = i;
	size_t		best = 0;

	memset(&pp, 0, sizeof(pp));
	pp.paren_group = -1;
	if (t[p] == '+')
	{
		pp.plus = true;
		p++;
	}
	for (;;)
	{
		int			gd = 0;
		bool		paren = false;

		if (p < len && t[p] == '(')
		{
			if (pp.paren_group >= 0 || pp.ngroups > 1)
				break;
			p++;
			while (p < len && is_digit(t[p]) && gd < 5)
			{
				gd++;
				p++;
			}
			if (gd == 0 || gd > 4 || p >= len || t[p] != ')')
				break;
			p++;
			paren = true;
			pp.paren_group = pp.ngroups;
		}
		else
		{
			while (p < len && is_digit(t[p]) && gd < 16)
			{
				gd++;
				p++;
			}
			if (gd == 0)
				break;
		}
		if (pp.ndigits + gd > 15)
		{
			/* too many digits: a longer number, unless the format changed */
			if (phone_seps_ok(&pp, pp.ngroups + 1))
				return 0;
			break;
		}
		if (pp.ngroups > 0 && gd < 2)
			break;
		pp.ndigits += gd;
		pp.glen[pp.ngroups++] = gd;
		if (phone_ok(&pp) && numeric_end_ok(t, len, p))
			best = p;
		if (p >= len || pp.ngroups >= 15)
			break;
		if ((t[p] == ' ' || t[p] == '-' || t[p] == '.') && p + 1 < len &&
			(is_digit(t[p + 1]) || (t[p + 1] == '(' && t[p] == ' ')))
		{
			pp.sep[pp.ngroups] = t[p];
			p++;
			continue;
		}
		if ((paren && is_digit(t[p])) || (!paren && t[p] == '(' && pp.ngroups == 1))
		{
			pp.sep[pp.ngroups] = 0;
			continue;
		}
		break;
	}
	return best;
}

/* Pseudo-type of a recognised value that is never reported (a skip) */
#define PII_NONE	PII_NUM_TYPES

/*
 * Cheap necessary conditions for the detectors ("gates"), so that detect_at
 * runs a detector only where it can possibly succeed.  Each gate is implied
 * by its detector's own checks (a detector whose gate fails would return 0
 * and leave *skip alone), so gating never changes a result.
 */

/*
 * Can an API key start at i (c = t[i] is a letter)?  An AWS key id starts
 * with "AKIA" or "ASIA" and has 20 bytes; every known prefix is lower case
 * and has its '_' or '-' at offset 2 ("sk_", "sk-", "pk_", "rk_", "ag_"),
 * 3 ("exe_", "ghp_", ...) or 4 ("xoxb-", ...).
 */
static inline bool
api_key_gate(const unsigned char *t, size_t len, size_t i)
{
	unsigned char c = t[i];

	if (c == 'A')
		return len - i >= 20 && (t[i + 1] == 'K' || t[i + 1] == 'S') &&
			t[i + 2] == 'I' && t[i + 3] == 'A';
	if (!(pii_cls[c] & PC_LOWER))
		return false;
	return (i + 2 < len && (t[i + 2] == '_' || t[i + 2] == '-')) ||
		(i + 3 < len && t[i + 3] == '_') ||
		(i + 4 < len && t[i + 4] == '-');
}

/*
 * Can an IPv6 address start at i (c = t[i] is a hex digit or ':')?  It
 * starts with "::" or with 1-4 hex digits and a ':'.
 */
static inline bool
ipv6_gate(const unsigned char *t, size_t len, size_t i)
{
	size_t		k;

	if (t[i] == ':')
		return i + 1 < len && t[i + 1] == ':';
	for (k = i + 1; k < len && k < i + 5 && (pii_cls[t[k]] & PC_HEX); k++)
		;
	return k < len && k - i <= 4 && t[k] == ':';
}

/* Can an IPv4 address start at i (a digit)?  1-3 digits, then '.'. */
static inline bool
ipv4_gate(const unsigned char *t, size_t len, size_t i)
{
	size_t		k;

	for (k = i + 1; k < len && k < i + 3 && (pii_cls[t[k]] & PC_DIGIT); k++)
		;
	return k < len && t[k] == '.';
}

/*
 * Can an SSN, a card number, a card-shaped number or a phone number start
 * at i (a digit, '+' or '(')?  Each has at least 9 digits, and up to its 9th
 * digit uses only digits and the separators " -.()+", never more than two
 * of them in a row ("+(", " (", ") ").  Reads at most about 30 bytes.
 */
static bool
numeric_gate(const unsigned char *t, size_t len, size_t i)
{
	int			nd = 0;
	int			run = 0;
	size_t		p;

	for (p = i; p < len; p++)
	{
		unsigned char c = t[p];

		if (pii_cls[c] & PC_DIGIT)
		{
			if (++nd >= 9)
				return true;
			run = 0;
		}
		else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' ||
				 c == '+')
		{
			if (++run > 2)
				return false;
		}
		else
			return false;
	}
	return false;
}

/*
 * Try every detector at i, in priority order; on success store the type and
 * return the end of the value.  A card- or IBAN-shaped token that fails its
 * checksum is returned with type PII_NONE, so that its pieces are not taken
 * for other values.  Returns 0 if nothing starts at i.  The caller has
 * checked that i is not preceded by an ASCII letter or digit, and passes in
 * at the position of the first '@' at or after i (len if there is none).
 */
static size_t
detect_at(const unsigned char *t, size_t len, size_t i, EmailMemo *memo,
		  size_t at, int *type)
{
	unsigned char c = t[i];
	unsigned char k = pii_cls[c];
	size_t		skip = 0;
	size_t		e;

	if (c == '-')
	{
		if (i + 1 < len && t[i + 1] == '-' && (e = scan_pem(t, len, i)) != 0)
		{
			*type = PII_API_KEY;
			return e;
		}
	}
	else if ((k & (PC_UPPER | PC_LOWER)) && api_key_gate(t, len, i) &&
			 (e = scan_api_key(t, len, i)) != 0)
	{
		*type = PII_API_KEY;
		return e;
	}
	/* the local part runs up to the first '@' and has at most 64 bytes */
	if ((k & PC_LOCAL) && c != '.' && at < len && at - i <= 64 &&
		(e = scan_email(t, len, i, memo)) != 0)
	{
		*type = PII_EMAIL;
		return e;
	}
	if ((k & PC_UPPER) && len - i >= 15 && is_upper(t[i + 1]) &&
		is_digit(t[i + 2]) && is_digit(t[i + 3]) &&
		(e = scan_iban(t, len, i, &skip)) != 0)
	{
		*type = PII_IBAN;
		return e;
	}
	if (((k & PC_HEX) || c == ':') && ipv6_gate(t, len, i) &&
		(e = scan_ipv6(t, len, i)) != 0)
	{
		*type = PII_IP_ADDRESS;
		return e;
	}
	if ((k & PC_DIGIT) && ipv4_gate(t, len, i) &&
		(e = scan_ipv4(t, len, i)) != 0)
	{
		*type = PII_IP_ADDRESS;
		return e;
	}
	if (((k & PC_DIGIT) || c == '+' || c == '(') && numeric_start_ok(t, i) &&
		numeric_gate(t, len, i))
	{
		if ((k & PC_DIGIT) && (e = scan_ssn(t, len, i)) != 0)
		{
			*type = PII_SSN;
			return e;
		}
		if ((k & PC_DIGIT) && (e = scan_card(t, len, i, &skip)) != 0)
		{
			*type = PII_CREDIT_CARD;
			return e;
		}
		if (skip == 0 && (e = scan_phone(t, len, i)) != 0)
		{
			*type = PII_PHONE;
			return e;
		}
	}
	if (skip > i)
	{
		*type = PII_NONE;
		return skip;
	}
	return 0;
}

/*
 * First position >= p holding an anchor byte (PC_ANCHOR: a digit, an
 * upper-case letter, '@', ':', '_', '%', '(', '+' or '-'), or len.
 */
static size_t
pii_next_anchor(const unsigned char *t, size_t len, size_t p)
{
#ifdef SCAN_SSE2
	const __m128i add1 = _mm_set1_epi8(0x50);	/* '0'..':' -> -128..-118 */
	const __m128i lim1 = _mm_set1_epi8(-128 + 11);
	const __m128i add2 = _mm_set1_epi8(0x40);	/* '@'..'Z' -> -128..-102 */
	const __m128i lim2 = _mm_set1_epi8(-128 + 27);
	const __m128i us = _mm_set1_epi8('_');
	const __m128i pc = _mm_set1_epi8('%');
	const __m128i lp = _mm_set1_epi8('(');
	const __m128i pl = _mm_set1_epi8('+');
	const __m128i mi = _mm_set1_epi8('-');

	while (len - p >= 16)
	{
		__m128i		x = _mm_loadu_si128((const __m128i *) (t + p));
		__m128i		m;
		unsigned	bits;

		m = _mm_or_si128(_mm_cmplt_epi8(_mm_add_epi8(x, add1), lim1),
						 _mm_cmplt_epi8(_mm_add_epi8(x, add2), lim2));
		m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(x, us),
										 _mm_cmpeq_epi8(x, pc)));
		m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(x, lp),
										 _mm_or_si128(_mm_cmpeq_epi8(x, pl),
													  _mm_cmpeq_epi8(x, mi))));
		bits = (unsigned) _mm_movemask_epi8(m);
		if (bits != 0)
			return p + (size_t) lowest_bit(bits);
		p += 16;
	}
#endif
	while (p < len && !(pii_cls[t[p]] & PC_ANCHOR))
		p++;
	return p;
}

/* First '@' at or after p (len if none), cached in *at for later calls */
static inline size_t
next_at_sign(const unsigned char *t, size_t len, size_t p, size_t *at)
{
	if (*at == (size_t) -1 || *at < p)
	{
		const unsigned char *q = memchr(t + p, '@', len - p);

		*at = q ? (size_t) (q - t) : len;
	}
	return *at;
}

/*
 * Report every PII value of a type in types, in increasing start order and
 * non-overlapping.  See the file header for the strategy.
 */
void
pii_scan(const char *text, size_t len, unsigned types, pii_hit_fn fn, void *arg)
{
	const unsigned char *t = (const unsigned char *) text;
	EmailMemo	memo;
	size_t		pos = 0;
	size_t		at = (size_t) -1;

	if (text == NULL || fn == NULL || (types & PII_ALL) == 0)
		return;
	memset(&memo, 0, sizeof(memo));
	while (pos < len)
	{
		size_t		j = pii_next_anchor(t, len, pos);
		size_t		s;
		size_t		e = 0;
		int			type = PII_NONE;

		if (j >= len)
			break;

		/*
		 * Word starts in the run of [a-z.] just before j: a value starting
		 * with a lower-case letter reaches, through such bytes, the anchor
		 * that decides it ('@' or another local-part byte of an e-mail, the
		 * '_' or '-' of a key prefix, a hex digit or ':' of an IPv6 group),
		 * at most 64 bytes on.
		 */
		if (j > pos && (pii_cls[t[j - 1]] & PC_LOWDOT))
		{
			unsigned char cj = t[j];
			bool		need = (cj == '_' || cj == '-');
			size_t		k;

			if (!need)
			{
				size_t		a = next_at_sign(t, len, j, &at);

				need = (a < len && a - j < 64);
			}
			for (k = j; !need && k < len && k < j + 4; k++)
				need = (t[k] == ':');
			if (need)
			{
				size_t		lim = (j - pos < 64) ? pos : j - 64;

				s = j - 1;
				while (s > lim && (pii_cls[t[s - 1]] & PC_LOWDOT))
					s--;
				for (; s < j; s++)
				{
					if (!(pii_cls[t[s]] & PC_LOWER) || (s > 0 && is_alnum(t[s - 1])))
						continue;
					e = detect_at(t, len, s, &memo, next_at_sign(t, len, j, &at),
								  &type);
					if (e > s)
						goto found;
				}
			}
		}

		/* the anchor itself, if a value may start there */
		s = j;
		if ((pii_cls[t[j]] & PC_TRIG) && (j == 0 || !is_alnum(t[j - 1])))
		{
			e = detect_at(t, len, j, &memo, next_at_sign(t, len, j, &at), &type);
			if (e > j)
				goto found;
		}
		/* nothing starts inside a word */
		pos = j + 1;
		if (is_alnum(t[j]))
			while (pos < len && is_alnum(t[pos]))
				pos++;
		continue;

found:
		if (type != PII_NONE && (types & PII_BIT(type)))
		{
			PiiHit		hit;

			hit.type = (PiiType) type;
			hit.start = s;
			hit.len = e - s;
			fn(&hit, arg);
		}
		pos = e;
	}
}
