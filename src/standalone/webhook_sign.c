/*
 * webhook_sign.c
 *		Standard Webhooks signatures (see webhook_sign.h).
 *
 * The signed content is msgid "." ts "." body, fed to the HMAC in pieces
 * rather than assembled.  The key is the base64 after "whsec_" of the
 * endpoint's secret, decoded by pg_b64_decode(): no whitespace, complete
 * 4-character groups, the first "=" third or fourth in its group (it is
 * laxer after that, see test/fuzz/fuzz_webhook_sign.c).  Secrets are
 * validated on write (whsec_ and 24 to 64 byte keys), so a refusal here,
 * including of a secret without the prefix, means the row was changed
 * behind the trigger's back.
 *
 * Compiled in the server as part of the extension, and with -DFRONTEND
 * against libpgcommon by test/fuzz/fuzz_webhook_sign.c.
 */
#ifndef FRONTEND
#include "postgres.h"
#else
#include "postgres_fe.h"
#endif

#include "common/base64.h"
#include "common/hmac.h"
#include "webhook_sign.h"

#define SECRET_PREFIX "whsec_"

int
webhook_sign(const char *secret, const char *msgid, const char *ts,
			 const char *body, size_t bodylen,
			 char *out, size_t outlen, const char **error)
{
	uint8		key[96];		/* a 64-byte secret decodes through 66 bytes */
	int			keylen;
	size_t		b64len;
	const char *b64;
	uint8		mac[32];
	int			siglen;
	pg_hmac_ctx *ctx;

	*error = NULL;
	if (strncmp(secret, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0)
		return -1;
	b64 = secret + strlen(SECRET_PREFIX);
	b64len = strlen(b64);
	keylen = b64len <= PG_INT32_MAX / 3 && pg_b64_dec_len((int) b64len) <= (int) sizeof(key)
		? pg_b64_decode(b64, (int) b64len, (char *) key, sizeof(key)) : -1;
	if (keylen <= 0)
		return -1;

	if (outlen < WEBHOOK_SIGNATURE_LEN + 1)
	{
		*error = "signature buffer too small";
		return -2;
	}
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL || pg_hmac_init(ctx, key, keylen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) msgid, strlen(msgid)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) ".", 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) ts, strlen(ts)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) ".", 1) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) body, bodylen) < 0 ||
		pg_hmac_final(ctx, mac, sizeof(mac)) < 0)
	{
		/* pg_hmac_error() gives a static message, still valid after free */
		*error = ctx ? pg_hmac_error(ctx) : "out of memory";
		pg_hmac_free(ctx);
		return -2;
	}
	pg_hmac_free(ctx);

	memcpy(out, "v1,", 3);
	siglen = pg_b64_encode((const char *) mac, sizeof(mac), out + 3, WEBHOOK_SIGNATURE_LEN - 3);
	if (siglen != WEBHOOK_SIGNATURE_LEN - 3)
	{
		*error = "could not encode the signature";
		return -2;
	}
	out[3 + siglen] = '\0';
	return 0;
}
