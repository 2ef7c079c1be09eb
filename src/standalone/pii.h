/*
 * pii.h
 *		The PII scanner over raw UTF-8 text (src/standalone/pii.c).
 *
 * Nothing here depends on PostgreSQL: the scanner takes a pointer and a byte
 * length (the text need not be NUL-terminated and may contain NUL bytes),
 * does one forward pass in linear time and reports hits through a callback,
 * so it can be linked into fuzzing harnesses and unit tests without a server.
 */
#ifndef EXECLAVE_PII_H
#define EXECLAVE_PII_H

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

#endif							/* EXECLAVE_PII_H */
