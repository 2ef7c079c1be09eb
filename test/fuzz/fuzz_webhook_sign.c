/*
 * fuzz_webhook_sign.c
 *		libFuzzer harness for the webhook signatures of src/standalone/webhook_sign.c.
 *
 *	clang-14 -g -O1 -Wall -Wextra -fsanitize=fuzzer,address,undefined \
 *		-fno-sanitize-recover=all -DFRONTEND -Isrc/standalone \
 *		-isystem /usr/include/postgresql/15/server \
 *		test/fuzz/fuzz_webhook_sign.c src/standalone/webhook_sign.c \
 *		/usr/lib/postgresql/15/lib/libpgcommon.a \
 *		/usr/lib/postgresql/15/lib/libpgport.a -lcrypto -o /tmp/fuzz_webhook_sign
 *
 * The directories are pg_config --includedir-server and (on Debian, where
 * postgresql-server-dev-15 puts the frontend static libraries there)
 * --pkglibdir of PostgreSQL 15.  -isystem keeps clang quiet about the
 * gnu_printf attributes of a server configured for gcc.  The frontend
 * libpgcommon computes HMACs with OpenSSL, hence -lcrypto (libssl-dev).
 *
 * Input: byte 0 is a selector, bytes 1-5 parameters, then the bytes of the
 * secret, the message id and the timestamp, and the rest is the body.
 *	- selector bits 0-1 say how the secret is made:
 *	  0: "whsec_" + base64 of a key of (byte 1) % 101 input bytes, so keys of
 *		 0 to 100 bytes, around the 96 the signer takes;
 *	  1: "whsec_" + (byte 1) % 140 input bytes, anything;
 *	  2: (byte 1) % 140 input bytes, with or without the prefix;
 *	  3: as 0, then (for a key of at least a byte) the character at offset
 *		 (byte 4) of the base64 replaced by byte 5, or removed if byte 5 is 0;
 *	- the message id is (byte 2) % 33 input bytes, the timestamp (byte 3) %
 *	  21 bytes (strings: an input NUL ends them early);
 *	- bit 2: the output buffer is only (byte 4) % 48 bytes, one short of a
 *	  signature or less;
 *	- bit 3: the body is repeated 1 + (byte 4) times, up to about 1 MB.
 * Every string is copied to a heap block of exactly its size (the body
 * without a terminating NUL), so ASan sees any read past it; the output
 * buffer is exactly the size passed and pre-filled with 0xA5.
 *
 * Checked, aborting on the first violation (so libFuzzer reports a crash):
 *	- webhook_sign returns 0 or -1 with a large enough buffer, never -2;
 *	- it returns -1 exactly when the reference refuses the secret: not
 *	  "whsec_" followed by base64 that a reference decoder accepts, decoding
 *	  to 1 to 96 bytes, with at most 129 characters (pg_b64_dec_len() of the
 *	  length at most 96, the signer's pre-check).  The reference decoder
 *	  states pg_b64_decode()'s acceptance rule (read from PostgreSQL's
 *	  src/common/base64.c) on the whole string: a multiple of 4 characters,
 *	  each from A-Z a-z 0-9 + / or "="; the first "=", if any, third or
 *	  fourth in its group of 4; every group from the one with the first "="
 *	  on yields 1 byte (first "=" third) or 2 (fourth), "=" counting as 0,
 *	  the groups before it 3.  That is laxer than RFC 4648 (characters after
 *	  the padding still decode, unused bits need not be 0), as
 *	  pg_b64_decode() is;
 *	- when it returns 0: *error is NULL and out is "v1," and 44 base64
 *	  characters, the last one "=", with a NUL after them, equal to "v1," +
 *	  base64 (RFC 4648) of HMAC-SHA256 (RFC 2104, FIPS 180-4) over message id
 *	  "." timestamp "." body under the decoded key, all computed by the
 *	  reference implementations below (no OpenSSL);
 *	- with a buffer too small: -1 for a refused secret, else -2 with an
 *	  error message; out is not written either way.
 * LLVMFuzzerInitialize checks the references against the FIPS 180-2,
 * RFC 4231 (cases 1, 2, 6, 7, keys longer than a block included) and RFC
 * 4648 test vectors, webhook_sign against the Standard Webhooks example
 * signature and a few secrets of the regression tests, and the reference
 * decoder against webhook_sign on every 4-character string over a small
 * alphabet and every 8-character one over another; a failure there aborts
 * before fuzzing starts.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webhook_sign.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX "whsec_"
#define PREFIX_LEN 6
#define MAX_KEY 96				/* the signer's key buffer */
#define MAX_BODY (1024 * 1024 + 4096)

/* fail(fmt, ...): report a broken invariant and abort (fuzz_fail.h) */
#define FUZZ_FAIL_PREFIX "fuzz_webhook_sign: invariant violated: "
#include "fuzz_fail.h"

/* ---------------------------------------------------- reference SHA-256 */

/* FIPS 180-4, section 4.2.2 */
static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

typedef struct Sha256
{
	uint32_t	h[8];
	uint8_t		block[64];
	size_t		used;			/* bytes in block */
	uint64_t	total;			/* bytes hashed so far */
} Sha256;

static uint32_t
rotr(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

static void
sha256_block(Sha256 *c, const uint8_t *p)
{
	uint32_t	w[64];
	uint32_t	a, b, cc, d, e, f, g, h;
	int			t;

	for (t = 0; t < 16; t++)
		w[t] = (uint32_t) p[4 * t] << 24 | (uint32_t) p[4 * t + 1] << 16 |
			(uint32_t) p[4 * t + 2] << 8 | (uint32_t) p[4 * t + 3];
	for (t = 16; t < 64; t++)
	{
		uint32_t	s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t	s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);

		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}
	a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
	e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
	for (t = 0; t < 64; t++)
	{
		uint32_t	t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) +
			((e & f) ^ (~e & g)) + sha256_k[t] + w[t];
		uint32_t	t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) +
			((a & b) ^ (a & cc) ^ (b & cc));

		h = g, g = f, f = e, e = d + t1;
		d = cc, cc = b, b = a, a = t1 + t2;
	}
	c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d;
	c->h[4] += e, c->h[5] += f, c->h[6] += g, c->h[7] += h;
}

static void
sha256_init(Sha256 *c)
{
	static const uint32_t h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
	};

	memcpy(c->h, h0, sizeof(h0));
	c->used = 0;
	c->total = 0;
}

static void
sha256_update(Sha256 *c, const uint8_t *p, size_t n)
{
	c->total += n;
	while (n > 0)
	{
		size_t		take = 64 - c->used < n ? 64 - c->used : n;

		memcpy(c->block + c->used, p, take);
		c->used += take;
		p += take;
		n -= take;
		if (c->used == 64)
		{
			sha256_block(c, c->block);
			c->used = 0;
		}
	}
}

static void
sha256_final(Sha256 *c, uint8_t out[32])
{
	uint64_t	bits = c->total * 8;
	uint8_t		pad = 0x80;
	uint8_t		len[8];
	int			i;

	sha256_update(c, &pad, 1);
	pad = 0;
	while (c->used != 56)
		sha256_update(c, &pad, 1);
	for (i = 0; i < 8; i++)
		len[i] = (uint8_t) (bits >> (56 - 8 * i));
	sha256_update(c, len, 8);
	for (i = 0; i < 32; i++)
		out[i] = (uint8_t) (c->h[i / 4] >> (24 - 8 * (i % 4)));
}

static void
sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
	Sha256		c;

	sha256_init(&c);
	sha256_update(&c, p, n);
	sha256_final(&c, out);
}

/* RFC 2104 with SHA-256 (block size 64) */
static void
hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t n, uint8_t out[32])
{
	uint8_t		k[64];
	uint8_t		pad[64];
	uint8_t		inner[32];
	Sha256		c;
	int			i;

	memset(k, 0, sizeof(k));
	if (keylen > 64)
		sha256(key, keylen, k);
	else
		memcpy(k, key, keylen);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&c);
	sha256_update(&c, pad, 64);
	sha256_update(&c, msg, n);
	sha256_final(&c, inner);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&c);
	sha256_update(&c, pad, 64);
	sha256_update(&c, inner, 32);
	sha256_final(&c, out);
}

/* ----------------------------------------------------- reference base64 */

static const char b64_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* RFC 4648 section 4, with padding; out must have 4 * ((n + 2) / 3) + 1 */
static void
b64_encode(const uint8_t *p, size_t n, char *out)
{
	size_t		i;
	char	   *o = out;

	for (i = 0; i < n; i += 3)
	{
		uint32_t	v = (uint32_t) p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t) p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = b64_alphabet[v >> 18];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64_alphabet[v & 63] : '=';
	}
	*o = '\0';
}

/* Value of a base64 character, -1 if it is not one ("=" is not) */
static int
b64_value(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64_alphabet, c);
	return p ? (int) (p - b64_alphabet) : -1;
}

/*
 * pg_b64_decode()'s acceptance rule, stated on the whole string (see the
 * header comment).  Returns the decoded length, or -1 if s is refused or
 * decodes to more than outsize bytes.
 */
static int
ref_b64_decode(const char *s, size_t n, uint8_t *out, size_t outsize)
{
	const char *eq = memchr(s, '=', n);
	size_t		first_pad = eq ? (size_t) (eq - s) : n;
	size_t		tail_bytes;
	size_t		total;
	size_t		g;
	size_t		i;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i++)
		if (s[i] != '=' && b64_value(s[i]) < 0)
			return -1;
	if (first_pad < n && first_pad % 4 < 2)
		return -1;
	tail_bytes = first_pad == n ? 3 : first_pad % 4 == 2 ? 1 : 2;
	total = 3 * (first_pad / 4) + tail_bytes * (n / 4 - first_pad / 4);
	if (total > outsize)
		return -1;
	total = 0;
	for (g = 0; g < n / 4; g++)
	{
		uint32_t	v = 0;
		size_t		k = g < first_pad / 4 ? 3 : tail_bytes;

		for (i = 0; i < 4; i++)
			v = v << 6 | (uint32_t) (s[4 * g + i] == '=' ? 0 : b64_value(s[4 * g + i]));
		for (i = 0; i < k; i++)
			out[total++] = (uint8_t) (v >> (16 - 8 * i));
	}
	return (int) total;
}

/*
 * The key the signer must use for secret, or -1 if it must refuse it.
 */
static int
ref_key(const char *secret, uint8_t key[MAX_KEY])
{
	size_t		n;
	int			keylen;

	if (strncmp(secret, PREFIX, PREFIX_LEN) != 0)
		return -1;
	n = strlen(secret + PREFIX_LEN);
	if (n * 3 / 4 > MAX_KEY)
		return -1;
	keylen = ref_b64_decode(secret + PREFIX_LEN, n, key, MAX_KEY);
	return keylen > 0 ? keylen : -1;
}

/* The signature the signer must give, into sig (WEBHOOK_SIGNATURE_LEN + 1) */
static void
ref_signature(const uint8_t *key, int keylen, const char *msgid, const char *ts,
			  const char *body, size_t bodylen, char *sig)
{
	size_t		ni = strlen(msgid);
	size_t		nt = strlen(ts);
	size_t		n = ni + 1 + nt + 1 + bodylen;
	uint8_t    *msg = malloc(n);
	uint8_t		mac[32];

	if (msg == NULL)
		abort();
	memcpy(msg, msgid, ni);
	msg[ni] = '.';
	memcpy(msg + ni + 1, ts, nt);
	msg[ni + 1 + nt] = '.';
	memcpy(msg + ni + 1 + nt + 1, body, bodylen);
	hmac_sha256(key, (size_t) keylen, msg, n, mac);
	free(msg);
	memcpy(sig, "v1,", 3);
	b64_encode(mac, 32, sig + 3);
}

/* ------------------------------------------------------------ the check */

static char *
heap_string(const char *s, size_t n)
{
	char	   *p = malloc(n + 1);

	if (p == NULL)
		abort();
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/*
 * Sign with an output buffer of outlen bytes and check the result against
 * the references.  All arguments are copied to exactly sized heap blocks.
 */
static int
check_sign(const char *secret_in, const char *msgid_in, const char *ts_in,
		   const char *body_in, size_t bodylen, size_t outlen)
{
	char	   *secret = heap_string(secret_in, strlen(secret_in));
	char	   *msgid = heap_string(msgid_in, strlen(msgid_in));
	char	   *ts = heap_string(ts_in, strlen(ts_in));
	char	   *body = malloc(bodylen > 0 ? bodylen : 1);
	char	   *out = malloc(outlen > 0 ? outlen : 1);
	const char *error = "not set";
	uint8_t		key[MAX_KEY];
	int			keylen = ref_key(secret, key);
	char		want[WEBHOOK_SIGNATURE_LEN + 1];
	size_t		i;
	int			rc;

	if (body == NULL || out == NULL)
		abort();
	memcpy(body, body_in, bodylen);
	memset(out, 0xA5, outlen);
	rc = webhook_sign(secret, msgid, ts, body, bodylen, out, outlen, &error);

	if (outlen >= WEBHOOK_SIGNATURE_LEN + 1)
	{
		if (rc != 0 && rc != -1)
			fail("secret \"%s\": returned %d (%s)", secret, rc, error ? error : "no error");
		if ((rc == -1) != (keylen < 0))
			fail("secret \"%s\": returned %d, reference %s it", secret, rc,
				 keylen < 0 ? "refuses" : "accepts");
	}
	else
	{
		if (rc != (keylen < 0 ? -1 : -2) || (rc == -2 && (error == NULL || error[0] == '\0')))
			fail("secret \"%s\", %zu-byte buffer: returned %d (%s)", secret, outlen, rc,
				 error ? error : "no error");
	}
	if (rc != 0)
	{
		for (i = 0; i < outlen; i++)
			if ((unsigned char) out[i] != 0xA5)
				fail("secret \"%s\": returned %d but wrote the output", secret, rc);
	}
	else
	{
		if (error != NULL)
			fail("secret \"%s\": succeeded with error \"%s\"", secret, error);
		if (memchr(out, '\0', outlen) == NULL || strlen(out) != WEBHOOK_SIGNATURE_LEN ||
			strncmp(out, "v1,", 3) != 0 || out[WEBHOOK_SIGNATURE_LEN - 1] != '=')
			fail("secret \"%s\": malformed signature \"%.*s\"", secret, (int) outlen, out);
		for (i = 3; i < WEBHOOK_SIGNATURE_LEN - 1; i++)
			if (b64_value(out[i]) < 0)
				fail("secret \"%s\": signature \"%s\" is not base64", secret, out);
		ref_signature(key, keylen, msgid, ts, body, bodylen, want);
		if (strcmp(out, want) != 0)
			fail("secret \"%s\", id \"%s\", timestamp \"%s\", %zu-byte body: signature %s, reference %s",
				 secret, msgid, ts, bodylen, out, want);
	}
	free(out);
	free(body);
	free(ts);
	free(msgid);
	free(secret);
	return rc;
}

/* ------------------------------------------------------- known answers */

static void
hex(const uint8_t *p, size_t n, char *out)
{
	size_t		i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void
expect_sha256(const char *msg, size_t n, const char *want)
{
	uint8_t		d[32];
	char		got[65];

	sha256((const uint8_t *) msg, n, d);
	hex(d, 32, got);
	if (strcmp(got, want) != 0)
		fail("sanity check: reference SHA-256 of %zu bytes \"%.20s\": %s, expected %s",
			 n, msg, got, want);
}

static void
expect_hmac(const uint8_t *key, size_t keylen, const char *msg, const char *want)
{
	uint8_t		d[32];
	char		got[65];

	hmac_sha256(key, keylen, (const uint8_t *) msg, strlen(msg), d);
	hex(d, 32, got);
	if (strcmp(got, want) != 0)
		fail("sanity check: reference HMAC-SHA256 of \"%.20s\": %s, expected %s", msg, got, want);
}

static void
expect_b64(const char *in, const char *want)
{
	char		got[16];
	uint8_t		back[16];
	int			n;

	b64_encode((const uint8_t *) in, strlen(in), got);
	n = ref_b64_decode(want, strlen(want), back, sizeof(back));
	if (strcmp(got, want) != 0 || n != (int) strlen(in) || memcmp(back, in, (size_t) n) != 0)
		fail("sanity check: reference base64 of \"%s\": \"%s\", expected \"%s\"", in, got, want);
}

/* webhook_sign on secret must give rc (0 or -1) and, if 0, signature want */
static void
expect_sign(const char *secret, const char *msgid, const char *ts, const char *body,
			int want_rc, const char *want)
{
	char		out[WEBHOOK_SIGNATURE_LEN + 1];
	const char *error;
	int			rc;

	rc = check_sign(secret, msgid, ts, body, strlen(body), sizeof(out));
	if (rc != want_rc)
		fail("sanity check: secret \"%s\": returned %d, expected %d", secret, rc, want_rc);
	if (want != NULL)
	{
		rc = webhook_sign(secret, msgid, ts, body, strlen(body), out, sizeof(out), &error);
		if (rc != 0 || strcmp(out, want) != 0)
			fail("sanity check: secret \"%s\": signature %s, expected %s", secret, out, want);
	}
}

/* Every string of len characters over alphabet, as secrets */
static void
exhaust(const char *alphabet, int len)
{
	char		secret[PREFIX_LEN + 16];
	int			nalpha = (int) strlen(alphabet);
	long		count = 1;
	long		k;
	int			i;

	for (i = 0; i < len; i++)
		count *= nalpha;
	memcpy(secret, PREFIX, PREFIX_LEN);
	for (k = 0; k < count; k++)
	{
		long		v = k;

		for (i = 0; i < len; i++, v /= nalpha)
			secret[PREFIX_LEN + i] = alphabet[v % nalpha];
		secret[PREFIX_LEN + len] = '\0';
		check_sign(secret, "msg_1", "1", "{}", 2, WEBHOOK_SIGNATURE_LEN + 1);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char million[1000000];
	uint8_t		key[131];
	char		secret[PREFIX_LEN + 200];
	uint8_t		raw[100];

	(void) argc;
	(void) argv;

	/* FIPS 180-2 appendix B */
	expect_sha256("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	expect_sha256("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	expect_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
				  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	memset(million, 'a', sizeof(million));
	expect_sha256(million, sizeof(million),
				  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

	/* RFC 4231 test cases 1, 2, 6 and 7 */
	memset(key, 0x0b, 20);
	expect_hmac(key, 20, "Hi There",
				"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	expect_hmac((const uint8_t *) "Jefe", 4, "what do ya want for nothing?",
				"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memset(key, 0xaa, 131);
	expect_hmac(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
				"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	expect_hmac(key, 131, "This is a test using a larger than block-size key and a larger "
				"than block-size data. The key needs to be hashed before being used by the HMAC "
				"algorithm.",
				"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");

	/* RFC 4648 section 10 */
	expect_b64("", "");
	expect_b64("f", "Zg==");
	expect_b64("fo", "Zm8=");
	expect_b64("foo", "Zm9v");
	expect_b64("foob", "Zm9vYg==");
	expect_b64("fooba", "Zm9vYmE=");
	expect_b64("foobar", "Zm9vYmFy");

	/* the Standard Webhooks example (same secret as sql/webhooks.sql) */
	expect_sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
				"1614265330", "{\"test\": 2432232314}", 0,
				"v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");

	/* secrets */
	expect_sign("whsec_", "msg_1", "1", "", -1, NULL);
	expect_sign("", "msg_1", "1", "", -1, NULL);
	expect_sign("no-prefix", "msg_1", "1", "", -1, NULL);
	expect_sign("whsec", "msg_1", "1", "", -1, NULL);
	expect_sign("WHSEC_QQ==", "msg_1", "1", "", -1, NULL);
	expect_sign("whsec_!!!notbase64!!!", "msg_1", "1", "", -1, NULL);
	expect_sign("whsec_c2hvcnQ=", "msg_1", "1", "", 0, NULL);
	expect_sign("whsec_x", "msg_1", "1", "", -1, NULL);
	expect_sign("whsec_QQ", "msg_1", "1", "", -1, NULL);
	expect_sign("whsec_QQ==", "msg_1", "1", "", 0, NULL);
	expect_sign("whsec_QR==", "msg_1", "1", "", 0, NULL);
	expect_sign("whsec_QUI=", "msg_1", "1", "", 0, NULL);
	expect_sign("whsec_QQ==QUJD", "msg_1", "1", "", 0, NULL);
	expect_sign("whsec_QQ=A", "msg_1", "1", "", 0, NULL);
	expect_sign("whsec_Q===", "msg_1", "1", "", -1, NULL);
	expect_sign("whsec_====", "msg_1", "1", "", -1, NULL);
	expect_sign("whsec_ QQ==", "msg_1", "1", "", -1, NULL);
	expect_sign("whsec_QQ==\n", "msg_1", "1", "", -1, NULL);
	/* 64 bytes of 0xab (sql/webhooks.sql), 96 and 97 bytes */
	memset(raw, 0xab, sizeof(raw));
	memcpy(secret, PREFIX, PREFIX_LEN);
	b64_encode(raw, 64, secret + PREFIX_LEN);
	expect_sign(secret, "msg_1", "1", "", 0, NULL);
	b64_encode(raw, 96, secret + PREFIX_LEN);
	expect_sign(secret, "msg_1", "1", "", 0, NULL);
	b64_encode(raw, 97, secret + PREFIX_LEN);
	expect_sign(secret, "msg_1", "1", "", -1, NULL);
	/* 95 bytes: 128 characters, but the last group yields 2 */
	b64_encode(raw, 95, secret + PREFIX_LEN);
	expect_sign(secret, "msg_1", "1", "", 0, NULL);

	/* the reference decoder against the signer, exhaustively on small sets */
	exhaust("AQ=+/ !", 4);
	exhaust("Ag=", 8);
	return 0;
}

/* ---------------------------------------------------------------- entry */

/* Take up to n bytes from the input; returns how many */
static size_t
take(const uint8_t **p, size_t *left, size_t n, char *dst)
{
	if (n > *left)
		n = *left;
	memcpy(dst, *p, n);
	*p += n;
	*left -= n;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char body[MAX_BODY];
	uint8_t		sel;
	uint8_t		param[5];
	char		keybytes[101];
	char		secret[PREFIX_LEN + 4 * 34 + 140 + 1];
	char		msgid[33 + 1];
	char		ts[21 + 1];
	const uint8_t *p;
	size_t		left;
	size_t		n;
	size_t		bodylen;
	size_t		outlen = WEBHOOK_SIGNATURE_LEN + 1;

	if (size < 6)
		return 0;
	sel = data[0];
	memcpy(param, data + 1, 5);
	p = data + 6;
	left = size - 6;

	switch (sel & 3)
	{
		case 0:
		case 3:
			n = take(&p, &left, param[0] % 101, keybytes);
			memcpy(secret, PREFIX, PREFIX_LEN);
			b64_encode((const uint8_t *) keybytes, n, secret + PREFIX_LEN);
			if ((sel & 3) == 3 && n > 0)
			{
				size_t		b64len = strlen(secret + PREFIX_LEN);
				size_t		at = PREFIX_LEN + param[3] % b64len;

				if (param[4] == 0)
					memmove(secret + at, secret + at + 1, strlen(secret + at));
				else
					secret[at] = (char) param[4];
			}
			break;
		case 1:
			memcpy(secret, PREFIX, PREFIX_LEN);
			n = take(&p, &left, param[0] % 140, secret + PREFIX_LEN);
			secret[PREFIX_LEN + n] = '\0';
			break;
		default:
			n = take(&p, &left, param[0] % 140, secret);
			secret[n] = '\0';
			break;
	}
	n = take(&p, &left, param[1] % 33, msgid);
	msgid[n] = '\0';
	n = take(&p, &left, param[2] % 21, ts);
	ts[n] = '\0';

	if (left > MAX_BODY)
		left = MAX_BODY;
	bodylen = left;
	memcpy(body, p, left);
	if (sel & 8)
	{
		size_t		k;

		for (k = 1; k <= param[3] && bodylen + left <= MAX_BODY; k++)
		{
			memcpy(body + bodylen, p, left);
			bodylen += left;
		}
	}
	if (sel & 4)
		outlen = param[3] % (WEBHOOK_SIGNATURE_LEN + 1);

	check_sign(secret, msgid, ts, body, bodylen, outlen);
	return 0;
}
