/*
 * chars.h
 *		ASCII character classes shared by the standalone scanners (pii.c,
 *		injection.c), and whether SSE2 is available.  Header-only.
 */
#ifndef EXECLAVE_CHARS_H
#define EXECLAVE_CHARS_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__SSE2__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <emmintrin.h>
#define SCAN_SSE2 1
#endif

/* ------------------------------------------------------ character classes */

/* ASCII digit? */
static inline bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* ASCII upper-case letter? */
static inline bool
is_upper(unsigned char c)
{
	return c >= 'A' && c <= 'Z';
}

/* ASCII letter? */
static inline bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || is_upper(c);
}

/* ASCII letter or digit (bytes >= 0x80 never are)? */
static inline bool
is_alnum(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

/* ASCII hexadecimal digit? */
static inline bool
is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Character allowed in an e-mail local part: [A-Za-z0-9._%+-] */
static inline bool
is_local(unsigned char c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

/* Character allowed in a domain label: [A-Za-z0-9-] */
static inline bool
is_label(unsigned char c)
{
	return is_alnum(c) || c == '-';
}

/* Character of an API key token: [A-Za-z0-9_-] */
static inline bool
is_token(unsigned char c)
{
	return is_alnum(c) || c == '_' || c == '-';
}

/* ASCII lower-case folding; other bytes unchanged */
static inline unsigned char
fold(unsigned char c)
{
	return is_upper(c) ? (unsigned char) (c + ('a' - 'A')) : c;
}

#ifdef SCAN_SSE2
/* Index of the lowest set bit of m (m != 0); only the SSE2 loops need these */
static inline int
lowest_bit64(uint64_t m)
{
#if defined(__GNUC__) || defined(__clang__)
	return __builtin_ctzll(m);
#else
	int			k = 0;

	while (!(m & 1u))
	{
		m >>= 1;
		k++;
	}
	return k;
#endif
}

static inline int
lowest_bit(unsigned m)
{
	return lowest_bit64(m);
}
#endif

#endif							/* EXECLAVE_CHARS_H */
