/*
 * webhook_sign.h
 *		Standard Webhooks signatures of deliveries.
 *
 * Uses only PostgreSQL's src/common (base64, HMAC), which the server and the
 * frontend library libpgcommon both provide, so it can be tested and fuzzed
 * without a server: build webhook_sign.c with -DFRONTEND and link
 * libpgcommon and libpgport.
 */
#ifndef EXECLAVE_WEBHOOK_SIGN_H
#define EXECLAVE_WEBHOOK_SIGN_H

#include <stddef.h>

/* Length of a signature: "v1," and the base64 of an HMAC-SHA256 (44). */
#define WEBHOOK_SIGNATURE_LEN (3 + 44)

/*
 * Sign a delivery: "v1," + base64(HMAC-SHA256(key, msgid "." ts "." body)),
 * where key is the base64-decoded part after "whsec_" of secret.  body is
 * bodylen bytes (NUL bytes included); secret, msgid and ts are strings.
 *
 * Returns 0 with the signature and a NUL in out (outlen bytes, at least
 * WEBHOOK_SIGNATURE_LEN + 1); -1 when secret is not "whsec_" followed by
 * valid base64 of a non-empty key of at most 96 bytes; -2 when the HMAC
 * cannot be computed or outlen is too small, with *error a static message.
 */
extern int	webhook_sign(const char *secret, const char *msgid, const char *ts,
						 const char *body, size_t bodylen,
						 char *out, size_t outlen, const char **error);

#endif							/* EXECLAVE_WEBHOOK_SIGN_H */
